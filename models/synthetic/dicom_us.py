"""US Multi-frame Image Storage writers (PS3.3 A.7) for synthetic echo loops.

Produces what scanners send: MONOCHROME2, RGB or YBR_FULL_422 pixels; uncompressed (explicit VR
little endian), RLE Lossless or JPEG baseline (frames encoded by Pillow and encapsulated, PS3.5
A.4); Cine module timing with either Frame Time or Frame Time Vector; the Sequence of Ultrasound
Regions (PS3.3 C.8.5.5) with physical deltas in cm; an optional View Code Sequence (CID 12226).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from pydicom.uid import (
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    RLELossless,
    UltrasoundMultiFrameImageStorage,
)

from .common import SyntheticPatient

__all__ = [
    "ENCODINGS",
    "VIEW_CODES",
    "UsRegion",
    "UsSeriesInfo",
    "write_us_multiframe",
]

# (photometric, transfer) combinations the writer supports
ENCODINGS: tuple[tuple[str, str], ...] = (
    ("MONOCHROME2", "explicit"),
    ("MONOCHROME2", "rle"),
    ("MONOCHROME2", "jpeg"),
    ("RGB", "explicit"),
    ("RGB", "rle"),
    ("YBR_FULL_422", "jpeg"),
)
VIEW_CODES: dict[str, tuple[str, str]] = {
    "A4C": ("399214001", "Apical four chamber"),
    "A2C": ("399232001", "Apical two chamber"),
    "ALAX": ("399339008", "Apical long axis"),
}
_TS = {"explicit": ExplicitVRLittleEndian, "rle": RLELossless, "jpeg": JPEGBaseline8Bit}
IMPLEMENTATION_UID = "2.25.233870133839395126227312407624373937193"


@dataclass(frozen=True)
class UsRegion:
    """One Ultrasound Region (pixel bounding box, apex reference pixel, spacing in mm)."""

    x0: int
    y0: int
    x1: int
    y1: int
    ref_x: int
    ref_y: int
    dx_mm: float
    dy_mm: float
    data_type: int = 1  # 1 tissue, 2 colour flow (PS3.3 C.8.5.5.1.2)
    spatial_format: int = 1  # 1 = 2D


@dataclass(frozen=True)
class UsSeriesInfo:
    """Everything but pixels for one US multi-frame instance."""

    patient: SyntheticPatient
    series_instance_uid: str
    sop_instance_uid: str
    series_number: int
    instance_number: int
    series_description: str
    frame_time_ms: float
    heart_rate_bpm: float
    regions: tuple[UsRegion, ...]
    view: str | None = None  # View Code Sequence written when set
    frame_time_vector: bool = False
    manufacturer: str = "Cardiac QA Node synthetic"
    model_name: str = "echo-synth"
    transducer_mhz: float = 2.5
    color_present: bool = False
    image_comments: str = ""


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def _region_item(r: UsRegion, transducer_mhz: float) -> Dataset:
    it = Dataset()
    it.RegionSpatialFormat = r.spatial_format
    it.RegionDataType = r.data_type
    it.RegionFlags = 0
    it.RegionLocationMinX0 = r.x0
    it.RegionLocationMinY0 = r.y0
    it.RegionLocationMaxX1 = r.x1
    it.RegionLocationMaxY1 = r.y1
    it.ReferencePixelX0 = r.ref_x
    it.ReferencePixelY0 = r.ref_y
    it.PhysicalUnitsXDirection = 3  # cm
    it.PhysicalUnitsYDirection = 3
    it.ReferencePixelPhysicalValueX = 0.0
    it.ReferencePixelPhysicalValueY = 0.0
    it.PhysicalDeltaX = round(r.dx_mm / 10.0, 8)
    it.PhysicalDeltaY = round(r.dy_mm / 10.0, 8)
    it.TransducerFrequency = int(round(transducer_mhz * 1000))  # kHz
    return it


def _base_dataset(info: UsSeriesInfo, n_frames: int, rows: int, cols: int) -> Dataset:
    p = info.patient
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.SOPClassUID = UltrasoundMultiFrameImageStorage
    ds.SOPInstanceUID = info.sop_instance_uid
    p.apply(ds)  # Patient + General Study
    ds.SeriesDate = ds.ContentDate = p.study_date
    ds.AcquisitionDateTime = p.study_date + p.study_time
    ds.SeriesTime = ds.ContentTime = p.study_time
    ds.Modality = "US"
    ds.Manufacturer = info.manufacturer
    ds.ManufacturerModelName = info.model_name
    ds.SoftwareVersions = "1"
    ds.StudyDescription = "Synthetic transthoracic echo"
    ds.SeriesDescription = info.series_description
    ds.BodyPartExamined = "HEART"
    ds.SeriesInstanceUID = info.series_instance_uid
    ds.SeriesNumber = info.series_number
    ds.InstanceNumber = info.instance_number
    ds.PatientOrientation = ""
    ds.BurnedInAnnotation = "YES"
    # Cine / Multi-frame (PS3.3 C.7.6.5, C.7.6.6)
    ds.NumberOfFrames = n_frames
    ft = round(float(info.frame_time_ms), 3)
    if info.frame_time_vector:
        ds.FrameIncrementPointer = 0x00181065
        ds.FrameTimeVector = [0.0] + [ft] * (n_frames - 1)
    else:
        ds.FrameIncrementPointer = 0x00181063
        ds.FrameTime = ft
    rate = max(1, int(round(1000.0 / ft)))
    ds.CineRate = rate
    ds.RecommendedDisplayFrameRate = rate
    ds.EffectiveDuration = round(ft * n_frames / 1000.0, 4)
    ds.ActualFrameDuration = int(round(ft))
    ds.HeartRate = int(round(info.heart_rate_bpm))
    ds.StartTrim = 1
    ds.StopTrim = n_frames
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.SequenceOfUltrasoundRegions = Sequence([_region_item(r, info.transducer_mhz) for r in info.regions])
    if info.view is not None:
        value, meaning = VIEW_CODES[info.view]
        ds.ViewCodeSequence = Sequence([_code(value, "SCT", meaning)])
    if info.image_comments:
        ds.ImageComments = info.image_comments
    return ds


def _jpeg_frames(pixels: np.ndarray, quality: int) -> list[bytes]:
    out = []
    for frame in pixels:
        buf = io.BytesIO()
        img = Image.fromarray(frame, "L" if frame.ndim == 2 else "RGB")
        # 4:2:2 chroma subsampling → YBR_FULL_422 (PS3.5 8.2.1)
        img.save(buf, format="JPEG", quality=quality, subsampling=1, optimize=False)
        out.append(buf.getvalue())
    return out


def write_us_multiframe(
    path: Path,
    pixels: np.ndarray,
    info: UsSeriesInfo,
    photometric: str = "MONOCHROME2",
    transfer: str = "explicit",
    jpeg_quality: int = 90,
) -> Dataset:
    """Write a US Multi-frame Image Storage file and return the dataset written.

    Parameters
    ----------
    pixels
        uint8 (F, H, W) grey for MONOCHROME2, (F, H, W, 3) RGB otherwise.
    photometric, transfer
        One of ``ENCODINGS``; YBR_FULL_422 is produced by JPEG baseline from RGB input.
    """
    if (photometric, transfer) not in ENCODINGS:
        raise ValueError(f"unsupported encoding {photometric}/{transfer}; use one of {ENCODINGS}")
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    colour = photometric != "MONOCHROME2"
    if pixels.ndim != (4 if colour else 3):
        raise ValueError(f"pixels shape {pixels.shape} does not fit {photometric}")
    n, rows, cols = pixels.shape[:3]
    ds = _base_dataset(info, n, rows, cols)
    ds.SamplesPerPixel = 3 if colour else 1
    ds.PhotometricInterpretation = photometric
    if colour:
        ds.PlanarConfiguration = 0
        ds.UltrasoundColorDataPresent = 1 if info.color_present else 0
    else:
        ds.UltrasoundColorDataPresent = 0
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = _TS[transfer]
    ds.file_meta.ImplementationClassUID = IMPLEMENTATION_UID
    ds.file_meta.ImplementationVersionName = "CQA_SYNTH_1"
    if transfer == "jpeg":
        frames = _jpeg_frames(pixels, jpeg_quality)
        ds.LossyImageCompression = "01"
        raw = pixels.size
        ds.LossyImageCompressionRatio = round(raw / max(1, sum(len(f) for f in frames)), 2)
        ds.LossyImageCompressionMethod = "ISO_10918_1"
        ds.PixelData = encapsulate(frames, has_bot=True)
        ds["PixelData"].VR = "OB"
    else:
        ds.LossyImageCompression = "00"
        if transfer == "rle":
            ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds.PixelData = pixels.tobytes()
            ds.compress(RLELossless, pixels, encoding_plugin="pylibjpeg", generate_instance_uid=False)
        else:
            ds.PixelData = pixels.tobytes()
            ds["PixelData"].VR = "OB"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return ds


def read_back(path: Path) -> np.ndarray:
    """Decode a written file with pydicom (+ pylibjpeg/Pillow) into an array (tests, previews)."""
    return pydicom.dcmread(path).pixel_array
