"""Image-quality degradations with known severity, and the severity-to-grade rule.

Every degradation is an analytic field over the beam domain ``(r, theta)`` and loop time
``tau`` in [0, 1), so its severity can be read anywhere: at beam samples (to render it) and at
region pixels (to grade it). Local kinds: ``haze`` (reverberation clutter, mostly in the LV near
the apex and the near field) and ``dropout`` (wall dropout blobs and rib/lung shadow cones,
which also move over the loop). Global kinds: ``noise`` (grows with depth), ``contrast``
(flat grey map), ``blur`` (lateral beam width) and ``gain`` (offset that may drift).

Grade rule (documented in docs/synthetic.md, version in ``GENERATOR_VERSION``)::

    s_eff = 1 - (1 - s_dropout)(1 - 0.9 s_haze)(1 - 0.7 s_noise)(1 - 0.6 s_contrast)
              (1 - 0.5 s_blur)(1 - 0.5 s_gain)
    grade = 5 - 4 s_eff          (continuous, 1..5; label = nearest integer)

Region severities: ``s_dropout`` = mean dropout over the region's pixels with parts outside the
sector counted as 1; ``s_haze`` = mean haze over the region; ``s_noise`` = noise severity at the
region's mean depth; the other three are global per frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "GRADE_WEIGHTS",
    "SEVERITY_KINDS",
    "Degradations",
    "grade_from_severity",
    "label_from_grade",
    "region_severity",
    "sample_degradations",
]

SEVERITY_KINDS: tuple[str, ...] = ("dropout", "haze", "noise", "contrast", "blur", "gain")
GRADE_WEIGHTS: dict[str, float] = {
    "dropout": 1.0,
    "haze": 0.9,
    "noise": 0.7,
    "contrast": 0.6,
    "blur": 0.5,
    "gain": 0.5,
}
GAIN_FULL_DB = 14.0  # a gain error of this size counts as severity 1


def grade_from_severity(sev: dict[str, float] | dict[str, np.ndarray]) -> float | np.ndarray:
    """Continuous grade 1..5 from per-kind severities in [0, 1] (monotone decreasing in each)."""
    keep = 1.0
    for kind, w in GRADE_WEIGHTS.items():
        keep = keep * (1.0 - w * np.clip(sev[kind], 0.0, 1.0))
    return 5.0 - 4.0 * (1.0 - keep)


def label_from_grade(grade: float | np.ndarray) -> np.ndarray:
    """Rounded label: nearest integer clamped to 1..5 (ARCHITECTURE.md §3)."""
    return np.clip(np.floor(np.asarray(grade) + 0.5), 1, 5).astype(np.uint8)


@dataclass(frozen=True)
class Degradations:
    """Degradations of one loop (or one training frame).

    Blob rows are ``r_c, theta_c, sigma_r, sigma_theta, amp, mod_amp, mod_phase``; shadow rows
    ``theta_c, half_width, r_start, amp, drift, mod_phase``. ``cycles`` is how many modulation
    periods (breathing, probe motion) the loop spans.
    """

    noise: float
    contrast: float
    blur: float
    gain_db: float
    gain_drift_db: float
    haze: np.ndarray = field(default_factory=lambda: np.zeros((0, 7), np.float32))
    dropout: np.ndarray = field(default_factory=lambda: np.zeros((0, 7), np.float32))
    shadows: np.ndarray = field(default_factory=lambda: np.zeros((0, 6), np.float32))
    cycles: float = 1.0
    depth_mm: float = 150.0

    def _mod(self, amp: float, mod_amp: float, mod_phase: float, tau: float) -> float:
        return float(np.clip(amp * (1 + mod_amp * np.sin(2 * np.pi * self.cycles * tau + mod_phase)), 0, 1))

    def _blobs(self, rows: np.ndarray, r: np.ndarray, th: np.ndarray, tau: float) -> np.ndarray:
        keep = np.ones(np.broadcast_shapes(r.shape, th.shape), dtype=np.float32)
        for rc, tc, sr, st, amp, ma, mp in rows:
            a = self._mod(amp, ma, mp, tau)
            keep *= 1 - a * np.exp(-0.5 * (((r - rc) / sr) ** 2 + ((th - tc) / st) ** 2))
        return 1 - keep

    def haze_at(self, r: np.ndarray, th: np.ndarray, tau: float) -> np.ndarray:
        """Haze severity field in [0, 1]."""
        return self._blobs(self.haze, r, th, tau)

    def dropout_at(self, r: np.ndarray, th: np.ndarray, tau: float) -> np.ndarray:
        """Dropout/shadow severity field in [0, 1] (1 = -30 dB, invisible)."""
        keep = 1 - self._blobs(self.dropout, r, th, tau)
        for tc, hw, r0, amp, drift, mp in self.shadows:
            a = self._mod(amp, 0.3, mp, tau)
            c = tc + drift * np.sin(2 * np.pi * self.cycles * tau + mp)
            lateral = np.clip((hw - np.abs(th - c)) / 0.03 + 0.5, 0, 1)
            radial = np.clip((r - r0) / 8.0, 0, 1)
            keep = keep * (1 - a * lateral * radial)
        return 1 - keep

    def noise_db(self, r: np.ndarray | float) -> np.ndarray:
        """Electronic noise level after TGC (dB re. myocardium), rising with depth."""
        return -44.0 + 42.0 * self.noise * (0.7 + 0.6 * np.asarray(r) / self.depth_mm)

    def gain_at(self, tau: float) -> float:
        """Gain offset (dB) at loop time ``tau`` (a slow drift/step over the loop)."""
        return float(self.gain_db + self.gain_drift_db * np.clip((tau - 0.3) / 0.4, 0, 1))


def _blob_rows(
    rng: np.random.Generator,
    centres: list[tuple[float, float]],
    n: int,
    amp_scale: float,
    sr: tuple[float, float],
    st: tuple[float, float],
) -> np.ndarray:
    rows = []
    for _ in range(n):
        rc, tc = centres[int(rng.integers(len(centres)))]
        rows.append(
            [
                rc + rng.normal(0, 6),
                tc + rng.normal(0, 0.04),
                rng.uniform(*sr),
                rng.uniform(*st),
                amp_scale * rng.uniform(0.35, 1.0),
                rng.uniform(0, 0.5),
                rng.uniform(0, 2 * np.pi),
            ]
        )
    return np.asarray(rows, np.float32).reshape(-1, 7)


def sample_degradations(
    rng: np.random.Generator,
    wall_points: dict[str, tuple[float, float]],
    apex_polar: tuple[float, float],
    half_angle: float,
    depth_mm: float,
    quality: float | None = None,
) -> Degradations:
    """Random degradations; ``quality`` 0 (clean) .. 1 (very poor), drawn if None.

    ``wall_points`` maps region ids to their (r, theta) centres; ``apex_polar`` is the LV apex.
    """
    if quality is None:  # a wide spread with extra mass at both ends (clean and very poor scans)
        u = rng.random()
        q = float(
            rng.uniform(0, 0.1) if u < 0.15 else rng.uniform(0.8, 1.0) if u < 0.3 else rng.uniform(0, 1)
        )
    else:
        q = float(quality)

    def maybe(prob: float) -> float:
        return float(q * rng.uniform(0.2, 1.0)) if rng.random() < prob else float(0.1 * q * rng.random())

    ra, ta = apex_polar
    haze_c = [(ra + rng.uniform(5, 30), ta) for _ in range(3)] + [
        (rng.uniform(8, 25), rng.uniform(-0.3, 0.3))
    ]
    n_h = int(rng.poisson(0.2 + 2.2 * q))
    haze = _blob_rows(rng, haze_c, n_h, 0.3 + 0.7 * q, (10, 28), (0.12, 0.35))
    names = list(wall_points)
    lateral = [n for n in names if n.endswith("_right") and not n.startswith("annulus")]
    n_d = int(rng.poisson(0.2 + 2.6 * q))
    cent = [wall_points[n] for n in names]
    if lateral and rng.random() < 0.35 + 0.4 * q:  # the lateral wall is the classic dropout site
        cent += [wall_points[n] for n in lateral] * 3
    drop = _blob_rows(rng, cent, n_d, 0.4 + 0.6 * q, (8, 18), (0.05, 0.14))
    shadows = []
    for _ in range(int(rng.random() < 0.12 + 0.45 * q) + int(rng.random() < 0.2 * q)):
        side = rng.choice([-1.0, 1.0])
        shadows.append(
            [
                side * rng.uniform(0.2, 1.0) * half_angle,
                rng.uniform(0.04, 0.16),
                rng.uniform(4, 25),
                rng.uniform(0.5, 1.0),
                rng.uniform(0, 0.08),
                rng.uniform(0, 2 * np.pi),
            ]
        )
    gain = float(rng.normal(0, 1) * 12 * q) if rng.random() < 0.4 else float(rng.normal(0, 1.5))
    drift = float(rng.normal(0, 8) * q) if rng.random() < 0.25 else 0.0
    return Degradations(
        noise=maybe(0.6),
        contrast=maybe(0.45),
        blur=maybe(0.45),
        gain_db=gain,
        gain_drift_db=drift,
        haze=haze,
        dropout=drop,
        shadows=np.asarray(shadows, np.float32).reshape(-1, 6),
        cycles=float(rng.uniform(0.3, 1.2)),
        depth_mm=depth_mm,
    )


def region_severity(
    deg: Degradations, r: np.ndarray, th: np.ndarray, in_sector: np.ndarray, tau: float
) -> dict[str, float]:
    """Severities of one region from its pixels' polar coordinates (unclipped region).

    Empty regions (should not happen) count as fully dropped out.
    """
    if r.size == 0:
        return {
            "dropout": 1.0,
            "haze": 0.0,
            "noise": 0.0,
            "contrast": deg.contrast,
            "blur": deg.blur,
            "gain": min(1.0, abs(deg.gain_at(tau)) / GAIN_FULL_DB),
        }
    drop = np.where(in_sector, deg.dropout_at(r, th, tau), 1.0)
    nd = float(deg.noise_db(float(r.mean())))
    return {
        "dropout": float(drop.mean()),
        "haze": float(deg.haze_at(r, th, tau).mean()),
        "noise": float(np.clip((nd + 44.0) / 40.0, 0, 1)),
        "contrast": float(deg.contrast),
        "blur": float(deg.blur),
        "gain": float(min(1.0, abs(deg.gain_at(tau)) / GAIN_FULL_DB)),
    }
