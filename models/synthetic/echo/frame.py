"""One B-mode frame with its ground truth (labels, regions, landmarks, severities, grades)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .anatomy import HeartState, evaluate
from .bmode import render_polar
from .degrade import SEVERITY_KINDS, Degradations, grade_from_severity, region_severity
from .geometry import Raster, Sector, polar_grid, raster_xz, scan_map
from .regions import Landmarks, divide

__all__ = ["FrameTruth", "ScatterFn", "polar_xz", "render_frame"]

ScatterFn = Callable[[np.ndarray, HeartState], np.ndarray]


@dataclass(frozen=True)
class FrameTruth:
    """Ground truth of one frame on its raster.

    ``severities`` is (8, 6) in the order of ``SEVERITY_KINDS``; ``in_sector`` is False for a
    region with more than half of its pixels outside the sector (Appendix A step 7).
    """

    labels: np.ndarray
    regions: np.ndarray
    grades: np.ndarray
    severities: np.ndarray
    in_sector: np.ndarray
    landmarks: Landmarks
    lv_area_mm2: float


@lru_cache(maxsize=4)
def polar_xz(sector: Sector) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    r, th = polar_grid(sector)
    return r, th, (r[:, None] * np.sin(th)[None, :]), (r[:, None] * np.cos(th)[None, :])


@lru_cache(maxsize=4)
def _raster_polar(raster: Raster) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x, z = raster_xz(raster)
    return np.ascontiguousarray(x), np.ascontiguousarray(z), np.hypot(x, z), np.arctan2(x, z)


def render_frame(
    st: HeartState,
    deg: Degradations,
    tau: float,
    sector: Sector,
    raster: Raster,
    rng: np.random.Generator,
    scatter_fn: ScatterFn | None = None,
) -> tuple[np.ndarray, FrameTruth]:
    """Render one frame: float32 image (H, W) in 0..255 (0 outside the sector) and its truth."""
    r, th, px, pz = polar_xz(sector)
    polar_labels, amp = evaluate(st, px, pz, echo=True)
    assert amp is not None
    scatter = scatter_fn(polar_labels, st) if scatter_fn is not None else None
    polar = render_polar(amp, r, th, deg, tau, rng, scatter)
    shape = (raster.height, raster.width)
    sm = scan_map(sector, raster)
    image = sm.apply(polar, shape)
    x, z, rr, tt = _raster_polar(raster)
    labels_full, _ = evaluate(st, x, z, echo=False)
    inside = sm.inside.reshape(shape)
    rs = divide(st, labels_full, raster)
    sev = np.zeros((8, len(SEVERITY_KINDS)), dtype=np.float32)
    in_sector = np.zeros(8, dtype=bool)
    for k in range(8):
        idx = np.nonzero(rs.masks[k])
        ins = inside[idx]
        in_sector[k] = ins.size > 0 and ins.mean() >= 0.5
        s = region_severity(deg, rr[idx], tt[idx], ins, tau)
        sev[k] = [s[kind] for kind in SEVERITY_KINDS]
    grades = grade_from_severity({kind: sev[:, i] for i, kind in enumerate(SEVERITY_KINDS)})
    lv_area = float((labels_full == 1).sum() * raster.dx * raster.dz)
    truth = FrameTruth(
        labels=np.where(inside, labels_full, 0).astype(np.uint8),
        regions=rs.masks & inside[None],
        grades=np.asarray(grades, dtype=np.float32),
        severities=sev,
        in_sector=in_sector,
        landmarks=rs.landmarks,
        lv_area_mm2=lv_area,
    )
    return image, truth
