"""Contact sheets: frames per grade level (docs/img/synthetic_echo.png) and per generated loop.

``python -m models.synthetic.echo.preview OUT.png [SEED]`` writes the per-grade sheet.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..common import child_rng
from .loop import EchoLoop, make_loop

__all__ = ["GRADE_COLOURS", "contact_sheet", "loops_sheet"]

GRADE_COLOURS = ("#ED1B24", "#F46523", "#FFFB17", "#8DC619", "#176837")
_NAMES = ("not visible", "poor", "ok", "good", "excellent")


def _tile(frame: np.ndarray, width: int) -> Image.Image:
    img = Image.fromarray(frame)
    h = int(round(frame.shape[0] * width / frame.shape[1]))
    return img.resize((width, h), Image.Resampling.BILINEAR)


def _outline(img: Image.Image, truth_regions: np.ndarray, grades: np.ndarray, scale: float) -> Image.Image:
    """Grade-coloured outline of each myocardial region on an RGB copy."""
    rgb = img.convert("RGB")
    arr = np.asarray(rgb).copy()
    for k in range(6):
        m = np.asarray(Image.fromarray(truth_regions[k].astype(np.uint8) * 255).resize(rgb.size)) > 127
        edge = m & ~(np.roll(m, 1, 0) & np.roll(m, -1, 0) & np.roll(m, 1, 1) & np.roll(m, -1, 1))
        g = int(np.clip(np.floor(grades[k] + 0.5), 1, 5))
        arr[edge] = np.array(Image.new("RGB", (1, 1), GRADE_COLOURS[g - 1]))[0, 0]
    return Image.fromarray(arr)


def loops_sheet(loops: Sequence[EchoLoop], path: Path, width: int = 240, cols: int = 4) -> None:
    """One tile per loop (its first end-diastolic frame) with view and mean myocardial grade."""
    tiles = []
    for lp in loops:
        f = lp.ed_frames[0] if lp.ed_frames else 0
        t = _tile(lp.frames[f], width)
        g = float(lp.truth[f].grades[:6].mean())
        ImageDraw.Draw(t).text((4, t.height - 14), f"{lp.view} grade {g:.1f}", fill=255)
        tiles.append(t)
    _grid(tiles, path, cols)


def _grid(tiles: Sequence[Image.Image], path: Path, cols: int) -> None:
    w = max(t.width for t in tiles)
    h = max(t.height for t in tiles)
    rows = (len(tiles) + cols - 1) // cols
    sheet = Image.new(tiles[0].mode if tiles else "L", (cols * w, rows * h), 0)
    for i, t in enumerate(tiles):
        sheet.paste(t, ((i % cols) * w, (i // cols) * h))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, optimize=True)


def contact_sheet(
    path: Path, seed: int = 424242, per_grade: int = 3, width: int = 250, max_tries: int = 400
) -> None:
    """Rows = frame grade 1..5 (mean of the six myocardial regions, rounded); ``per_grade`` columns.

    Each tile is shown plain and with the regions outlined in the grade colour of their own label.
    """
    bins: dict[int, list[Image.Image]] = {g: [] for g in range(1, 6)}
    k = 0
    while any(len(v) < per_grade for v in bins.values()) and k < max_tries:
        rng = child_rng(seed, "sheet", k)
        lp = make_loop(rng, frames=1, height=330, width=440, quality=float(rng.uniform(0, 1)))
        t = lp.truth[0]
        g = int(np.clip(np.floor(t.grades[:6].mean() + 0.5), 1, 5))
        k += 1
        if len(bins[g]) >= per_grade:
            continue
        plain = _tile(lp.frames[0], width).convert("RGB")
        outl = _outline(_tile(lp.frames[0], width), t.regions, t.grades, width / lp.frames.shape[2])
        pair = Image.new("RGB", (2 * width, plain.height), 0)
        pair.paste(plain, (0, 0))
        pair.paste(outl, (width, 0))
        ImageDraw.Draw(pair).text(
            (4, plain.height - 14), f"{lp.view} mean {t.grades[:6].mean():.2f}", fill=(255, 255, 255)
        )
        bins[g].append(pair)
    tiles: list[Image.Image] = []
    for g in range(5, 0, -1):
        label = Image.new("RGB", (110, bins[g][0].height if bins[g] else 40), GRADE_COLOURS[g - 1])
        ImageDraw.Draw(label).text((6, 8), f"grade {g}\n{_NAMES[g - 1]}", fill=(0, 0, 0))
        row = (
            [label] + bins[g] + [Image.new("RGB", (2 * width, label.height), 0)] * (per_grade - len(bins[g]))
        )
        w = sum(t.width for t in row)
        line = Image.new("RGB", (w, label.height), 0)
        x = 0
        for t in row:
            line.paste(t, (x, 0))
            x += t.width
        tiles.append(line)
    _grid(tiles, path, 1)


if __name__ == "__main__":
    contact_sheet(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 424242)
