"""The imaging sector: from the Sequence of Ultrasound Regions, else detected from the image.

Detection works on a reduced raster: the temporal maximum and standard deviation of the loop mark
pixels that ever carry echo signal and change over time (burnt-in text and colour bars are
static; the ECG trace is thin and is removed by an opening); the largest component's convex hull
is the fan (a phased-array sector narrower than 180° is convex). A candidate that is too small or
not fan-shaped (narrow near the probe, wide in depth) is rejected: no sector.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage, sparse
from skimage.morphology import convex_hull_image

from .decode import UsRegion

__all__ = ["Sector", "detect_sector", "find_sector", "resize_area"]

_cache: dict[tuple[int, int], sparse.csr_matrix] = {}


@dataclass(frozen=True)
class Sector:
    """Sector mask at the source raster, where it came from and the pixel spacing (mm)."""

    mask: np.ndarray  # bool (H, W)
    source: str  # "us-regions" | "detected"
    spacing_mm: tuple[float, float] | None  # (row, column) spacing at the source raster


def _area_matrix(n_in: int, n_out: int) -> sparse.csr_matrix:
    """Sparse (n_out, n_in) area-averaging resampling weights (antialiased down, nearest up)."""
    key = (n_in, n_out)
    m = _cache.get(key)
    if m is None:
        edges = np.linspace(0, n_in, n_out + 1)
        lo, hi = edges[:-1, None], edges[1:, None]
        px = np.arange(n_in)[None, :]
        w = np.clip(np.minimum(hi, px + 1) - np.maximum(lo, px), 0, None)
        if n_out > n_in:  # upsampling: plain nearest-overlap weights are fine for masks
            w = (w > 0).astype(np.float64)
        m = sparse.csr_matrix((w / w.sum(axis=1, keepdims=True)).astype(np.float32))
        _cache[key] = m
    return m


def resize_area(frames: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Area-average resize of (…, H, W) frames to (…, out_h, out_w) float32.

    Two sparse products (rows, then columns) over all frames at once: a few non-zeros per
    output pixel, so the cost is linear in the input size.
    """
    lead = frames.shape[:-2]
    h, w = frames.shape[-2:]
    ry, rx = _area_matrix(h, out_h), _area_matrix(w, out_w)
    x = np.asarray(frames, dtype=np.float32).reshape(-1, h, w)
    n = x.shape[0]
    rows = ry @ x.transpose(1, 0, 2).reshape(h, n * w)  # (out_h, n*w)
    cols = rx @ rows.reshape(out_h * n, w).T  # (out_w, out_h*n)
    out = cols.T.reshape(out_h, n, out_w).transpose(1, 0, 2)
    return np.ascontiguousarray(out, dtype=np.float32).reshape(*lead, out_h, out_w)


def _fan_shaped(mask: np.ndarray) -> bool:
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size < 8:
        return False
    widths = mask.sum(axis=1)[rows]
    k = max(1, rows.size // 5)
    return bool(widths[:k].mean() < 0.8 * widths[-2 * k : -k].mean() if rows.size > 3 * k else False)


def detect_sector(grey: np.ndarray, colour: np.ndarray | None = None, work: int = 160) -> np.ndarray | None:
    """Detect the fan in (F, H, W) grey frames; bool mask (H, W) or None when there is none."""
    f, h, w = grey.shape
    scale = work / max(h, w)
    sh, sw = max(8, round(h * scale)), max(8, round(w * scale))
    small = resize_area(grey[:: max(1, f // 16)], sh, sw)
    tmax = small.max(axis=0)
    content = tmax > 12.0
    if small.shape[0] >= 3:
        moving = small.std(axis=0) > 1.0
        if moving.sum() > 0.02 * moving.size:
            content &= ndimage.binary_dilation(moving, iterations=2)
    if colour is not None:  # static colour bars/overlays outside the fan
        csmall = resize_area(colour[:: max(1, f // 16)].astype(np.float32), sh, sw).mean(axis=0) > 0.9
        content &= ~csmall
    r = max(1, round(work / 80))
    content = ndimage.binary_opening(content, structure=np.ones((2 * r + 1, 2 * r + 1)))
    lab, n = ndimage.label(content)
    if n == 0:
        return None
    sizes = ndimage.sum_labels(content, lab, index=np.arange(1, n + 1))
    comp = lab == (1 + int(np.argmax(sizes)))
    if comp.sum() < 0.05 * comp.size:
        return None
    hull = convex_hull_image(comp)
    if not _fan_shaped(hull):
        return None
    full = resize_area(hull.astype(np.float32), h, w) > 0.5
    return full


def find_sector(grey: np.ndarray, colour: np.ndarray | None, regions: tuple[UsRegion, ...]) -> Sector | None:
    """The sector of a loop: the largest 2D tissue US region (refined to the fan inside it), else
    the detected fan; None when neither exists."""
    tissue = [r for r in regions if r.data_type in (1, 0)] or list(regions)
    h, w = grey.shape[-2:]
    if tissue:
        reg = max(tissue, key=lambda r: r.area)
        box = np.zeros((h, w), dtype=bool)
        box[max(0, reg.y0) : min(h, reg.y1 + 1), max(0, reg.x0) : min(w, reg.x1 + 1)] = True
        if box.sum() >= 64:
            mask = box
            fan = detect_sector(grey, colour)
            if fan is not None and (fan & box).sum() >= 0.3 * box.sum():
                mask = fan & box
            spacing = (
                (reg.delta_y_mm, reg.delta_x_mm) if reg.delta_x_mm and reg.delta_y_mm else None
            )
            return Sector(mask, "us-regions", spacing)
    fan = detect_sector(grey, colour)
    return None if fan is None else Sector(fan, "detected", None)
