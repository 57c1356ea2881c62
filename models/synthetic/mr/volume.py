"""The fast volume APIs: :func:`make_volume` and :func:`training_volume`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .anatomy import render_anatomy
from .degrade import degrade
from .geometry import Grid
from .grade import grade_from_severity, normalise_severity, round_grade, sample_severity

__all__ = ["GENERATOR_VERSION", "MrVolume", "make_volume", "training_volume"]

#: Version of the MR generator (anatomy, acquisition model, grade rule). Bump on any change that
#: alters the images or the ground truth, then re-run the held-out evaluations.
GENERATOR_VERSION = "mr-1.0.0"


@dataclass(frozen=True)
class MrVolume:
    """A synthetic whole-heart MR volume with its ground truth.

    Axes and patient orientation (DICOM LPS): ``volume[k, j, i]`` is the voxel at LPS position
    ``origin_mm + (i·dx, j·dy, k·dz)`` with ``spacing_mm = (dz, dy, dx)``; ``i`` grows toward
    patient **Left**, ``j`` toward **Posterior**, ``k`` toward **Superior** (so ``volume[k]`` is
    an axial slice seen from the feet: patient right on the image left, anterior at the top;
    ``volume[::-1, j]`` a coronal and ``volume[::-1, :, i]`` a sagittal image, head at the top).
    The grid is centred on LPS (0, 0, 0); the heart centre lies within about 2 cm of it.

    Attributes
    ----------
    volume
        float32 magnitude image, blood ≈ 1.0 before the bias field (arbitrary units).
    grade
        Continuous ground-truth grade 0–4 (4 excellent), :func:`~.grade.grade_from_severity`.
    grade_rounded
        ``grade`` rounded to the nearest 0.5.
    severity
        Severity (0..1) of each degradation in :data:`~.grade.SEVERITY_KEYS`.
    labels
        uint8 tissue map of the clean anatomy (:data:`~.anatomy.LABELS`; 12 = coronary lumen).
    spacing_mm
        Voxel size (dz, dy, dx) in mm.
    origin_mm
        LPS (x, y, z) position in mm of voxel (0, 0, 0).
    """

    volume: np.ndarray
    grade: float
    grade_rounded: float
    severity: dict[str, float]
    labels: np.ndarray
    spacing_mm: tuple[float, float, float] = (1.0, 1.0, 1.0)
    origin_mm: tuple[float, float, float] = field(default=(0.0, 0.0, 0.0))


def make_volume(
    rng: np.random.Generator,
    size: int = 160,
    severity: dict[str, float] | None = None,
    *,
    spacing_mm: float = 1.0,
) -> MrVolume:
    """Render one random whole-heart volume of ``size``³ voxels with known degradations.

    Parameters
    ----------
    rng
        The only source of randomness: the same generator state gives the same volume.
    size
        Voxels per side (field of view ``size·spacing_mm`` mm, centred near the heart).
    severity
        Degradation severities (keys of :data:`~.grade.SEVERITY_KEYS`, 0..1, missing → 0);
        ``None`` samples them so that grades cover 0–4 uniformly (:func:`~.grade.sample_severity`).
    spacing_mm
        Isotropic voxel size; 1 mm by default (the analyzer's working resolution). Larger values
        (e.g. 2.5 mm at ``size=64``) give whole-thorax fields of view for small test series.
    """
    if size < 16:
        raise ValueError("size must be at least 16 voxels")
    sev = sample_severity(rng) if severity is None else normalise_severity(severity)
    grid = Grid(int(size), float(spacing_mm))
    anatomy = render_anatomy(rng, grid)
    vol = degrade(anatomy.image, grid, sev, rng)
    grade = grade_from_severity(sev)
    s = float(spacing_mm)
    return MrVolume(
        volume=vol,
        grade=grade,
        grade_rounded=round_grade(grade),
        severity=sev,
        labels=anatomy.labels,
        spacing_mm=(s, s, s),
        origin_mm=tuple(float(v) for v in grid.origin),
    )


def training_volume(rng: np.random.Generator, size: int = 96) -> MrVolume:
    """A grade-diverse training volume at 1 mm (``size``³, centred on the heart region; < 1 s at 96³)."""
    return make_volume(rng, size=size)
