"""MR acquisition model: k-space corruption, noise and bias applied to a clean phantom.

One forward and one inverse 3D FFT per volume. Readout runs along ``i`` (patient L–R), the
phase-encode lines are indexed by (``k``: S–I partitions, outer loop; ``j``: A–P, inner loop),
acquired in linear order. Severities (0..1, see :mod:`.grade`) map to physical parameters:

* intrinsic resolution: Gaussian PSF, σ = 0.45 mm;
* ``motion``: respiratory motion blur, Gaussian MTF with σ = (1.5, 2.5, 4.0)·motion mm along
  (L–R, A–P, S–I) — the displacement distribution during a navigator-gated scan;
* ``ghosting``: periodic breathing during the acquisition, a displacement of
  3.5·ghosting mm (S–I) and 40 % of that (A–P) with a period of 3–8 partitions, applied as a phase
  error per phase-encode line → ghosts along the slow phase-encode axis;
* ``undersampling``: stack-of-stars radial sampling in the axial (A–P, L–R) k-plane with
  ``π/2·N / R`` spokes, R = 1 + 11·undersampling^1.2, gridded with ramp density compensation
  → streaks;
* ``bias``: smooth multiplicative receive field, log-amplitude 0.7·bias (linear gradient plus an
  anterior surface-coil bump);
* ``noise``: complex Gaussian noise, σ = 0.006 + 0.11·noise (blood ≈ 1), magnitude → Rician.
"""

from __future__ import annotations

import numpy as np
from scipy import fft

from .geometry import Grid

__all__ = ["degrade", "streak_weights"]

_PSF_SIGMA_MM = 0.45
_MOTION_SIGMA_MM = np.array([1.5, 2.5, 4.0])  # (x: L-R, y: A-P, z: S-I)
_WORKERS = 2


def _gauss_mtf(freq: np.ndarray, sigma: float) -> np.ndarray:
    return np.exp(-2.0 * np.pi**2 * sigma**2 * freq**2).astype(np.float32)


def streak_weights(n: int, undersampling: float, rng: np.random.Generator) -> np.ndarray | None:
    """Gridded radial sampling weights (n, n) on the (ky, kx) plane in FFT order, or None if full."""
    if undersampling <= 0.02:
        return None
    r_factor = 1.0 + 11.0 * undersampling**1.2
    spokes = max(int(np.ceil(np.pi / 2.0 * n / r_factor)), 4)
    theta = (np.arange(spokes) + rng.uniform()) * np.pi / spokes
    r = np.arange(-n // 2, n // 2, 0.5)
    ky = np.rint(np.outer(np.sin(theta), r)).astype(int) % n
    kx = np.rint(np.outer(np.cos(theta), r)).astype(int) % n
    hits = np.zeros((n, n), dtype=bool)
    hits[ky.ravel(), kx.ravel()] = True
    f = np.fft.fftfreq(n) * n
    radius = np.hypot(f[:, None], f[None, :])
    r0 = spokes / np.pi  # inside r0 the spokes are denser than the grid: fully sampled
    return (hits * np.maximum(1.0, radius / r0)).astype(np.float32)


def _ghost_phase(n: int, spacing: float, ghosting: float, rng: np.random.Generator) -> np.ndarray | None:
    """Per-line phase error exp(-2πi k·d(t)) of shape (n, n, 1) for periodic breathing."""
    if ghosting <= 0.0:
        return None
    amp = 3.5 * ghosting
    period = rng.uniform(3.0, 8.0) * n  # lines per breath
    phase0 = rng.uniform(0.0, 2.0 * np.pi)
    order = np.argsort(np.argsort(np.fft.fftfreq(n)))  # FFT index → acquisition position
    t = order[:, None] * n + order[None, :]
    breath = np.sin(2.0 * np.pi * t / period + phase0)
    breath += 0.15 * rng.normal(size=(n, 1))  # breath-to-breath variation per partition
    kz = np.fft.fftfreq(n, d=spacing)[:, None]
    ky = np.fft.fftfreq(n, d=spacing)[None, :]
    phi = -2.0 * np.pi * amp * breath * (kz + 0.4 * ky)
    return np.exp(1j * phi).astype(np.complex64)[:, :, None]


def _bias_field(grid: Grid, bias: float, rng: np.random.Generator) -> np.ndarray:
    x, y, z = grid.axes()
    half = grid.n * grid.spacing / 2.0
    d = rng.normal(size=3)
    d /= np.linalg.norm(d)
    lin = (x * d[0] + y * d[1] + z * d[2]) / np.float32(half)
    bump_c = np.array([rng.uniform(-0.3, 0.3), -0.9, rng.uniform(-0.3, 0.3)]) * half
    s2 = np.float32(2.0 * (0.6 * half) ** 2)
    bump = np.exp(-((x - bump_c[0]) ** 2) / s2) * np.exp(-((y - bump_c[1]) ** 2) / s2) * np.exp(
        -((z - bump_c[2]) ** 2) / s2
    )
    return np.exp(np.float32(0.7 * bias) * (0.6 * lin + 1.2 * bump - 0.5)).astype(np.float32)


def degrade(image: np.ndarray, grid: Grid, severity: dict[str, float], rng: np.random.Generator) -> np.ndarray:
    """Apply the acquisition model to a clean (z, y, x) image; returns float32 magnitude."""
    n, h = grid.n, grid.spacing
    kspace = fft.fftn(image.astype(np.float32, copy=False), workers=_WORKERS)
    f = np.fft.fftfreq(n, d=h)
    sig = np.sqrt(_PSF_SIGMA_MM**2 + (_MOTION_SIGMA_MM * severity["motion"]) ** 2)
    kspace *= _gauss_mtf(f, sig[2])[:, None, None]
    kspace *= _gauss_mtf(f, sig[1])[None, :, None]
    kspace *= _gauss_mtf(f, sig[0])[None, None, :]
    ghost = _ghost_phase(n, h, severity["ghosting"], rng)
    if ghost is not None:
        kspace *= ghost
    streaks = streak_weights(n, severity["undersampling"], rng)
    if streaks is not None:
        kspace *= streaks[None, :, :]
    img = fft.ifftn(kspace, workers=_WORKERS, overwrite_x=True)
    if severity["bias"] > 0.0:
        img *= _bias_field(grid, severity["bias"], rng)
    sigma = np.float32(0.006 + 0.11 * severity["noise"])
    img.real += sigma * rng.standard_normal(img.shape, dtype=np.float32)
    img.imag += sigma * rng.standard_normal(img.shape, dtype=np.float32)
    return np.abs(img).astype(np.float32)
