"""Severity parameters, the ground-truth grade rule and grade-diverse severity sampling.

The rule (documented in ``docs/synthetic_mr.md``; changing it bumps ``GENERATOR_VERSION``):

* ``blur = sqrt(motion² + (0.5·undersampling)²)`` — the vessel-blur index: respiratory motion
  blurs the coronaries, radial undersampling smears them a little too.
* ``penalty = 0.90·blur + 0.25·ghosting + 0.15·undersampling + 0.20·noise + 0.06·bias``
  (vessel sharpness weighs most, as in Piccini et al.'s reading criteria: full motion alone
  makes a study nearly nondiagnostic, the other artefacts alone at most cost about 1–2.5 grades).
* ``grade = clip(4·(1 − penalty), 0, 4)``; ``grade_rounded`` = nearest 0.5.

Each severity is in [0, 1]; the grade is non-increasing in every severity.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "SEVERITY_KEYS",
    "WEIGHTS",
    "grade_from_severity",
    "normalise_severity",
    "round_grade",
    "sample_severity",
]

#: Degradations, each with a severity in [0, 1] (0 = none).
SEVERITY_KEYS: tuple[str, ...] = ("motion", "ghosting", "undersampling", "noise", "bias")
#: Penalty weights; ``blur`` is the vessel-blur index (motion and undersampling).
WEIGHTS: dict[str, float] = {"blur": 0.90, "ghosting": 0.25, "undersampling": 0.15, "noise": 0.20, "bias": 0.06}


def normalise_severity(severity: dict[str, float] | None) -> dict[str, float]:
    """All :data:`SEVERITY_KEYS`, missing ones 0, values clipped to [0, 1]; unknown keys rejected."""
    sev = dict(severity or {})
    unknown = set(sev) - set(SEVERITY_KEYS)
    if unknown:
        raise ValueError(f"unknown MR severity keys {sorted(unknown)}; known: {list(SEVERITY_KEYS)}")
    return {k: float(min(max(float(sev.get(k, 0.0)), 0.0), 1.0)) for k in SEVERITY_KEYS}


def grade_from_severity(severity: dict[str, float]) -> float:
    """Continuous ground-truth grade 0–4 (4 excellent) from the severities (module rule)."""
    s = normalise_severity(severity)
    blur = math.hypot(s["motion"], 0.5 * s["undersampling"])
    penalty = WEIGHTS["blur"] * blur + sum(WEIGHTS[k] * s[k] for k in ("ghosting", "undersampling", "noise", "bias"))
    return float(min(max(4.0 * (1.0 - penalty), 0.0), 4.0))


def round_grade(grade: float) -> float:
    """Nearest half grade (the paper's 0.5 steps), clamped to 0..4."""
    return float(min(max(math.floor(grade * 2.0 + 0.5) / 2.0, 0.0), 4.0))


def sample_severity(rng: np.random.Generator, target: float | None = None) -> dict[str, float]:
    """Severities whose grade is ``target`` (default: uniform on [0, 4]) — grade-diverse sampling.

    A random mixture direction is drawn (motion usually dominant, every degradation sometimes
    present), then scaled by bisection until the rule gives the target grade.
    """
    goal = float(rng.uniform(0.0, 4.0)) if target is None else float(min(max(target, 0.0), 4.0))
    mix = rng.dirichlet([3.0, 1.0, 1.0, 1.2, 1.0])
    mix *= rng.uniform(0.0, 1.0, mix.shape) < np.array([0.95, 0.5, 0.4, 0.7, 0.6])
    if mix.sum() == 0.0:
        mix[0] = 1.0
    mix /= mix.max()
    floor = rng.uniform(0.0, 0.06, mix.shape)  # every study has a trace of noise/bias/motion

    def sev(t: float) -> dict[str, float]:
        return normalise_severity(dict(zip(SEVERITY_KEYS, np.minimum(floor + t * mix, 1.0), strict=True)))

    if grade_from_severity(sev(1e3)) > goal:  # this mixture cannot get that bad: add motion
        mix[0] = 1.0
    if grade_from_severity(sev(0.0)) <= goal:
        lo, hi = 0.0, 0.0
    else:
        lo, hi = 0.0, 1.0
        while grade_from_severity(sev(hi)) > goal and hi < 64.0:
            hi *= 2.0
        for _ in range(40):
            mid = 0.5 * (lo + hi)
            if grade_from_severity(sev(mid)) > goal:
                lo = mid
            else:
                hi = mid
    return {k: round(v, 6) for k, v in sev(hi).items()}
