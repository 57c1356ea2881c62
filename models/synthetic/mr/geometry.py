"""Grid and shape primitives for the MR phantom (patient LPS millimetres).

Array convention used throughout ``models.synthetic.mr``: a volume is indexed ``[k, j, i]``
and voxel ``(k, j, i)`` sits at the patient (DICOM LPS) position
``origin + (i * dx, j * dy, k * dz)``: ``i`` grows toward patient **Left**, ``j`` toward
**Posterior**, ``k`` toward **Superior**. ``vol[k]`` is therefore an axial slice in the usual
radiological display (patient right on the image left, anterior at the top).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Grid", "paint_ellipsoid", "paint_tube", "rotation", "tube_occupancy"]


@dataclass(frozen=True)
class Grid:
    """A cubic voxel grid of ``n`` voxels per side, ``spacing`` mm, centred on LPS (0, 0, 0)."""

    n: int
    spacing: float = 1.0

    @property
    def origin(self) -> np.ndarray:
        """LPS position (x, y, z) of voxel (0, 0, 0) in mm."""
        c = -(self.n - 1) / 2.0 * self.spacing
        return np.array([c, c, c])

    def axes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Broadcastable coordinate arrays (x, y, z) with shapes (1,1,n), (1,n,1), (n,1,1)."""
        a = (np.arange(self.n, dtype=np.float32) - (self.n - 1) / 2.0) * np.float32(self.spacing)
        return a[None, None, :], a[None, :, None], a[:, None, None]

    def to_index(self, p: np.ndarray) -> np.ndarray:
        """LPS mm (..., 3) as (x, y, z) → fractional index (..., 3) as (i, j, k)."""
        return (np.asarray(p, dtype=np.float64) - self.origin) / self.spacing


def rotation(rx: float, ry: float, rz: float) -> np.ndarray:
    """Rotation matrix for rotations (radians) about x, then y, then z."""
    cx, sx, cy, sy, cz, sz = np.cos(rx), np.sin(rx), np.cos(ry), np.sin(ry), np.cos(rz), np.sin(rz)
    mx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    my = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    mz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return mz @ my @ mx


def _box(grid: Grid, lo_mm: np.ndarray, hi_mm: np.ndarray) -> tuple[slice, slice, slice] | None:
    """Index slices (k, j, i) of the voxels whose centres lie in the LPS box, or None if empty."""
    lo = np.floor(grid.to_index(lo_mm)).astype(int)
    hi = np.ceil(grid.to_index(hi_mm)).astype(int) + 1
    lo = np.clip(lo, 0, grid.n)
    hi = np.clip(hi, 0, grid.n)
    if np.any(hi <= lo):
        return None
    return slice(lo[2], hi[2]), slice(lo[1], hi[1]), slice(lo[0], hi[0])


def _local_coords(grid: Grid, sl: tuple[slice, slice, slice]) -> tuple[np.ndarray, ...]:
    x, y, z = grid.axes()
    return x[:, :, sl[2]], y[:, sl[1], :], z[sl[0], :, :]


def paint_ellipsoid(
    labels: np.ndarray,
    grid: Grid,
    label: int,
    centre: np.ndarray,
    axes_mm: tuple[float, float, float],
    frame: np.ndarray,
    halfspace: tuple[np.ndarray, float] | None = None,
    where: np.ndarray | None = None,
) -> None:
    """Set ``labels`` to ``label`` inside an oriented ellipsoid (in place).

    Parameters
    ----------
    frame
        3×3 matrix whose rows are the ellipsoid's unit axes in LPS.
    halfspace
        Optional ``(normal, offset)``: keep only points with ``(p - centre)·normal >= offset``.
    where
        Optional set of labels (uint8 array) that may be overwritten; others are kept.
    """
    r = float(max(axes_mm))
    sl = _box(grid, centre - r, centre + r)
    if sl is None:
        return
    x, y, z = _local_coords(grid, sl)
    dx, dy, dz = x - np.float32(centre[0]), y - np.float32(centre[1]), z - np.float32(centre[2])
    q = np.zeros(np.broadcast_shapes(dx.shape, dy.shape, dz.shape), dtype=np.float32)
    for row, a in zip(frame, axes_mm, strict=True):
        t = dx * np.float32(row[0]) + dy * np.float32(row[1]) + dz * np.float32(row[2])
        q += (t / np.float32(a)) ** 2
    mask = q <= 1.0
    if halfspace is not None:
        nrm, off = halfspace
        t = dx * np.float32(nrm[0]) + dy * np.float32(nrm[1]) + dz * np.float32(nrm[2])
        mask &= t >= off
    sub = labels[sl]
    if where is not None:
        mask &= np.isin(sub, where)
    sub[mask] = label


def _segment_distance(
    x: np.ndarray, y: np.ndarray, z: np.ndarray, a: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Distance from grid points to segment a→b, and the segment parameter t in [0, 1]."""
    d = (b - a).astype(np.float32)
    dd = float(d @ d) or 1e-6
    px, py, pz = x - np.float32(a[0]), y - np.float32(a[1]), z - np.float32(a[2])
    t = np.clip((px * d[0] + py * d[1] + pz * d[2]) / np.float32(dd), 0.0, 1.0)
    ex, ey, ez = px - t * d[0], py - t * d[1], pz - t * d[2]
    return np.sqrt(ex * ex + ey * ey + ez * ez), t


def tube_occupancy(occ: np.ndarray, grid: Grid, points: np.ndarray, radii: np.ndarray) -> None:
    """Max-accumulate the partial-volume occupancy (0..1) of a tube into ``occ`` (in place).

    ``points`` (m, 3) is the LPS centreline in mm, ``radii`` (m,) the radius in mm at each point
    (linearly interpolated along each segment). Occupancy is ``clip(r + h/2 - d, 0, 1) / h``-like
    with ``h`` the voxel size, i.e. an anti-aliased edge one voxel wide.
    """
    h = np.float32(grid.spacing)
    for p0, p1, r0, r1 in zip(points[:-1], points[1:], radii[:-1], radii[1:], strict=True):
        rmax = max(r0, r1) + grid.spacing
        sl = _box(grid, np.minimum(p0, p1) - rmax, np.maximum(p0, p1) + rmax)
        if sl is None:
            continue
        x, y, z = _local_coords(grid, sl)
        dist, t = _segment_distance(x, y, z, p0, p1)
        r = np.float32(r0) + t * np.float32(r1 - r0)
        o = np.clip((r - dist) / h + 0.5, 0.0, 1.0)
        np.maximum(occ[sl], o, out=occ[sl])


def paint_tube(
    labels: np.ndarray,
    grid: Grid,
    label: int,
    points: np.ndarray,
    radii: np.ndarray,
    where: np.ndarray | None = None,
) -> None:
    """Set ``labels`` to ``label`` inside a tube (binary, voxel centres within the radius)."""
    for p0, p1, r0, r1 in zip(points[:-1], points[1:], radii[:-1], radii[1:], strict=True):
        rmax = max(r0, r1) + grid.spacing
        sl = _box(grid, np.minimum(p0, p1) - rmax, np.maximum(p0, p1) + rmax)
        if sl is None:
            continue
        x, y, z = _local_coords(grid, sl)
        dist, t = _segment_distance(x, y, z, p0, p1)
        mask = dist <= np.float32(r0) + t * np.float32(r1 - r0)
        sub = labels[sl]
        if where is not None:
            mask &= np.isin(sub, where)
        sub[mask] = label
