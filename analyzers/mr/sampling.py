"""Patient-axis 1 mm grid, robust normalisation, patch centres and 128×128 patch extraction.

The series is resampled to a 1 mm isotropic grid aligned with the patient axes (LPS) via the
affine from ImagePositionPatient / ImageOrientationPatient. Only the voxels that are used are
computed: a patch is the resampled volume's plane through its centre, so patches are sampled
directly from the native stack at the grid's points with ``scipy.ndimage.map_coordinates``
(linear) — the same numbers as resampling the whole volume first, at a fraction of the cost.
:func:`resample_isotropic` builds the whole grid when a caller needs it (overlays).

Array convention (as ``models.synthetic.mr``): a patient-axis volume is ``vol[k, j, i]`` with
``i`` toward patient Left (+x), ``j`` toward Posterior (+y), ``k`` toward Superior (+z).
Patch pixel ``[r, c]``: axial rows → posterior, columns → left; coronal rows → inferior,
columns → left; sagittal rows → inferior, columns → posterior (radiological display).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .errors import NotAssessable
from .volume import SeriesVolume

__all__ = [
    "HALF_EDGE_MM",
    "ORIENTATIONS",
    "PATCH",
    "PatientGrid",
    "extract_patches",
    "normalise",
    "patch_centres",
    "patch_coords",
    "plane_axes",
    "resample_isotropic",
    "robust_range",
]

PATCH = 128
HALF_EDGE_MM = 40.0
ORIENTATIONS: tuple[str, ...] = ("axial", "sagittal", "coronal")
#: percentiles mapped to 0 and 1 by the normalisation
LOW_PCT, HIGH_PCT = 1.0, 99.5


def plane_axes(orientation: str) -> tuple[np.ndarray, np.ndarray]:
    """Patient (LPS) unit vectors of a patch's row (down) and column (right) directions."""
    x, y, z = np.eye(3)
    if orientation == "axial":
        return y, x
    if orientation == "coronal":
        return -z, x
    if orientation == "sagittal":
        return -z, y
    raise ValueError(f"unknown orientation {orientation!r}")


