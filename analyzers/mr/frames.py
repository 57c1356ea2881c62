"""One record per 2D MR image: classic instances and the frames of multi-frame objects.

Classic MR Image Storage instances give one :class:`Frame` each (top-level attributes).
Enhanced MR and Legacy Converted Enhanced MR Image Storage give one per frame from the
functional groups (PS3.3 C.7.6.16): the Per-frame Functional Groups Sequence item first, then the
Shared Functional Groups Sequence, then the top-level attribute (some converters leave it there).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pydicom

from .errors import NotAssessable

__all__ = ["Frame", "MR_IMAGE_SOP_CLASSES", "frame_pixels", "frames_from_datasets"]

MR_IMAGE_SOP_CLASSES: dict[str, str] = {
    "1.2.840.10008.5.1.4.1.1.4": "MR Image Storage",
    "1.2.840.10008.5.1.4.1.1.4.1": "Enhanced MR Image Storage",
    "1.2.840.10008.5.1.4.1.1.4.4": "Legacy Converted Enhanced MR Image Storage",
}
_MULTIFRAME = {"1.2.840.10008.5.1.4.1.1.4.1", "1.2.840.10008.5.1.4.1.1.4.4"}


@dataclass
class Frame:
    """Geometry and identity of one 2D image; pixels are fetched lazily via ``source``."""

    source: int  # index of the dataset in the unit
    frame: int | None  # 0-based frame index in a multi-frame dataset, None for classic
    position: np.ndarray  # ImagePositionPatient (mm, LPS)
    row_cosine: np.ndarray  # IOP[0:3]: direction of increasing column index
    col_cosine: np.ndarray  # IOP[3:6]: direction of increasing row index
    pixel_spacing: tuple[float, float]  # (row spacing, column spacing) mm
    rows: int
    columns: int
    slope: float
    intercept: float
    localizer: bool
    echo: float | None  # echo time / echo number: a different value = a different echo
    phase: float | None  # trigger time / temporal position: a different value = another phase

    @property
    def normal(self) -> np.ndarray:
        """Slice normal: row cosine × column cosine."""
        return np.cross(self.row_cosine, self.col_cosine)


def _item(seq_owner: Any, keyword: str) -> Any | None:
    seq = getattr(seq_owner, keyword, None)
    if seq is None or len(seq) == 0:
        return None
    return seq[0]


def _fg_value(ds: pydicom.Dataset, per_frame: Any | None, macro: str, keyword: str) -> Any | None:
    """``keyword`` inside functional-group ``macro``: per-frame, then shared, then top level."""
    for owner in (per_frame, _item(ds, "SharedFunctionalGroupsSequence")):
        if owner is None:
            continue
        item = _item(owner, macro)
        if item is not None and keyword in item:
            return item[keyword].value
    return getattr(ds, keyword, None)


def _floats(value: Any, n: int, what: str) -> np.ndarray:
    try:
        arr = np.asarray([float(v) for v in value], dtype=np.float64)
    except (TypeError, ValueError):
        raise NotAssessable(f"{what} is missing or not numeric") from None
    if arr.shape != (n,) or not np.all(np.isfinite(arr)):
        raise NotAssessable(f"{what} is missing or malformed (expected {n} numbers)")
    return arr


def _num(value: Any) -> float | None:
    try:
        return None if value is None or value == "" else float(value)
    except (TypeError, ValueError):
        return None


def _is_localizer(image_type: Any) -> bool:
    if image_type is None:
        return False
    items = [image_type] if isinstance(image_type, str) else list(image_type)
    values = [str(v).strip().upper() for v in items]
    return "LOCALIZER" in values or "SCOUT" in values


def _check_image(ds: pydicom.Dataset, index: int) -> None:
    """Non-image data (SR, raw data, spectroscopy, presentation states…) → NotAssessable."""
    sop = str(getattr(ds, "SOPClassUID", ""))
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise NotAssessable(
            "series holds non-image data (an object without Pixel Data"
            + (f", SOP class {sop}" if sop else "")
            + "); only MR images can be graded"
        )
    if sop and sop not in MR_IMAGE_SOP_CLASSES:
        raise NotAssessable(f"series holds an object that is not an MR image (SOP class {sop})")
    if int(getattr(ds, "SamplesPerPixel", 1)) != 1:
        raise NotAssessable("series holds colour images; whole-heart MR grading needs grayscale images")


def _frame_common(ds: pydicom.Dataset, idx: int, frame: int | None, per_frame: Any | None,
                  image_type: Any) -> Frame:
    ipp = _fg_value(ds, per_frame, "PlanePositionSequence", "ImagePositionPatient")
    iop = _fg_value(ds, per_frame, "PlaneOrientationSequence", "ImageOrientationPatient")
    ps = _fg_value(ds, per_frame, "PixelMeasuresSequence", "PixelSpacing")
    pos = _floats(ipp, 3, "ImagePositionPatient")
    cos = _floats(iop, 6, "ImageOrientationPatient")
    spacing = _floats(ps, 2, "PixelSpacing")
    if np.any(spacing <= 0):
        raise NotAssessable("PixelSpacing must be positive")
    rc, cc = cos[:3], cos[3:]
    nr, nc = np.linalg.norm(rc), np.linalg.norm(cc)
    if nr < 1e-3 or nc < 1e-3 or abs(float(np.dot(rc / nr, cc / nc))) > 1e-2:
        raise NotAssessable("ImageOrientationPatient does not hold two orthogonal unit vectors")
    slope = _num(_fg_value(ds, per_frame, "PixelValueTransformationSequence", "RescaleSlope"))
    intercept = _num(_fg_value(ds, per_frame, "PixelValueTransformationSequence", "RescaleIntercept"))
    return Frame(
        source=idx,
        frame=frame,
        position=pos,
        row_cosine=rc / nr,
        col_cosine=cc / nc,
        pixel_spacing=(float(spacing[0]), float(spacing[1])),
        rows=int(ds.Rows),
        columns=int(ds.Columns),
        slope=1.0 if slope is None or slope == 0 else slope,
        intercept=0.0 if intercept is None else intercept,
        localizer=_is_localizer(image_type),
        echo=None,
        phase=None,
    )


def _classic_frames(ds: pydicom.Dataset, idx: int) -> list[Frame]:
    f = _frame_common(ds, idx, None, None, getattr(ds, "ImageType", None))
    echo = _num(getattr(ds, "EchoTime", None))
    echo_number = _num(getattr(ds, "EchoNumbers", None))
    f.echo = echo if echo is not None else echo_number
    f.phase = _num(getattr(ds, "TriggerTime", None))
    if f.phase is None:
        f.phase = _num(getattr(ds, "TemporalPositionIdentifier", None))
    return [f]


def _multiframe_frames(ds: pydicom.Dataset, idx: int) -> list[Frame]:
    n = int(getattr(ds, "NumberOfFrames", 1) or 1)
    per_frames = getattr(ds, "PerFrameFunctionalGroupsSequence", None)
    if per_frames is not None and len(per_frames) not in (0, n):
        raise NotAssessable(
            f"multi-frame object has {len(per_frames)} per-frame functional groups for {n} frames"
        )
    out = []
    for i in range(n):
        pf = per_frames[i] if per_frames else None
        image_type = _fg_value(ds, pf, "MRImageFrameTypeSequence", "FrameType")
        if image_type is None:
            image_type = getattr(ds, "ImageType", None)
        f = _frame_common(ds, idx, i, pf, image_type)
        f.echo = _num(_fg_value(ds, pf, "MREchoSequence", "EffectiveEchoTime"))
        content = _item(pf, "FrameContentSequence") if pf is not None else None
        phase = _num(getattr(content, "TemporalPositionIndex", None)) if content is not None else None
        if phase is None:
            phase = _num(_fg_value(ds, pf, "CardiacSynchronizationSequence", "NominalCardiacTriggerDelayTime"))
        f.phase = phase
        out.append(f)
    return out


def frames_from_datasets(datasets: Sequence[pydicom.Dataset]) -> list[Frame]:
    """All 2D images of a unit; raises :class:`NotAssessable` for non-image or malformed data."""
    if not datasets:
        raise NotAssessable("the series holds no instances")
    frames: list[Frame] = []
    for idx, ds in enumerate(datasets):
        _check_image(ds, idx)
        try:
            if str(getattr(ds, "SOPClassUID", "")) in _MULTIFRAME or "PerFrameFunctionalGroupsSequence" in ds:
                frames.extend(_multiframe_frames(ds, idx))
            else:
                frames.extend(_classic_frames(ds, idx))
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise NotAssessable(f"image geometry attributes are missing or malformed ({type(exc).__name__})") from None
    return frames


def frame_pixels(datasets: Sequence[pydicom.Dataset], frames: Sequence[Frame]) -> np.ndarray:
    """Stack ``(n, rows, cols)`` float32 of the frames in the given order, rescaled (slope/intercept)."""
    cache: dict[int, np.ndarray] = {}
    first = frames[0]
    out = np.empty((len(frames), first.rows, first.columns), dtype=np.float32)
    for k, f in enumerate(frames):
        if f.source not in cache:
            try:
                cache[f.source] = datasets[f.source].pixel_array
            except Exception as exc:  # noqa: BLE001 — pydicom/plug-ins raise many types for bad pixel data
                raise NotAssessable(f"pixel data cannot be decoded ({type(exc).__name__})") from None
        arr = cache[f.source]
        img = arr[f.frame] if f.frame is not None and arr.ndim == 3 else arr
        if img.shape != (first.rows, first.columns):
            raise NotAssessable("images of the series differ in size")
        np.multiply(img, f.slope, out=out[k], casting="unsafe")
        if f.intercept:
            out[k] += f.intercept
    return out
