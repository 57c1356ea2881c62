"""A non-cardiac MR volume (brain-like head phantom): an awkward case for series routing/QA."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .degrade import degrade
from .geometry import Grid, paint_ellipsoid, rotation

__all__ = ["noncardiac_volume"]

# air, scalp fat, skull, CSF, grey matter, white matter, lesion-like blobs
_INTENSITY = np.array([0.0, 0.8, 0.08, 1.0, 0.55, 0.42, 0.7], dtype=np.float32)


def noncardiac_volume(rng: np.random.Generator, size: int = 160, spacing_mm: float = 1.0) -> np.ndarray:
    """A T2-like head phantom (same axes and grid as :func:`~.volume.make_volume`), float32."""
    grid = Grid(int(size), float(spacing_mm))
    lab = np.zeros((grid.n,) * 3, dtype=np.uint8)
    frame = rotation(*rng.uniform(-0.1, 0.1, 3))
    s = rng.uniform(0.72, 0.85) * grid.n * grid.spacing / 160.0
    c = rng.uniform(-5, 5, 3)
    head = np.array([70.0, 88.0, 80.0]) * s
    for label, shrink in ((1, 0.0), (2, 5.0), (3, 11.0), (4, 14.0), (5, 24.0)):
        paint_ellipsoid(lab, grid, label, c, tuple(head - shrink * s), frame)
    for side in (-1.0, 1.0):  # lateral ventricles
        paint_ellipsoid(lab, grid, 3, c + frame.T @ (np.array([side * 9.0, 0.0, 2.0]) * s),
                        tuple(np.array([5.0, 22.0, 10.0]) * s), frame, where=np.array([4, 5]))
    for _ in range(int(rng.integers(2, 6))):
        p = c + rng.uniform(-35, 35, 3) * s
        paint_ellipsoid(lab, grid, 6, p, tuple(rng.uniform(3, 9, 3) * s), frame, where=np.array([4, 5]))
    img = ndimage.gaussian_filter(_INTENSITY[lab], 0.6)
    sev = {"motion": float(rng.uniform(0, 0.3)), "ghosting": 0.0, "undersampling": 0.0,
           "noise": float(rng.uniform(0.05, 0.3)), "bias": float(rng.uniform(0, 0.5))}
    return degrade(img, grid, sev, rng)
