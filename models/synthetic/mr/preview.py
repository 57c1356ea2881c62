"""Contact sheet: axial, coronal and sagittal reformats through the heart for grades 0–4."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from models.synthetic.common import child_rng

from .grade import sample_severity
from .volume import make_volume

__all__ = ["contact_sheet"]

_GRADES = (4.0, 3.0, 2.0, 1.0, 0.0)


def _heart_centre(labels: np.ndarray) -> tuple[int, int, int]:
    k, j, i = np.nonzero(np.isin(labels, (5, 6, 7)))
    return int(np.median(k)), int(np.median(j)), int(np.median(i))


def _to_u8(img: np.ndarray, hi: float) -> np.ndarray:
    return (np.clip(img / hi, 0.0, 1.0) * 255.0).astype(np.uint8)


def contact_sheet(path: Path, seed: int = 0, small: bool = False) -> Path:
    """Write a PNG: one row per grade (4 → 0), columns axial / coronal / sagittal through the heart."""
    size, spacing = (64, 2.5) if small else (160, 1.0)
    tile = 200
    rows = []
    for g in _GRADES:
        rng = child_rng(seed, "mr-preview", int(g))
        mv = make_volume(rng, size, sample_severity(rng, g), spacing_mm=spacing)
        k, j, i = _heart_centre(mv.labels)
        hi = float(np.percentile(mv.volume, 99.5))
        views = (mv.volume[k], mv.volume[::-1, j, :], mv.volume[::-1, :, i])
        tiles = [Image.fromarray(_to_u8(v, hi)).resize((tile, tile), Image.Resampling.BILINEAR) for v in views]
        row = Image.new("L", (130 + 3 * tile, tile), 0)
        for c, t in enumerate(tiles):
            row.paste(t, (130 + c * tile, 0))
        d = ImageDraw.Draw(row)
        d.text((8, tile // 2 - 30), f"grade {mv.grade:.1f}", fill=255)
        d.text((8, tile // 2 - 10), f"(target {g:.0f})", fill=200)
        d.text((8, tile // 2 + 10), f"motion {mv.severity['motion']:.2f}", fill=160)
        rows.append(row)
    sheet = Image.new("L", (rows[0].width, 20 + sum(r.height for r in rows)), 0)
    d = ImageDraw.Draw(sheet)
    for c, name in enumerate(("axial", "coronal", "sagittal")):
        d.text((130 + c * tile + 70, 4), name, fill=255)
    y = 20
    for r in rows:
        sheet.paste(r, (0, y))
        y += r.height
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, optimize=False)
    return path
