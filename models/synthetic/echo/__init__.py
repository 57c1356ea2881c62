"""Synthetic apical echo (A4C, A2C, ALAX) with exact ground truth: training API, loops, studies.

Public API (stable; the echo model trains against it):

- ``training_sample(rng, size=256, view=None) -> EchoSample``: one frame on the model raster.
- ``make_loop(rng, view=None, frames=None, height=600, width=800, small=False) -> EchoLoop``.
- ``generate_studies(out_dir, n, seed, small, preview)``: DICOM files plus ``echo/truth.json``.
- ``GENERATOR_VERSION``: bump whenever a rule that changes images or grades changes.
"""

from __future__ import annotations

GENERATOR_VERSION = "echo-synth/1.0.0"

from .anatomy import VIEWS  # noqa: E402
from .degrade import GRADE_WEIGHTS, SEVERITY_KINDS, grade_from_severity, label_from_grade  # noqa: E402
from .loop import EchoLoop, make_loop  # noqa: E402
from .regions import REGION_IDS  # noqa: E402
from .sample import EchoSample, training_sample  # noqa: E402
from .studies import generate_studies  # noqa: E402

__all__ = [
    "GENERATOR_VERSION",
    "GRADE_WEIGHTS",
    "REGION_IDS",
    "SEVERITY_KINDS",
    "VIEWS",
    "EchoLoop",
    "EchoSample",
    "generate_studies",
    "grade_from_severity",
    "label_from_grade",
    "make_loop",
    "training_sample",
]
