"""Fast training frames: ``training_sample(rng, size, view) -> EchoSample``.

One random heart, cardiac phase, scanner geometry and degradation set per call; the frame is
rendered directly on the ``size``×``size`` model raster as if a scanner frame (600×800, 480×640,
768×1024 or 708×1016) had been resized whole, so the pixel spacing is anisotropic like arqee's
input. Burnt-in annotations outside the sector are drawn on some frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .anatomy import VIEWS, HeartState, contours, sample_heart, state_at
from .degrade import sample_degradations
from .frame import FrameTruth, render_frame
from .geometry import Raster, Sector, sample_geometry, scan_map
from .overlays import draw_annotations
from .regions import region_centres

__all__ = ["FRAME_SHAPES", "EchoSample", "apex_polar", "training_sample", "training_sample_with_truth"]

FRAME_SHAPES: tuple[tuple[int, int], ...] = ((600, 800), (480, 640), (768, 1024), (708, 1016))


@dataclass(frozen=True)
class EchoSample:
    """One training frame on the model raster.

    Attributes
    ----------
    image
        float32 (size, size), 0..255: the whole B-mode frame with its sector, resized.
    labels
        uint8 (size, size): 0 background, 1 LV, 2 MYO, 3 LA, 4 AO (inside the sector only).
    regions
        bool (8, size, size) in ``ECHO_REGION_IDS`` order, clipped to the sector.
    grades
        float32 (8,): continuous grade 1..5 per region.
    view
        ``"A4C"``, ``"A2C"`` or ``"ALAX"``.
    sector
        bool (size, size): pixels inside the imaging sector.
    """

    image: np.ndarray
    labels: np.ndarray
    regions: np.ndarray
    grades: np.ndarray
    view: str
    sector: np.ndarray


def _n_beams(sector_half: float, size: int) -> int:
    return int(np.clip(round(size * sector_half / 0.7 * 0.55), 48, 512))


def training_sample(rng: np.random.Generator, size: int = 256, view: str | None = None) -> EchoSample:
    """Render one random training frame with its ground truth at ``size``×``size``.

    Parameters
    ----------
    rng
        Source of all randomness (same state → same sample).
    size
        Model raster edge in pixels.
    view
        One of ``VIEWS``; drawn uniformly if None.
    """
    sample, _ = training_sample_with_truth(rng, size, view)
    return sample


def training_sample_with_truth(
    rng: np.random.Generator, size: int = 256, view: str | None = None
) -> tuple[EchoSample, FrameTruth]:
    """Like :func:`training_sample`, also returning the full :class:`FrameTruth`."""
    if view is None:
        view = VIEWS[int(rng.integers(len(VIEWS)))]
    elif view not in VIEWS:
        raise ValueError(f"view must be one of {VIEWS}, not {view!r}")
    frame_hw = FRAME_SHAPES[int(rng.integers(len(FRAME_SHAPES)))]
    sector0, raster = sample_geometry(rng, frame_hw, (size, size), n_samples=size, n_beams=128)
    sector = Sector(sector0.half_angle, sector0.depth_mm, size, _n_beams(sector0.half_angle, size))
    heart = sample_heart(rng, view, sector.depth_mm)
    st = state_at(heart, float(rng.uniform(0, 1)))
    deg = sample_degradations(rng, region_centres(st), apex_polar(st), sector.half_angle, sector.depth_mm)
    tau = float(rng.uniform(0, 1))
    image, truth = render_frame(st, deg, tau, sector, raster, rng)
    inside = _sector_mask(sector, raster)
    if rng.random() < 0.5:
        image = draw_annotations(image, sector, raster, rng, phase=float(rng.uniform(0, 1)), view=view)
    return (
        EchoSample(
            image=np.clip(image, 0, 255).astype(np.float32),
            labels=truth.labels,
            regions=truth.regions,
            grades=truth.grades,
            view=view,
            sector=inside,
        ),
        truth,
    )


def apex_polar(st: HeartState) -> tuple[float, float]:
    endo, _ = contours(st, 3)
    x, z = endo[1]
    return float(np.hypot(x, z)), float(np.arctan2(x, z))


def _sector_mask(sector: Sector, raster: Raster) -> np.ndarray:
    return scan_map(sector, raster).inside.reshape(raster.height, raster.width)
