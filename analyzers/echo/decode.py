"""Frames from any echo DICOM: decode, grey conversion, colour content, US region geometry.

pydicom (with the pylibjpeg / Pillow plugins) decodes every transfer syntax a scanner sends
(JPEG baseline, JPEG-LS, JPEG 2000, RLE, uncompressed). Colour data are reduced to grey by
luminance (ITU-R BT.601); YBR_FULL(_422) is converted to RGB by pydicom on decode
(PS3.3 C.7.6.3.1.2); PALETTE COLOR goes through its lookup tables (PS3.3 C.7.9).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pydicom
from pydicom.pixels import apply_color_lut

__all__ = ["DecodeError", "EchoFrames", "UsRegion", "decode_frames", "us_regions"]

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


class DecodeError(ValueError):
    """The pixel data cannot be decoded (reported as not assessable, with this message)."""

    code = "decode_failed"


@dataclass(frozen=True)
class UsRegion:
    """One item of the Sequence of Ultrasound Regions (PS3.3 C.8.5.5)."""

    x0: int
    y0: int
    x1: int
    y1: int
    spatial_format: int  # 1 = 2D
    data_type: int  # 1 = tissue, 2 = colour flow, ...
    delta_x_mm: float | None
    delta_y_mm: float | None

    @property
    def area(self) -> int:
        return max(0, self.x1 - self.x0 + 1) * max(0, self.y1 - self.y0 + 1)


@dataclass(frozen=True)
class EchoFrames:
    """A decoded loop.

    ``grey``: float32 (F, H, W) 0..255; ``colour``: bool (F, H, W) strongly saturated pixels
    (colour Doppler, colour bars, ECG) or None for grey data.
    """

    grey: np.ndarray
    colour: np.ndarray | None
    photometric: str
    regions: tuple[UsRegion, ...]

    @property
    def count(self) -> int:
        return int(self.grey.shape[0])


def _mm(value: object, units: object) -> float | None:
    """Physical delta in mm when the units are cm (code 3, PS3.3 C.8.5.5.1.15)."""
    try:
        if int(units) == 3 and value is not None and float(value) > 0:
            return abs(float(value)) * 10.0
    except (TypeError, ValueError):
        return None
    return None


def us_regions(ds: pydicom.Dataset) -> tuple[UsRegion, ...]:
    """The 2D regions of the Sequence of Ultrasound Regions (empty when absent or unusable)."""
    out = []
    for item in getattr(ds, "SequenceOfUltrasoundRegions", None) or []:
        try:
            region = UsRegion(
                x0=int(item.RegionLocationMinX0),
                y0=int(item.RegionLocationMinY0),
                x1=int(item.RegionLocationMaxX1),
                y1=int(item.RegionLocationMaxY1),
                spatial_format=int(getattr(item, "RegionSpatialFormat", 0) or 0),
                data_type=int(getattr(item, "RegionDataType", 0) or 0),
                delta_x_mm=_mm(getattr(item, "PhysicalDeltaX", None), getattr(item, "PhysicalUnitsXDirection", 0)),
                delta_y_mm=_mm(getattr(item, "PhysicalDeltaY", None), getattr(item, "PhysicalUnitsYDirection", 0)),
            )
        except (AttributeError, TypeError, ValueError):
            continue
        if region.spatial_format == 1 and region.area > 0:
            out.append(region)
    return tuple(out)


def _to_float01(arr: np.ndarray, ds: pydicom.Dataset) -> np.ndarray:
    """Scale stored values to 0..255 float32 according to Bits Stored."""
    bits = int(getattr(ds, "BitsStored", 8) or 8)
    a = arr.astype(np.float32)  # the one float copy of the loop
    if bits > 8:
        a *= 255.0 / float((1 << bits) - 1)
    return a


def decode_frames(ds: pydicom.Dataset) -> EchoFrames:
    """Decode ``ds`` to grey frames (F, H, W) plus a colour mask for colour data.

    Raises
    ------
    DecodeError
        When pixel data are missing or no decoder handles the transfer syntax.
    """
    if "PixelData" not in ds:
        raise DecodeError("the instance has no pixel data")
    pi = str(getattr(ds, "PhotometricInterpretation", "MONOCHROME2")).strip().upper()
    spp = int(getattr(ds, "SamplesPerPixel", 1) or 1)
    nframes = int(getattr(ds, "NumberOfFrames", 1) or 1)
    try:
        arr = ds.pixel_array  # YBR_* → RGB on decode (pydicom 3 default)
        if pi == "PALETTE COLOR":
            arr = apply_color_lut(arr, ds)
            lut_bits = int(ds.RedPaletteColorLookupTableDescriptor[2])
            arr = arr.astype(np.float32) * (255.0 / float((1 << lut_bits) - 1))
            spp = 3
        else:
            arr = _to_float01(arr, ds)
    except Exception as exc:  # noqa: BLE001 — decoder plugins raise many types; report, don't crash
        ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "unknown")
        raise DecodeError(f"cannot decode pixel data (transfer syntax {ts}): {exc}".splitlines()[0]) from None
    if spp == 1 and arr.ndim == 2 or spp > 1 and arr.ndim == 3 and nframes == 1:
        arr = arr[None]
    colour = None
    if spp >= 3 and arr.ndim == 4:
        rgb = arr[..., :3]
        grey = rgb @ _LUMA
        mx, mn = rgb.max(axis=-1), rgb.min(axis=-1)
        chroma = mx - mn
        # Doppler / overlays are strongly saturated; tinted B-mode (sepia, blue) is not.
        colour = (chroma > 40.0) & (chroma > 0.5 * mx)
    else:
        grey = arr
        if pi == "MONOCHROME1":
            grey = 255.0 - grey
    grey = np.asarray(grey, dtype=np.float32)
    np.clip(grey, 0, 255, out=grey)
    return EchoFrames(grey, colour, pi, us_regions(ds))
