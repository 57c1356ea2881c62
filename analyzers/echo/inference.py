"""Running the echo packs on the 256² raster: input preparation from each pack's manifest.

The analyzer accepts any pack that declares its interface: our own packs (128² raw 0..255,
pooled from the 256 raster) and arqee's published interface (N×1×256×256, raw 0..255, whole
frame resized, eight outputs with slope/intercept). Segmentation outputs may be logits
(N, C, h, w) or labels (N, h, w) at any size; they are brought to the 256 raster.
"""

from __future__ import annotations

import numpy as np

from analyzers.base import ECHO_REGION_IDS
from models.runtime import LoadedPack, PackError

from .sector import resize_area

__all__ = ["pack_input", "run_quality", "run_segmentation"]

RASTER = 256


def pack_input(frames256: np.ndarray, pack: LoadedPack) -> np.ndarray:
    """(F, 256, 256) grey 0..255 → the pack's (F, 1, h, w) input per its manifest."""
    shape = pack.manifest.input.shape
    h = shape[-2] if isinstance(shape[-2], int) else RASTER
    w = shape[-1] if isinstance(shape[-1], int) else RASTER
    x = frames256
    if (h, w) != (RASTER, RASTER):
        if RASTER % h == 0 and RASTER % w == 0 and RASTER // h == RASTER // w:
            k = RASTER // h
            x = x.reshape(x.shape[0], h, k, w, k).mean(axis=(2, 4))
        else:
            x = resize_area(x, h, w)
    if pack.manifest.input.value_range[1] <= 1.0 + 1e-6:
        x = x / 255.0
    return np.ascontiguousarray(x[:, None], dtype=np.float32)


def run_quality(frames256: np.ndarray, pack: LoadedPack, batch: int) -> np.ndarray:
    """Calibrated regional scores (F, 8) clipped to 1..5."""
    y = pack.run(pack_input(frames256, pack), batch)
    y = np.asarray(y, dtype=np.float64).reshape(len(frames256), -1)
    if y.shape[1] != 8:
        raise PackError(f"pack {pack.manifest.name}: expected 8 outputs, got {y.shape[1]}")
    order = pack.manifest.output.region_order
    if order is not None and tuple(order) != ECHO_REGION_IDS:
        if sorted(order) != sorted(ECHO_REGION_IDS):
            raise PackError(f"pack {pack.manifest.name}: region_order {list(order)} is not the 8 echo regions")
        y = y[:, [list(order).index(r) for r in ECHO_REGION_IDS]]
    return np.clip(pack.calibrate(y), 1.0, 5.0)


def run_segmentation(frames256: np.ndarray, pack: LoadedPack, batch: int) -> np.ndarray:
    """Labels (F, 256, 256) uint8 (0 bg, 1 LV, 2 MYO, 3 LA, 4 AO)."""
    out = []
    x = pack_input(frames256, pack)
    for i in range(0, len(x), batch):
        y = np.asarray(pack.run(x[i : i + batch], batch))
        lab = y.argmax(axis=1) if y.ndim == 4 else y
        lab = lab.astype(np.uint8)
        h, w = lab.shape[-2:]
        if (h, w) != (RASTER, RASTER):
            rows = (np.arange(RASTER) * h // RASTER)[:, None]
            cols = (np.arange(RASTER) * w // RASTER)[None, :]
            lab = lab[:, rows, cols]
        out.append(lab)
    return np.concatenate(out)
