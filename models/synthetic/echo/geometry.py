"""Phased-array sector geometry, raster placement and cached scan-conversion maps.

Physical frame: transducer (virtual apex) at the origin, ``X`` lateral (mm, image right
positive), ``Z`` depth (mm, downwards). Beam angle ``theta`` is measured from the central
beam towards image right.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = ["Raster", "ScanMap", "Sector", "polar_grid", "raster_xz", "sample_geometry", "scan_map"]


@dataclass(frozen=True)
class Sector:
    """Sector of a phased-array probe: ``half_angle`` (rad), ``depth_mm``, beam-domain size."""

    half_angle: float
    depth_mm: float
    n_samples: int
    n_beams: int

    @property
    def angle_deg(self) -> float:
        """Full opening angle in degrees."""
        return float(np.degrees(2 * self.half_angle))


@dataclass(frozen=True)
class Raster:
    """Placement of the sector on an image raster.

    ``apex_row``/``apex_col`` are the (fractional) pixel position of the virtual apex;
    ``dz``/``dx`` the row/column spacing in mm per pixel (unequal after a resize).
    """

    height: int
    width: int
    apex_row: float
    apex_col: float
    dz: float
    dx: float


@dataclass(frozen=True)
class ScanMap:
    """Bilinear scan-conversion map from the beam domain onto a raster."""

    idx: np.ndarray  # (4, P) flat indices into the (n_samples, n_beams) beam image
    w: np.ndarray  # (4, P) float32 weights
    inside: np.ndarray  # (H*W,) bool: pixel lies inside the sector
    pix: np.ndarray  # (P,) flat raster indices of the inside pixels

    def apply(self, polar: np.ndarray, shape: tuple[int, int], fill: float = 0.0) -> np.ndarray:
        """Scan-convert one beam-domain image (float32 out, ``fill`` outside the sector)."""
        flat = polar.reshape(-1)
        vals = (flat[self.idx] * self.w).sum(axis=0)
        out = np.full(shape[0] * shape[1], fill, dtype=np.float32)
        out[self.pix] = vals
        return out.reshape(shape)


def raster_xz(raster: Raster) -> tuple[np.ndarray, np.ndarray]:
    """Physical ``X``, ``Z`` (mm) of every raster pixel centre, each (H, W) float32."""
    rows = (np.arange(raster.height, dtype=np.float32) - raster.apex_row) * raster.dz
    cols = (np.arange(raster.width, dtype=np.float32) - raster.apex_col) * raster.dx
    return np.broadcast_to(cols[None, :], (raster.height, raster.width)), np.broadcast_to(
        rows[:, None], (raster.height, raster.width)
    )


def polar_grid(sector: Sector) -> tuple[np.ndarray, np.ndarray]:
    """Sample depths ``r`` (n_samples,) and beam angles ``theta`` (n_beams,) of the beam domain."""
    r = (np.arange(sector.n_samples, dtype=np.float32) + 0.5) * (sector.depth_mm / sector.n_samples)
    th = -sector.half_angle + (np.arange(sector.n_beams, dtype=np.float32) + 0.5) * (
        2 * sector.half_angle / sector.n_beams
    )
    return r, th.astype(np.float32)


@lru_cache(maxsize=4)
def scan_map(sector: Sector, raster: Raster) -> ScanMap:
    """Scan-conversion map for ``sector`` on ``raster`` (cached: geometries repeat)."""
    x, z = raster_xz(raster)
    r = np.hypot(x, z).reshape(-1)
    th = np.arctan2(x, z).reshape(-1)
    inside = (r <= sector.depth_mm) & (np.abs(th) <= sector.half_angle) & (z.reshape(-1) >= 0)
    pix = np.flatnonzero(inside)
    fr = r[pix] / sector.depth_mm * sector.n_samples - 0.5
    fb = (th[pix] + sector.half_angle) / (2 * sector.half_angle) * sector.n_beams - 0.5
    fr = np.clip(fr, 0, sector.n_samples - 1.001)
    fb = np.clip(fb, 0, sector.n_beams - 1.001)
    r0, b0 = np.floor(fr).astype(np.int64), np.floor(fb).astype(np.int64)
    ar, ab = (fr - r0).astype(np.float32), (fb - b0).astype(np.float32)
    nb = sector.n_beams
    base = r0 * nb + b0
    idx = np.stack([base, base + 1, base + nb, base + nb + 1])
    w = np.stack([(1 - ar) * (1 - ab), (1 - ar) * ab, ar * (1 - ab), ar * ab]).astype(np.float32)
    return ScanMap(idx=idx, w=w, inside=inside, pix=pix)


def sample_geometry(
    rng: np.random.Generator,
    frame_hw: tuple[int, int],
    out_hw: tuple[int, int],
    n_samples: int,
    n_beams: int,
    bottom_margin: float = 0.0,
) -> tuple[Sector, Raster]:
    """A random sector (60–90°, 12–18 cm) placed like a scanner on a ``frame_hw`` frame.

    The frame is then resized (anisotropically) to ``out_hw``; ``bottom_margin`` (fraction of
    the height) is kept free below the sector for an ECG trace.
    """
    h0, w0 = frame_hw
    half = float(np.deg2rad(rng.uniform(30.0, 45.0)))
    depth = float(rng.uniform(120.0, 180.0))
    apex_row0 = float(rng.uniform(0.04, 0.1) * h0)
    dp = float(rng.uniform(0.82, 0.94) * (h0 * (1 - bottom_margin) - apex_row0))
    dp = min(dp, 0.97 * w0 / (2 * np.sin(half)))
    s = depth / dp
    apex_col0 = w0 / 2 + float(rng.uniform(-0.02, 0.02) * w0)
    h, w = out_hw
    raster = Raster(
        height=h,
        width=w,
        apex_row=apex_row0 * h / h0,
        apex_col=apex_col0 * w / w0,
        dz=s * h0 / h,
        dx=s * w0 / w,
    )
    return Sector(half_angle=half, depth_mm=depth, n_samples=n_samples, n_beams=n_beams), raster