def robust_range(values: np.ndarray, max_samples: int = 1_000_000) -> tuple[float, float]:
    """Low/high percentiles (``LOW_PCT``, ``HIGH_PCT``) on a strided subsample of ``values``."""
    flat = values.reshape(-1)
    step = max(1, flat.size // max_samples)
    lo, hi = np.percentile(flat[::step], [LOW_PCT, HIGH_PCT])
    return float(lo), float(hi)


def normalise(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Map ``lo → 0`` and ``hi → 1`` (float32), clipped to [0, 1.5]."""
    if not hi > lo:
        raise NotAssessable("the image is blank (constant intensity)")
    y = (np.asarray(x, dtype=np.float32) - np.float32(lo)) * np.float32(1.0 / (hi - lo))
    return np.clip(y, 0.0, 1.5, out=y)


@dataclass(frozen=True)
class PatientGrid:
    """A 1 mm grid along the patient axes covering the series' bounding box.

    ``origin`` is the LPS position of grid voxel ``(0, 0, 0)`` (the bounding box's low corner,
    which is a native voxel centre for axis-aligned series so 1 mm series are not interpolated);
    ``shape`` is ``(nk, nj, ni)`` = (z, y, x) voxels; ``centre`` is the box centre in LPS mm.
    """

    origin: np.ndarray
    shape: tuple[int, int, int]
    centre: np.ndarray

    @classmethod
    def covering(cls, vol: SeriesVolume) -> PatientGrid:
        corners = vol.corners()
        lo, hi = corners.min(axis=0), corners.max(axis=0)
        n = np.floor(hi - lo + 1e-6).astype(int) + 1
        return cls(origin=lo, shape=(int(n[2]), int(n[1]), int(n[0])), centre=(lo + hi) / 2.0)

    def snap(self, points: np.ndarray) -> np.ndarray:
        """Move LPS points (…, 3) to the nearest grid voxel centre."""
        return self.origin + np.round(np.asarray(points) - self.origin)


def _halton(n: int, base: int, start: int = 1) -> np.ndarray:
    out = np.empty(n)
    for m in range(n):
        i, f, r = m + start, 1.0, 0.0
        while i > 0:
            f /= base
            r += f * (i % base)
            i //= base
        out[m] = r
    return out


#: octant sign vectors (x: -1 right / +1 left, y: -1 anterior / +1 posterior, z: +1 superior / -1
#: inferior) in the order of MR_REGION_IDS: RAS, RAI, RPS, RPI, LAS, LAI, LPS, LPI
OCTANT_SIGNS = np.array(
    [[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (1, -1)], dtype=float
)


def patch_centres(n_per_orientation: int, half_edge: float = HALF_EDGE_MM) -> dict[str, np.ndarray]:
    """Deterministic, well spread patch-centre offsets (mm, LPS, ``(n, 3)``) per orientation.

    Offsets lie in the cube of half-edge ``half_edge`` around the volume centre. Patch ``m`` of
    orientation ``o`` goes into octant ``(m + 3·o) mod 8`` (a Halton point inside it), so every
    octant receives patches once there are 8 or more in all.
    """
    out: dict[str, np.ndarray] = {}
    for o, name in enumerate(ORIENTATIONS):
        m = np.arange(n_per_orientation)
        start = 1 + o * 97
        pts = np.stack([_halton(n_per_orientation, b, start) for b in (2, 3, 5)], axis=1)
        # keep offsets off the octant planes so each centre belongs clearly to one octant
        mag = (0.1 + 0.9 * pts) * half_edge
        out[name] = OCTANT_SIGNS[(m + 3 * o) % 8] * mag
    return out


def _index_coords(vol: SeriesVolume, points: np.ndarray) -> np.ndarray:
    """LPS points (..., 3) → fractional native indices as (k, j, i) rows for map_coordinates."""
    inv = np.linalg.inv(vol.affine)
    flat = points.reshape(-1, 3)
    ijk = flat @ inv[:3, :3].T + inv[:3, 3]
    return ijk[:, ::-1].T  # (3, M): k, j, i


def _sample(data: np.ndarray, coords: np.ndarray, cval: float) -> np.ndarray:
    """Linear interpolation of ``data`` at index ``coords`` (3, ...); exact gather on integer points."""
    rounded = np.round(coords)
    if np.abs(coords - rounded).max(initial=0.0) < 1e-4:
        # 1 mm axis-aligned series: grid points are voxel centres, no interpolation needed
        idx = rounded.astype(np.intp)
        ok = np.ones(idx.shape[1:], dtype=bool)
        for ax in range(3):
            ok &= (idx[ax] >= 0) & (idx[ax] < data.shape[ax])
        out = np.full(idx.shape[1:], cval, dtype=np.float32)
        out[ok] = data[idx[0][ok], idx[1][ok], idx[2][ok]]
        return out
    return ndimage.map_coordinates(data, coords, order=1, mode="constant", cval=cval, prefilter=False)


def patch_coords(vol: SeriesVolume, centres: np.ndarray, orientations: list[str], size: int = PATCH) -> np.ndarray:
    """Native fractional indices ``(3, N, size, size)`` as (k, j, i) of the patches' grid points."""
    inv = np.linalg.inv(vol.affine)
    m, t = inv[:3, :3], inv[:3, 3]
    offs = np.arange(size, dtype=np.float64) - size // 2
    out = np.empty((3, len(centres), size, size))
    for n, (c, o) in enumerate(zip(np.asarray(centres, dtype=float), orientations, strict=True)):
        r, q = plane_axes(o)
        base, dr, dq = m @ c + t, m @ r, m @ q  # index of the centre and per-pixel steps (i, j, k)
        for ax, src in ((0, 2), (1, 1), (2, 0)):
            out[ax, n] = base[src] + offs[:, None] * dr[src] + offs[None, :] * dq[src]
    return out


def extract_patches(
    vol: SeriesVolume, centres: np.ndarray, orientations: list[str], lo: float, hi: float, size: int = PATCH
) -> np.ndarray:
    """Normalised patches ``(N, 1, size, size)`` float32 centred on LPS ``centres`` (N, 3).

    Points outside the series read as ``lo`` (normalised 0, the background).
    """
    vals = _sample(vol.data, patch_coords(vol, centres, orientations, size), lo)
    return normalise(vals.reshape(len(centres), 1, size, size), lo, hi)


def resample_isotropic(vol: SeriesVolume, grid: PatientGrid, lo: float, hi: float, step: float = 1.0) -> np.ndarray:
    """The whole series on the patient-axis grid (``step`` mm), normalised, ``(z, y, x)`` float32."""
    nz, ny, nx = (int(np.floor((s - 1) / step)) + 1 for s in grid.shape)
    z, y, x = (np.arange(n) * step for n in (nz, ny, nx))
    out = np.empty((nz, ny, nx), dtype=np.float32)
    yy, xx = np.meshgrid(y, x, indexing="ij")
    for k in range(nz):  # slab by slab keeps the coordinate arrays small
        pts = grid.origin + np.stack([xx, yy, np.full_like(xx, z[k])], axis=-1)
        out[k] = _sample(vol.data, _index_coords(vol, pts), lo).reshape(ny, nx)
    return normalise(out, lo, hi)
