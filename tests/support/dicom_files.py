"""A small DICOM fixture writer for tests: US multi-frame, classic MR slices, Enhanced MR.

Deterministic for a given ``seed``. The objects are minimal but well-formed Part-10 files
(PS3.10 7.1) with the identifying attributes the node records; they are not meant to pass
``dciodvfy`` (the synthetic-data generators in ``models/synthetic`` are). Patient attributes are
the sentinels :data:`PHI_NAME` / :data:`PHI_ID`, so a test can assert they never reach a log.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filewriter import write_file_meta_info
from pydicom.sequence import Sequence
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    ExplicitVRLittleEndian,
    generate_uid,
)

__all__ = [
    "PHI_NAME",
    "PHI_ID",
    "US_MULTIFRAME",
    "MR_IMAGE",
    "ENHANCED_MR",
    "new_uid",
    "us_multiframe",
    "mr_slices",
    "enhanced_mr",
    "write",
    "write_raw_part10",
    "element_header",
    "dataset_bytes",
]

PHI_NAME = "SENTINEL^PHI^XYZZY"
PHI_ID = "PHI-SENTINEL-0001"
US_MULTIFRAME = UID("1.2.840.10008.5.1.4.1.1.3.1")
MR_IMAGE = UID("1.2.840.10008.5.1.4.1.1.4")
ENHANCED_MR = UID("1.2.840.10008.5.1.4.1.1.4.1")


def new_uid() -> UID:
    """A fresh 2.25-style UID."""
    return generate_uid(prefix=None)


def _base(sop_class: UID, modality: str, study_uid: str | None, series_uid: str | None) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.SOPInstanceUID = new_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.SOPClassUID = sop_class
    ds.StudyInstanceUID = study_uid or new_uid()
    ds.SeriesInstanceUID = series_uid or new_uid()
    ds.PatientName = PHI_NAME
    ds.PatientID = PHI_ID
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.StudyDate = "20260101"
    ds.StudyTime = "120000"
    ds.AccessionNumber = "ACC-SENTINEL"
    ds.StudyID = "1"
    ds.ReferringPhysicianName = ""
    ds.Modality = modality
    ds.Manufacturer = "CQA Test"
    ds.ManufacturerModelName = "Fixture"
    ds.StationName = "TESTSTATION"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    return ds


def _pixels(ds: Dataset, array: np.ndarray, photometric: str) -> None:
    ds.SamplesPerPixel = 3 if photometric == "RGB" else 1
    ds.PhotometricInterpretation = photometric
    if photometric == "RGB":
        ds.PlanarConfiguration = 0
    ds.BitsAllocated = array.dtype.itemsize * 8
    ds.BitsStored = ds.BitsAllocated
    ds.HighBit = ds.BitsAllocated - 1
    ds.PixelRepresentation = 0
    ds.PixelData = np.ascontiguousarray(array).tobytes()


def us_multiframe(
    frames: int = 8,
    rows: int = 48,
    columns: int = 64,
    *,
    rgb: bool = False,
    seed: int = 0,
    study_uid: str | None = None,
    series_uid: str | None = None,
) -> Dataset:
    """Ultrasound Multi-frame Image (PS3.3 A.7), 8-bit MONOCHROME2 or RGB, uncompressed."""
    rng = np.random.default_rng(seed)
    ds = _base(US_MULTIFRAME, "US", study_uid, series_uid)
    ds.SeriesDescription = "A4C fixture"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "CARDIAC"]
    ds.NumberOfFrames = frames
    ds.FrameTime = 20.0
    ds.FrameIncrementPointer = 0x00181063
    ds.Rows, ds.Columns = rows, columns
    shape = (frames, rows, columns, 3) if rgb else (frames, rows, columns)
    _pixels(ds, rng.integers(0, 256, size=shape, dtype=np.uint8), "RGB" if rgb else "MONOCHROME2")
    return ds


def mr_slices(
    n: int = 10,
    rows: int = 16,
    columns: int = 16,
    *,
    spacing: float = 2.0,
    seed: int = 0,
    study_uid: str | None = None,
    series_uid: str | None = None,
) -> list[Dataset]:
    """A classic MR Image series (PS3.3 A.4): ``n`` axial 16-bit slices of one series."""
    rng = np.random.default_rng(seed)
    study_uid = study_uid or new_uid()
    series_uid = series_uid or new_uid()
    out = []
    for i in range(n):
        ds = _base(MR_IMAGE, "MR", study_uid, series_uid)
        ds.SeriesDescription = "whole-heart fixture"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND"]
        ds.InstanceNumber = i + 1
        ds.ScanningSequence, ds.SequenceVariant, ds.ScanOptions = "GR", "SP", ""
        ds.MRAcquisitionType = "3D"
        ds.EchoTime, ds.RepetitionTime = 1.5, 3.5
        ds.SliceThickness = spacing
        ds.PixelSpacing = [1.0, 1.0]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [-8.0, -8.0, round(i * spacing, 3)]
        ds.FrameOfReferenceUID = study_uid + ".1" if len(study_uid) < 62 else study_uid
        ds.Rows, ds.Columns = rows, columns
        _pixels(ds, rng.integers(0, 4096, size=(rows, columns), dtype=np.uint16), "MONOCHROME2")
        ds.BitsStored, ds.HighBit = 12, 11
        out.append(ds)
    return out


def enhanced_mr(frames: int = 6, rows: int = 16, columns: int = 16, *, seed: int = 0) -> Dataset:
    """Enhanced MR Image (PS3.3 A.36.2) with shared and per-frame functional groups."""
    rng = np.random.default_rng(seed)
    ds = _base(ENHANCED_MR, "MR", None, None)
    ds.SeriesDescription = "enhanced fixture"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "NONE"]
    ds.NumberOfFrames = frames
    ds.Rows, ds.Columns = rows, columns
    shared = Dataset()
    orient, measures = Dataset(), Dataset()
    orient.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    measures.PixelSpacing, measures.SliceThickness = [1.0, 1.0], 2.0
    shared.PlaneOrientationSequence = Sequence([orient])
    shared.PixelMeasuresSequence = Sequence([measures])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    per_frame = []
    for i in range(frames):
        item, pos = Dataset(), Dataset()
        pos.ImagePositionPatient = [-8.0, -8.0, 2.0 * i]
        item.PlanePositionSequence = Sequence([pos])
        per_frame.append(item)
    ds.PerFrameFunctionalGroupsSequence = Sequence(per_frame)
    _pixels(ds, rng.integers(0, 4096, size=(frames, rows, columns), dtype=np.uint16), "MONOCHROME2")
    return ds


def write(ds: Dataset, path: Path) -> Path:
    """Write ``ds`` as a Part-10 file (preamble, file meta, data set) and return ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def write_raw_part10(
    path: Path,
    body: bytes,
    *,
    sop_class: str = str(US_MULTIFRAME),
    sop_instance: str | None = None,
    transfer_syntax: str = str(ExplicitVRLittleEndian),
) -> Path:
    """A Part-10 file with valid file meta and an arbitrary data-set ``body``.

    pynetdicom sends a file path without decoding the data set, so this is how a test puts
    truncated or non-DICOM bytes on the wire as a C-STORE data set.
    """
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_instance or new_uid()
    meta.TransferSyntaxUID = transfer_syntax
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    path = Path(path)
    with path.open("wb") as f:
        f.write(b"\x00" * 128 + b"DICM")
        write_file_meta_info(f, meta, enforce_standard=True)
        f.write(body)
    return path


def element_header(group: int, element: int, vr: str, length: int) -> bytes:
    """Explicit VR little-endian element header (PS3.5 7.1.2), for hand-made bodies."""
    if vr in ("OB", "OW", "SQ", "UN", "UT", "UC", "UR", "OD", "OF", "OL", "OV"):
        return struct.pack("<HH2sHI", group, element, vr.encode(), 0, length)
    return struct.pack("<HH2sH", group, element, vr.encode(), length)


def dataset_bytes(part10: bytes) -> bytes:
    """The encoded data set of a Part-10 stream, without preamble and file meta (PS3.10 7.1)."""
    if part10[128:132] != b"DICM" or part10[132:136] != b"\x02\x00\x00\x00":
        raise ValueError("not a Part-10 stream with a File Meta Information Group Length")
    group_length = int.from_bytes(part10[140:144], "little")
    return part10[144 + group_length :]
