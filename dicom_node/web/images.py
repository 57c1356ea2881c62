"""Pictures for the dashboard and the demo: DICOM frames → Pillow images → PNG / GIF bytes.

Secondary Capture outputs are already coloured overlays (RGB, JPEG baseline); a source frame
(grayscale or colour, any transfer syntax pydicom can decode) is shown windowed to 8 bits.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image
from pydicom import dcmread
from pydicom.dataset import Dataset

__all__ = [
    "ImageError",
    "dataset_frames",
    "file_frames",
    "file_middle_frame",
    "to_png",
    "to_gif",
    "thumbnail_png",
]


class ImageError(Exception):
    """A DICOM object has no pixel data that can be shown."""

    code = "image_unavailable"


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    a = arr.astype(np.float32)
    lo, hi = float(np.percentile(a, 1)), float(np.percentile(a, 99))
    if hi <= lo:
        hi = lo + 1.0
    return (np.clip((a - lo) / (hi - lo), 0, 1) * 255).astype(np.uint8)


def dataset_frames(ds: Dataset, max_frames: int | None = None) -> list[Image.Image]:
    """Decode up to ``max_frames`` frames of ``ds`` (RGB or grayscale) as Pillow images."""
    if "PixelData" not in ds:
        raise ImageError("the object has no pixel data")
    try:
        arr = ds.pixel_array  # pydicom 3 returns YBR_FULL(_422) already converted to RGB
    except Exception as exc:  # noqa: BLE001 — decoders raise many types; the caller wants one
        raise ImageError(f"pixel data cannot be decoded ({type(exc).__name__})") from None
    frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    samples = int(getattr(ds, "SamplesPerPixel", 1))
    if frames == 1:
        arr = arr[np.newaxis, ...]
    if max_frames is not None:
        arr = arr[:max_frames]
    images = []
    for frame in arr:
        mode = "RGB" if samples == 3 else "L"
        if str(getattr(ds, "PhotometricInterpretation", "")) == "MONOCHROME1":
            frame = frame.max() - frame
        images.append(Image.fromarray(_to_uint8(np.ascontiguousarray(frame)), mode=mode))
    return images


def file_middle_frame(path: Path) -> Image.Image:
    """Only the middle frame of the DICOM file at ``path`` (decodes one frame, not the loop)."""
    try:
        ds = dcmread(path)
    except (OSError, ValueError) as exc:
        raise ImageError(f"cannot read {Path(path).name}: {type(exc).__name__}") from None
    frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    if frames == 1:
        return dataset_frames(ds)[0]
    if "PixelData" not in ds:
        raise ImageError("the object has no pixel data")
    try:
        from pydicom.pixels import pixel_array

        arr = pixel_array(ds, index=frames // 2)
    except Exception as exc:  # noqa: BLE001 — decoders raise many types; the caller wants one
        raise ImageError(f"pixel data cannot be decoded ({type(exc).__name__})") from None
    if str(getattr(ds, "PhotometricInterpretation", "")) == "MONOCHROME1":
        arr = arr.max() - arr
    mode = "RGB" if int(getattr(ds, "SamplesPerPixel", 1)) == 3 else "L"
    return Image.fromarray(_to_uint8(np.ascontiguousarray(arr)), mode=mode)


def file_frames(path: Path, max_frames: int | None = None) -> list[Image.Image]:
    """Frames of the DICOM file at ``path``."""
    try:
        ds = dcmread(path)
    except (OSError, ValueError) as exc:
        raise ImageError(f"cannot read {Path(path).name}: {type(exc).__name__}") from None
    return dataset_frames(ds, max_frames)


def to_png(image: Image.Image) -> bytes:
    """PNG bytes of one image."""
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def thumbnail_png(image: Image.Image, width: int = 240) -> bytes:
    """A PNG at most ``width`` pixels wide."""
    im = image.copy()
    im.thumbnail((width, width * 4))
    return to_png(im)


def to_gif(images: list[Image.Image], fps: float = 15.0, width: int | None = None) -> bytes:
    """An endlessly looping animated GIF of ``images`` (the JS-free cine player)."""
    if not images:
        raise ImageError("no frames to animate")
    frames = []
    for im in images:
        im = im.convert("RGB")
        if width is not None and im.width > width:
            im = im.resize((width, round(im.height * width / im.width)))
        frames.append(im.convert("P", palette=Image.Palette.ADAPTIVE))
    buf = io.BytesIO()
    frames[0].save(
        buf, format="GIF", save_all=True, append_images=frames[1:], duration=int(1000 / fps), loop=0
    )
    return buf.getvalue()
