"""Header modules shared by the classic and enhanced MR writers (PS3.3 A.4, A.36.2).

Everything derives from a :class:`SeriesInfo` so that the same inputs give the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian

from models.synthetic.common import SyntheticPatient

__all__ = ["PIXEL_SCALE", "SeriesInfo", "base_dataset", "file_meta", "to_pixels"]

#: Stored value per unit of volume intensity (blood ≈ 1 → ≈ 1000), 12 bits stored.
PIXEL_SCALE = 1000.0
_MAX_STORED = 4095


@dataclass(frozen=True)
class SeriesInfo:
    """Identity and acquisition facts of one synthetic MR series."""

    patient: SyntheticPatient
    series_instance_uid: str
    frame_of_reference_uid: str
    series_number: int
    series_description: str
    body_part: str = "HEART"
    protocol_name: str = "3D WHOLE HEART bSSFP"
    repetition_time: float = 3.8
    echo_time: float = 1.9
    flip_angle: float = 90.0
    field_strength: float = 1.5


def to_pixels(arr: np.ndarray) -> np.ndarray:
    """Volume intensities → uint16 stored values (``PIXEL_SCALE`` per unit, clipped to 12 bits)."""
    return np.clip(np.rint(arr * PIXEL_SCALE), 0, _MAX_STORED).astype(np.uint16)


def file_meta(sop_class_uid: str, sop_instance_uid: str) -> FileMetaDataset:
    """File Meta Information (PS3.10 7.1), explicit VR little endian."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class_uid
    meta.MediaStorageSOPInstanceUID = sop_instance_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = "CQA_SYNTH_MR"
    return meta


def base_dataset(info: SeriesInfo, sop_class_uid: str, sop_instance_uid: str) -> Dataset:
    """Patient, General Study, General Series, Frame of Reference, General Equipment, SOP Common."""
    p = info.patient
    ds = Dataset()
    ds.file_meta = file_meta(sop_class_uid, sop_instance_uid)
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = sop_class_uid
    ds.SOPInstanceUID = sop_instance_uid
    p.apply(ds)  # Patient + General Study
    ds.SeriesDate = p.study_date
    ds.ContentDate = p.study_date
    ds.SeriesTime = p.study_time
    ds.ContentTime = p.study_time
    ds.Modality = "MR"
    ds.Manufacturer = "Cardiac QA Node"
    ds.StudyDescription = "SYNTHETIC CARDIAC MR"
    ds.SeriesDescription = info.series_description
    ds.ManufacturerModelName = "synthetic-mr"
    ds.BodyPartExamined = info.body_part
    ds.DeviceSerialNumber = "0001"
    ds.SoftwareVersions = "cardiac-qa synth mr"
    ds.ProtocolName = info.protocol_name
    ds.PatientPosition = "HFS"
    ds.SeriesInstanceUID = info.series_instance_uid
    ds.SeriesNumber = info.series_number
    ds.FrameOfReferenceUID = info.frame_of_reference_uid
    ds.PositionReferenceIndicator = ""
    return ds
