"""Multi-frame True Color Secondary Capture objects (PS3.3 A.8.5), built with pydicom.

highdicom's SCImage is single-frame, so these objects are assembled here: Patient, General Study
and Patient Study from the clean source header, General Series (new series, same study), SC
Equipment (Conversion Type WSD), General Image, General Reference (Source Image Sequence), Image
Pixel, Cine and Multi-frame (more than one frame), SC Multi-frame Image (Burned In Annotation YES),
SOP Common. Pixel data are JPEG baseline (PS3.5 A.4.1, 1.2.840.10008.1.2.4.50), one fragment per
frame, YBR_FULL_422 (4:2:2 chroma subsampling, as PS3.5 §8.2.1 requires for that syntax); every
frame is decoded again after encoding as a check.
"""

from __future__ import annotations

import datetime as _dt
import io
from collections.abc import Sequence

from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, JPEGBaseline8Bit

__all__ = ["MF_TRUE_COLOR_SC", "SC_SERIES_NUMBER", "build_sc", "encode_jpeg"]

MF_TRUE_COLOR_SC = "1.2.840.10008.5.1.4.1.1.7.4"
SC_SERIES_NUMBER = 991
JPEG_QUALITY = 90


def encode_jpeg(img: Image.Image, quality: int = JPEG_QUALITY) -> bytes:
    """Baseline JPEG, 4:2:2, decoded again to make sure it is readable."""
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="JPEG", quality=quality, subsampling=1, optimize=False)
    data = buf.getvalue()
    with Image.open(io.BytesIO(data)) as check:
        check.load()
        if check.size != img.size:
            raise ValueError("JPEG round trip changed the frame size")
    return data


def build_sc(
    frames: Sequence[Image.Image],
    header: Dataset,
    *,
    sop_instance_uid: str,
    series_instance_uid: str,
    instance_number: int,
    source_refs: Sequence[tuple[str, str]],
    series_description: str,
    derivation: str,
    frame_time_ms: float | None = None,
    content_time: _dt.datetime | None = None,
) -> Dataset:
    """A Multi-frame True Color SC with ``frames`` (all the same size) burnt in.

    Parameters
    ----------
    frames
        RGB images, one per frame.
    header
        Clean patient/study attributes (:func:`dicom_node.reports.header.clean_header`).
    source_refs
        (SOP Class UID, SOP Instance UID) of the source images (Source Image Sequence).
    frame_time_ms
        Nominal time per frame of a cine loop (Cine module, Frame Time); None for a still.
    """
    if not frames:
        raise ValueError("an SC needs at least one frame")
    size = frames[0].size
    if any(f.size != size for f in frames):
        raise ValueError("all SC frames must have the same size")
    now = content_time or _dt.datetime.now(_dt.UTC)

    ds = Dataset()
    ds.update(header)
    ds.SOPClassUID = MF_TRUE_COLOR_SC
    ds.SOPInstanceUID = sop_instance_uid
    ds.InstanceCreationDate = now.strftime("%Y%m%d")
    ds.InstanceCreationTime = now.strftime("%H%M%S")
    # General Series
    ds.Modality = "OT"
    ds.SeriesInstanceUID = series_instance_uid
    ds.SeriesNumber = SC_SERIES_NUMBER
    ds.SeriesDescription = series_description[:64]
    ds.BodyPartExamined = "HEART"
    # General Equipment / SC Equipment
    ds.Manufacturer = "Cardiac QA Node"
    ds.ConversionType = "WSD"
    # General Image
    ds.InstanceNumber = instance_number
    ds.PatientOrientation = ""
    ds.ContentDate = now.strftime("%Y%m%d")
    ds.ContentTime = now.strftime("%H%M%S")
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.DerivationDescription = derivation[:1024]
    ds.BurnedInAnnotation = "YES"
    ds.RecognizableVisualFeatures = "NO"
    ds.LossyImageCompression = "01"
    ds.LossyImageCompressionMethod = "ISO_10918_1"
    ds.SourceImageSequence = [_ref(c, i) for c, i in source_refs]
    # Image Pixel
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "YBR_FULL_422"
    ds.PlanarConfiguration = 0
    ds.Rows, ds.Columns = size[1], size[0]
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    # Multi-frame / Cine
    ds.NumberOfFrames = len(frames)
    if len(frames) > 1:
        ds.FrameTime = round(float(frame_time_ms or 33.3), 3)
        ds.FrameIncrementPointer = 0x00181063  # Frame Time
    encoded = [encode_jpeg(f) for f in frames]
    raw = size[0] * size[1] * 3 * len(frames)
    ds.LossyImageCompressionRatio = round(raw / max(1, sum(len(e) for e in encoded)), 2)
    ds.PixelData = encapsulate(encoded)
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = JPEGBaseline8Bit
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.file_meta = meta
    return ds


def _ref(sop_class: str, sop_instance: str) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = sop_class
    item.ReferencedSOPInstanceUID = sop_instance
    return item
