"""Cine loops: ``make_loop(rng, view, frames, height, width, small) -> EchoLoop``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .anatomy import VIEWS, HeartParams, HeartState, material_coords, sample_heart, state_at
from .bmode import complex_normal, scatterers
from .degrade import Degradations, sample_degradations
from .frame import FrameTruth, polar_xz, render_frame
from .geometry import Raster, Sector, sample_geometry, scan_map
from .overlays import annotation_layer
from .regions import region_centres
from .sample import apex_polar

__all__ = ["EchoLoop", "make_loop"]

_TEX_MM = 0.3  # tissue texture cell


@dataclass(frozen=True)
class EchoLoop:
    """One cine loop with per-frame ground truth.

    ``frames`` are uint8 (F, H, W) with annotations burnt in outside the sector; ``overlay`` marks
    those pixels by kind (1 text, 2 ECG, 3 grey bar) so a colour writer can tint them.
    ``pixel_spacing_mm`` is (row, column); ``ed_frames``/``es_frames`` are 0-based indices of the
    frames nearest end-diastole (phase 0) and end-systole (phase 0.35) in each cycle.
    """

    view: str
    frames: np.ndarray
    overlay: np.ndarray
    truth: tuple[FrameTruth, ...]
    phases: np.ndarray
    frame_time_ms: float
    heart_rate_bpm: float
    pixel_spacing_mm: tuple[float, float]
    sector: Sector
    raster: Raster
    sector_mask: np.ndarray
    heart: HeartParams
    degradations: Degradations
    ed_frames: tuple[int, ...]
    es_frames: tuple[int, ...]

    @property
    def grades(self) -> np.ndarray:
        """(F, 8) continuous grades."""
        return np.stack([t.grades for t in self.truth])


def _cycle_frames(phases: np.ndarray, target: float) -> tuple[int, ...]:
    """Index of the frame nearest ``target`` phase within each cycle that the loop covers."""
    unwrapped = np.unwrap(phases * 2 * np.pi) / (2 * np.pi)
    out = []
    for k in range(int(np.floor(unwrapped[0])) - 1, int(np.ceil(unwrapped[-1])) + 1):
        d = np.abs(unwrapped - (k + target))
        i = int(np.argmin(d))
        step = float(np.median(np.diff(unwrapped))) if len(unwrapped) > 1 else 1.0
        if d[i] <= 0.5 * step + 1e-9 and i not in out:
            out.append(i)
    return tuple(sorted(out))


def _scatter_fn(rng: np.random.Generator, sector: Sector):  # noqa: ANN202 - returns a ScatterFn
    static = scatterers(rng, (sector.n_samples, sector.n_beams))
    half = int(np.ceil(120 / _TEX_MM))
    tex = scatterers(rng, (2 * half, 2 * half))
    _, _, px, pz = polar_xz(sector)

    def fn(labels: np.ndarray, st: HeartState) -> np.ndarray:
        xm, um, near = material_coords(st, px, pz)
        ix = np.clip((xm / _TEX_MM).astype(np.int64) + half, 0, 2 * half - 1)
        iu = np.clip((um / _TEX_MM).astype(np.int64) + half, 0, 2 * half - 1)
        out = np.where(near, tex[iu, ix], static)
        blood = (labels == 1) | (labels == 3) | (labels == 4)
        fresh = complex_normal(rng, labels.shape)
        return np.where(blood, fresh, out)

    return fn


def make_loop(
    rng: np.random.Generator,
    view: str | None = None,
    frames: int | None = None,
    height: int = 600,
    width: int = 800,
    small: bool = False,
    quality: float | None = None,
) -> EchoLoop:
    """Render a cine loop of 20–80 frames (``small``: 10–16 frames on a 240×320 raster).

    Parameters
    ----------
    rng
        Source of all randomness.
    view
        ``"A4C"``, ``"A2C"``, ``"ALAX"`` or None (random).
    frames
        Frame count (any ≥ 1, e.g. 2 for the awkward 2-frame case); random if None.
    height, width
        Raster size; with ``small`` and the defaults, 240×320 is used instead.
    quality
        Degradation level 0 (clean) .. 1 (very poor); random if None.
    """
    if view is None:
        view = VIEWS[int(rng.integers(len(VIEWS)))]
    elif view not in VIEWS:
        raise ValueError(f"view must be one of {VIEWS}, not {view!r}")
    if small and (height, width) == (600, 800):
        height, width = 240, 320
    n = int(frames) if frames is not None else int(rng.integers(10, 17) if small else rng.integers(20, 81))
    if n < 1:
        raise ValueError("frames must be >= 1")
    n_samples = int(min(640, max(160, 0.9 * height)))
    n_beams = int(min(256, max(96, 0.3 * width)))
    sector, raster = sample_geometry(
        rng, (height, width), (height, width), n_samples, n_beams, bottom_margin=0.09
    )
    heart = sample_heart(rng, view, sector.depth_mm)
    st0 = state_at(heart, 0.0)
    deg = sample_degradations(
        rng, region_centres(st0), apex_polar(st0), sector.half_angle, sector.depth_mm, quality
    )
    hr = float(rng.uniform(52, 105))
    cycles = float(rng.uniform(1.0, 1.3) if small else rng.uniform(1.0, 2.2))
    per_cycle = max(n / cycles, 8.0) if n > 2 else 16.0
    frame_time = round(60000.0 / hr / per_cycle, 1)
    phase0 = float(rng.uniform(-0.1, 0.1))
    phases = np.mod(phase0 + np.arange(n) / per_cycle, 1.0)
    scatter = _scatter_fn(rng, sector)
    lines = ("SYNTH US", f"{sector.depth_mm / 10:.0f} cm", f"{1000 / frame_time:.0f} Hz", f"HR {hr:.0f}")
    out = np.zeros((n, height, width), dtype=np.uint8)
    ovl = np.zeros((n, height, width), dtype=np.uint8)
    truths = []
    for f in range(n):
        st = state_at(heart, float(phases[f]))
        img, truth = render_frame(st, deg, f / max(n, 1), sector, raster, rng, scatter)
        grey, kind = annotation_layer(sector, raster, float(phases[f]), view, lines, show_view=False)
        out[f] = np.where(kind > 0, grey, np.clip(img + 0.5, 0, 255)).astype(np.uint8)
        ovl[f] = kind
        truths.append(truth)
    return EchoLoop(
        view=view,
        frames=out,
        overlay=ovl,
        truth=tuple(truths),
        phases=phases.astype(np.float32),
        frame_time_ms=frame_time,
        heart_rate_bpm=round(hr, 1),
        pixel_spacing_mm=(raster.dz, raster.dx),
        sector=sector,
        raster=raster,
        sector_mask=scan_map(sector, raster).inside.reshape(height, width),
        heart=heart,
        degradations=deg,
        ed_frames=_cycle_frames(phases, 0.0),
        es_frames=_cycle_frames(phases, 0.35),
    )
