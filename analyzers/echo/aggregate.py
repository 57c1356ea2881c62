"""Loop aggregation and decisions (ARCHITECTURE.md §3): per-region mean/min/fraction_ok, ED/ES
from the LV area curve, global score, approved_for_strain, ef_suitable, rescan_recommended."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import find_peaks

from config.settings import EchoSection

__all__ = ["LoopSummary", "ed_es_frames", "summarise"]

MYO = slice(0, 6)


@dataclass(frozen=True)
class LoopSummary:
    """Aggregates over a loop (region order = ECHO_REGION_IDS; frames 0-based here)."""

    mean: np.ndarray  # (8,)
    min: np.ndarray  # (8,)
    fraction_ok: np.ndarray  # (8,)
    in_sector: np.ndarray  # (8,) bool
    approved: np.ndarray  # (6,) bool
    global_score: float
    ed: tuple[int, ...]
    es: tuple[int, ...]
    ef_suitable: bool
    rescan: bool
    reasons: tuple[str, ...]


def _extrema(a: np.ndarray, prom: float, rng: float) -> np.ndarray:
    """Maxima of ``a``: interior peaks (prominence, ≥ 5 frames apart) plus a first/last frame that
    is within 15 % of the range of the loop's maximum and ≥ 5 frames from an interior peak."""
    padded = np.pad(a, 1, mode="edge")  # a flat edge is never an interior peak
    peaks = list(find_peaks(padded, prominence=prom, distance=5)[0] - 1)
    for edge in (0, len(a) - 1):
        if a[edge] >= a.max() - 0.15 * rng and all(abs(edge - p) >= 5 for p in peaks):
            peaks.append(edge)
    return np.array(sorted(set(peaks)), dtype=int)


def ed_es_frames(lv_area: np.ndarray) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """End-diastole = LV area maxima, end-systole = minima, one per cycle (0-based).

    Interior extrema must stand out by 10 % of the area range and be ≥ 5 frames apart; the first
    and last frame count when they are as extreme as a real one (loops often start at ED). A loop
    without a clear cycle gets the global maximum / minimum.
    """
    a = np.asarray(lv_area, dtype=float)
    if a.size == 0:
        return (), ()
    if a.size >= 3:
        a = np.convolve(np.pad(a, 1, mode="edge"), np.ones(3) / 3, mode="valid")
    rng = float(a.max() - a.min())
    if a.size < 5 or rng <= 0:
        return (int(np.argmax(a)),), (int(np.argmin(a)),)
    ed, es = _extrema(a, 0.1 * rng, rng), _extrema(-a, 0.1 * rng, rng)
    if ed.size == 0:
        ed = np.array([int(np.argmax(a))])
    if es.size == 0:
        es = np.array([int(np.argmin(a))])
    return tuple(int(i) for i in ed), tuple(int(i) for i in es)


def _names(ids: list[int], names: list[str]) -> str:
    return ", ".join(names[i] for i in ids)


def summarise(scores: np.ndarray, in_sector_frac: np.ndarray, lv_area: np.ndarray, cfg: EchoSection,
              names: list[str]) -> LoopSummary:
    """Aggregate per-frame scores (F, 8) into the loop result and its decisions.

    ``in_sector_frac`` (F, 8) is each region's share inside the sector per frame; a region is
    in the sector when that share is ≥ 0.5 on at least half of the frames.
    """
    mean, mn = scores.mean(axis=0), scores.min(axis=0)
    frac = (scores >= cfg.strain_min_score).mean(axis=0)
    in_sector = ((in_sector_frac >= 0.5).mean(axis=0) >= 0.5)
    approved = (frac[MYO] >= cfg.strain_min_fraction) & in_sector[MYO]
    inside = np.flatnonzero(in_sector[MYO])
    global_score = float(scores[:, inside].mean()) if inside.size else float(scores[:, MYO].mean())
    ed, es = ed_es_frames(lv_area)
    key = sorted(set(ed) | set(es))
    low_at_key = [j for j in range(6) if (scores[key, j] < cfg.ef_min_score).any()]
    outside = [j for j in range(6) if not in_sector[j]]
    ef_ok = not low_at_key and not outside
    failed = [j for j in range(6) if mean[j] < 2.0]
    reasons: list[str] = []
    rescan = False
    if global_score < cfg.rescan_below_global:
        rescan = True
        reasons.append(f"global score {global_score:.2f} is below {cfg.rescan_below_global:g}")
    if len(failed) >= cfg.rescan_min_failed_segments:
        rescan = True
        reasons.append(f"{len(failed)} segments have a mean score below 2.0: {_names(failed, names)}")
    if low_at_key:
        reasons.append(f"not suitable for EF: {_names(low_at_key, names)} below "
                       f"{cfg.ef_min_score:g} at an ED or ES frame")
    if outside:
        reasons.append(f"outside the sector: {_names(outside, names)}")
    not_ok = [j for j in range(6) if not approved[j] and in_sector[j]]
    if not_ok:
        reasons.append(f"not approved for strain (fewer than {cfg.strain_min_fraction:.0%} of frames "
                       f"≥ {cfg.strain_min_score:g}): {_names(not_ok, names)}")
    return LoopSummary(mean, mn, frac, in_sector, approved, global_score, ed, es, ef_ok, rescan,
                       tuple(reasons))
