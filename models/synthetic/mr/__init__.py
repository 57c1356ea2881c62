"""Synthetic whole-heart MR volumes with ground truth (``cardiac-qa synth mr``).

Public API
----------
make_volume(rng, size=160, severity=None) -> MrVolume
    One 1 mm isotropic bright-blood whole-heart volume with degradations of known severity.
training_volume(rng, size=96) -> MrVolume
    The same, smaller and faster, with grade-diverse severities (for training).
generate_studies(out_dir, n, seed, small, preview) -> list[dict]
    DICOM series under ``out_dir/mr/`` plus ``mr/truth.json`` (and an optional contact sheet).

Array axes: ``volume[k, j, i]`` with i → patient Left, j → Posterior, k → Superior (DICOM LPS);
see :class:`MrVolume`.
"""

from __future__ import annotations

from .anatomy import INTENSITY, LABELS
from .grade import SEVERITY_KEYS, grade_from_severity, normalise_severity, round_grade, sample_severity
from .studies import generate_studies
from .volume import GENERATOR_VERSION, MrVolume, make_volume, training_volume

__all__ = [
    "GENERATOR_VERSION",
    "HELD_OUT_SEEDS",
    "INTENSITY",
    "LABELS",
    "SEVERITY_KEYS",
    "MrVolume",
    "generate_studies",
    "grade_from_severity",
    "make_volume",
    "normalise_severity",
    "round_grade",
    "sample_severity",
    "training_volume",
]

#: Seeds reserved for held-out evaluation of MR models (never used for training).
HELD_OUT_SEEDS: range = range(910000, 910100)
