"""Regional grades (octants, orientations) and the dense grade map from patch grades."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from analyzers.base import MR_REGION_IDS, MR_SCALE, RegionResult

from .sampling import PATCH, plane_axes

__all__ = ["OCTANT_NAMES", "grade_map", "octant_index", "region_results"]

OCTANT_NAMES: dict[str, str] = {
    "RAS": "right anterior superior",
    "RAI": "right anterior inferior",
    "RPS": "right posterior superior",
    "RPI": "right posterior inferior",
    "LAS": "left anterior superior",
    "LAI": "left anterior inferior",
    "LPS": "left posterior superior",
    "LPI": "left posterior inferior",
}
_OCTANTS = MR_REGION_IDS[:8]
_ORIENTS = MR_REGION_IDS[8:]


def octant_index(offsets: np.ndarray) -> np.ndarray:
    """Octant (index into RAS..LPI) of LPS offsets from the volume centre, ``(N, 3)`` → ``(N,)``.

    Patient right = −x, anterior = −y, superior = +z (DICOM LPS); a point on a dividing plane
    goes to the left / posterior / inferior side.
    """
    off = np.asarray(offsets, dtype=float).reshape(-1, 3)
    left = off[:, 0] >= 0
    post = off[:, 1] >= 0
    inf = off[:, 2] <= 0
    return (4 * left + 2 * post + inf).astype(int)


def _region(rid: str, name: str, grades: np.ndarray, fallback: float) -> RegionResult:
    if grades.size == 0:
        # too few patches for this region (patches_per_orientation < 3): report the global grade
        return RegionResult(id=rid, name=name, score=fallback, label=MR_SCALE.label_for(fallback),
                            min=None, metrics={"patches": 0.0, "sd": None})
    score = float(np.clip(grades.mean(), 0.0, 4.0))
    return RegionResult(
        id=rid,
        name=name,
        score=round(score, 3),
        label=MR_SCALE.label_for(score),
        min=round(float(np.clip(grades.min(), 0.0, 4.0)), 3),
        metrics={"patches": float(grades.size), "sd": round(float(grades.std()), 3)},
    )


def region_results(
    grades: np.ndarray, offsets: np.ndarray, orientations: Sequence[str], global_score: float
) -> tuple[RegionResult, ...]:
    """Octant and orientation regions (ids and order of ``MR_REGION_IDS``) from patch grades."""
    grades = np.asarray(grades, dtype=float)
    octs = octant_index(offsets)
    ors = np.asarray(orientations)
    out = [_region(rid, OCTANT_NAMES[rid], grades[octs == i], global_score) for i, rid in enumerate(_OCTANTS)]
    out += [_region(o, f"{o} patches", grades[ors == o], global_score) for o in _ORIENTS]
    return tuple(out)


def grade_map(
    shape: tuple[int, int, int],
    origin: np.ndarray,
    centres: np.ndarray,
    orientations: Sequence[str],
    grades: np.ndarray,
    step: float = 4.0,
    sigma_mm: float = 32.0,
) -> np.ndarray:
    """Dense grade map: patch grades splatted on a patient-axis grid, ``(z, y, x)`` float32.

    Each patch contributes its grade to the 128 mm square it covers, thickened to a 128 mm cube
    around its centre, with a Gaussian weight (``sigma_mm``) around the centre; a voxel gets the
    weighted mean of the patches covering it, NaN where none does.

    Parameters
    ----------
    shape, origin
        The grid to fill: ``(nz, ny, nx)`` voxels of ``step`` mm, voxel ``(0, 0, 0)`` at LPS
        ``origin`` (for the analysis grid: ``MrAnalysis.grid`` with ``step`` 1).
    centres, orientations, grades
        Patch centres (LPS mm, ``(N, 3)``), their orientations and grades.
    """
    nz, ny, nx = shape
    z = origin[2] + np.arange(nz) * step
    y = origin[1] + np.arange(ny) * step
    x = origin[0] + np.arange(nx) * step
    num = np.zeros(shape, dtype=np.float32)
    den = np.zeros(shape, dtype=np.float32)
    half = PATCH / 2.0
    for c, o, g in zip(np.asarray(centres), orientations, np.asarray(grades, dtype=float), strict=True):
        plane_axes(o)  # validates the orientation name
        # axis-aligned patches: the covered box is the cube of half-edge 64 mm around the centre
        sl = []
        for coord, ci in ((z, c[2]), (y, c[1]), (x, c[0])):
            inside = np.nonzero(np.abs(coord - ci) <= half)[0]
            sl.append(slice(inside[0], inside[-1] + 1) if inside.size else slice(0, 0))
        wz = np.exp(-((z[sl[0]] - c[2]) ** 2) / (2 * sigma_mm**2))
        wy = np.exp(-((y[sl[1]] - c[1]) ** 2) / (2 * sigma_mm**2))
        wx = np.exp(-((x[sl[2]] - c[0]) ** 2) / (2 * sigma_mm**2))
        w = (wz[:, None, None] * wy[None, :, None] * wx[None, None, :]).astype(np.float32)
        num[sl[0], sl[1], sl[2]] += w * np.float32(g)
        den[sl[0], sl[1], sl[2]] += w
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(den > 0, num / np.maximum(den, 1e-12), np.nan).astype(np.float32)
    return np.clip(out, 0.0, 4.0)
