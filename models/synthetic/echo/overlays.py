"""Burnt-in annotations a scanner draws outside the sector: text, ECG trace, grey bar, depth marks.

Everything is drawn on a separate layer and then removed inside the sector, so the sector
content is never touched (the analyzer ignores everything outside it).
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from .geometry import Raster, Sector, scan_map

__all__ = ["KIND_BAR", "KIND_ECG", "KIND_TEXT", "annotation_layer", "draw_annotations", "ecg_value"]

KIND_TEXT, KIND_ECG, KIND_BAR = 1, 2, 3


def ecg_value(phase: np.ndarray) -> np.ndarray:
    """Stylised ECG (arbitrary units) over the cardiac phase; R peak at phase 0 (end-diastole)."""
    ph = np.mod(phase + 0.5, 1.0) - 0.5
    return (
        1.0 * np.exp(-((ph / 0.012) ** 2))
        - 0.25 * np.exp(-(((ph - 0.025) / 0.012) ** 2))
        + 0.12 * np.exp(-(((ph + 0.12) / 0.03) ** 2))
        + 0.25 * np.exp(-(((ph - 0.3) / 0.05) ** 2))
    )


def annotation_layer(
    sector: Sector,
    raster: Raster,
    phase: float,
    view: str | None,
    lines: tuple[str, ...] = (),
    show_view: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Annotation grey levels (uint8) and kinds (0 none, 1 text, 2 ECG, 3 bar), both (H, W)."""
    h, w = raster.height, raster.width
    grey = Image.new("L", (w, h), 0)
    kind = Image.new("L", (w, h), 0)
    dg, dk = ImageDraw.Draw(grey), ImageDraw.Draw(kind)
    text = list(lines) or ["SYNTH US", f"{sector.depth_mm / 10:.0f} cm"]
    if view and show_view:
        text.append(view)
    y = 2
    for t in text:
        dg.text((3, y), t, fill=230)
        dk.text((3, y), t, fill=KIND_TEXT)
        y += 11
    dg.text((w - 70, 2), "MI 1.1 TIS 0.4", fill=200)
    dk.text((w - 70, 2), "MI 1.1 TIS 0.4", fill=KIND_TEXT)
    # grey bar on the right, top third
    x0, y0, y1 = w - max(6, w // 60) - 3, int(0.12 * h), int(0.42 * h)
    for yy in range(y0, y1):
        v = int(255 * (y1 - yy) / (y1 - y0))
        dg.line([(x0, yy), (w - 3, yy)], fill=v)
        dk.line([(x0, yy), (w - 3, yy)], fill=KIND_BAR)
    # ECG along the bottom: two beats, a sweep marker at the current phase
    band = max(8, h // 14)
    xs = np.linspace(0.1 * w, 0.9 * w, max(8, int(0.8 * w)))
    ph = (xs - xs[0]) / (xs[-1] - xs[0]) * 2.0
    ys = h - 4 - band * 0.2 - band * 0.7 * ecg_value(ph)
    pts = list(zip(xs.tolist(), ys.tolist(), strict=True))
    dg.line(pts, fill=210, width=1)
    dk.line(pts, fill=KIND_ECG, width=1)
    mx = xs[0] + (phase % 1.0) / 2.0 * (xs[-1] - xs[0])
    dg.line([(mx, h - 4 - band), (mx, h - 3)], fill=255)
    dk.line([(mx, h - 4 - band), (mx, h - 3)], fill=KIND_ECG)
    # depth marks every cm just outside the right sector edge
    for k in range(1, int(sector.depth_mm // 10) + 1):
        a = sector.half_angle + 0.05
        col = raster.apex_col + 10 * k * np.sin(a) / raster.dx
        row = raster.apex_row + 10 * k * np.cos(a) / raster.dz
        dg.rectangle([col - 0.5, row - 0.5, col + 0.5, row + 0.5], fill=180)
        dk.rectangle([col - 0.5, row - 0.5, col + 0.5, row + 0.5], fill=KIND_TEXT)
    inside = scan_map(sector, raster).inside.reshape(h, w)
    g = np.asarray(grey, dtype=np.uint8).copy()
    k_ = np.asarray(kind, dtype=np.uint8).copy()
    g[inside] = 0
    k_[inside] = 0
    return g, k_


def draw_annotations(
    image: np.ndarray,
    sector: Sector,
    raster: Raster,
    rng: np.random.Generator,
    phase: float,
    view: str | None,
) -> np.ndarray:
    """Grey image with annotations burnt in outside the sector (view text on some frames)."""
    g, k = annotation_layer(sector, raster, phase, view, show_view=bool(rng.random() < 0.5))
    return np.where(k > 0, np.maximum(image, g.astype(np.float32)), image)
