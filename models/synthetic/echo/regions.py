"""The 8 regions of Van De Vyver et al., Appendix A, from the analytic heart contours.

Annulus points A/B are the endocardial base points (where the myocardium meets the LA, or the
aorta in ALAX); the apex C is the endocardial apex. Each endocardial side is split into three
equal lengths (D, E left; F, G right); H..L are the nearest epicardial points; the six polygons
follow the contours between them and are intersected with the myocardium label. The annulus
regions are discs of 2 mm radius (ovals on an anisotropic raster, as the paper's footnote 4).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from .anatomy import HeartState, contours
from .geometry import Raster

__all__ = ["ANNULUS_RADIUS_MM", "REGION_IDS", "Landmarks", "RegionSet", "divide", "region_centres"]

ANNULUS_RADIUS_MM = 2.0
_N = 301  # contour samples; index _N // 2 is the apex
# Same order as analyzers.base.result.ECHO_REGION_IDS (models/ may not import analyzers/;
# a unit test checks that the two agree).
REGION_IDS: tuple[str, ...] = (
    "basal_left",
    "mid_left",
    "apical_left",
    "apical_right",
    "mid_right",
    "basal_right",
    "annulus_left",
    "annulus_right",
)


@dataclass(frozen=True)
class Landmarks:
    """Landmarks in physical mm (X, Z) and raster pixels (row, col)."""

    annulus_left_mm: tuple[float, float]
    annulus_right_mm: tuple[float, float]
    apex_mm: tuple[float, float]
    annulus_left_px: tuple[float, float]
    annulus_right_px: tuple[float, float]
    apex_px: tuple[float, float]


@dataclass(frozen=True)
class RegionSet:
    """Region masks (8, H, W) not yet clipped to the sector, and the landmarks."""

    masks: np.ndarray
    landmarks: Landmarks


def _cut_points(side: np.ndarray) -> tuple[int, int]:
    seg = np.hypot(*np.diff(side, axis=0).T)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    return int(np.searchsorted(cum, cum[-1] / 3)), int(np.searchsorted(cum, 2 * cum[-1] / 3))


def _nearest(points: np.ndarray, curve: np.ndarray) -> int:
    return int(np.argmin(np.hypot(curve[:, 0] - points[0], curve[:, 1] - points[1])))


def _to_px(xz: np.ndarray, raster: Raster) -> np.ndarray:
    """(N, 2) physical X, Z → (N, 2) pixel col, row (PIL order)."""
    return np.column_stack([xz[:, 0] / raster.dx + raster.apex_col, xz[:, 1] / raster.dz + raster.apex_row])


def divide(st: HeartState, labels_full: np.ndarray, raster: Raster) -> RegionSet:
    """Region masks on ``raster`` from the heart state and its unclipped label map."""
    endo, epi = contours(st, _N)
    c = _N // 2
    d, e = _cut_points(endo[: c + 1])
    f, g = (c + i for i in _cut_points(endo[c:]))
    cuts = [0, d, e, c, f, g, _N - 1]
    ecuts = [0] + [_nearest(endo[i], epi) for i in cuts[1:-1]] + [_N - 1]
    ecuts = list(np.maximum.accumulate(ecuts))  # keep the epicardial cuts ordered
    myo = labels_full == 2
    h, w = labels_full.shape
    masks = np.zeros((8, h, w), dtype=bool)
    taken = np.zeros((h, w), dtype=bool)
    for k in range(6):
        poly = np.concatenate([endo[cuts[k] : cuts[k + 1] + 1], epi[ecuts[k] : ecuts[k + 1] + 1][::-1]])
        img = Image.new("1", (w, h), 0)
        ImageDraw.Draw(img).polygon([tuple(p) for p in _to_px(poly, raster).tolist()], fill=1, outline=1)
        m = np.asarray(img, dtype=bool) & myo & ~taken
        masks[k] = m
        taken |= m
    rows = np.arange(h, dtype=np.float32)[:, None]
    cols = np.arange(w, dtype=np.float32)[None, :]
    ry = max(ANNULUS_RADIUS_MM / raster.dz, 1.0)
    rx = max(ANNULUS_RADIUS_MM / raster.dx, 1.0)
    px = _to_px(np.stack([endo[0], endo[-1], endo[c]]), raster)
    for k, (col, row) in zip((6, 7), px[:2], strict=True):
        masks[k] = ((cols - col) / rx) ** 2 + ((rows - row) / ry) ** 2 <= 1.0
    lm = Landmarks(
        annulus_left_mm=(float(endo[0, 0]), float(endo[0, 1])),
        annulus_right_mm=(float(endo[-1, 0]), float(endo[-1, 1])),
        apex_mm=(float(endo[c, 0]), float(endo[c, 1])),
        annulus_left_px=(float(px[0, 1]), float(px[0, 0])),
        annulus_right_px=(float(px[1, 1]), float(px[1, 0])),
        apex_px=(float(px[2, 1]), float(px[2, 0])),
    )
    return RegionSet(masks=masks, landmarks=lm)


def region_centres(st: HeartState) -> dict[str, tuple[float, float]]:
    """Approximate centre (r mm, theta rad) of each region, for placing degradations."""
    endo, epi = contours(st, _N)
    c = _N // 2
    d, e = _cut_points(endo[: c + 1])
    f, g = (c + i for i in _cut_points(endo[c:]))
    cuts = [0, d, e, c, f, g, _N - 1]
    pts = []
    for k in range(6):
        mid = (cuts[k] + cuts[k + 1]) // 2
        pts.append(0.5 * (endo[mid] + epi[_nearest(endo[mid], epi)]))
    pts += [endo[0], endo[-1]]
    return {
        name: (float(np.hypot(*p)), float(np.arctan2(p[0], p[1])))
        for name, p in zip(REGION_IDS, pts, strict=True)
    }
