"""Classic per-region image quality metrics (Van De Vyver et al., Methods; Rodriguez-Molares
et al. for gCNR).

The frame is first histogram-matched to a Gaussian N(127, 32) using the sector pixels only (so
the black surround and burnt-in text do not shift the mapping); the LV lumen is the background
for every region: intensity (mean), CR = μ_region / μ_LV, CNR = (μ_region − μ_LV) /
sqrt(σ²_region + σ²_LV), gCNR = 1 − Σ min(p_region, p_LV) over 256 bins.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri

__all__ = ["METRIC_NAMES", "gcnr", "histogram_match", "loop_metrics", "region_metrics"]

METRIC_NAMES: tuple[str, ...] = ("gcnr", "cnr", "cr", "intensity")


def histogram_match(frame: np.ndarray, sector: np.ndarray, mean: float = 127.0, std: float = 32.0) -> np.ndarray:
    """Map the sector pixels of ``frame`` onto N(mean, std) by rank (outside: 0); uint8 out."""
    out = np.zeros(frame.shape, dtype=np.uint8)
    vals = frame[sector]
    n = vals.size
    if n == 0:
        return out
    ranks = np.empty(n, dtype=np.float64)
    ranks[np.argsort(vals, kind="stable")] = np.arange(n)
    matched = mean + std * ndtri((ranks + 0.5) / n)
    out[sector] = np.clip(np.rint(matched), 0, 255).astype(np.uint8)
    return out


def gcnr(a: np.ndarray, b: np.ndarray, bins: int = 256) -> float:
    """Generalised CNR of two uint8 pixel samples: 1 − Σ min(p, q) over ``bins`` bins."""
    if a.size == 0 or b.size == 0:
        return float("nan")
    p = np.bincount(a.ravel(), minlength=bins)[:bins] / a.size
    q = np.bincount(b.ravel(), minlength=bins)[:bins] / b.size
    return float(1.0 - np.minimum(p, q).sum())


def region_metrics(matched: np.ndarray, region: np.ndarray, lv: np.ndarray) -> dict[str, float]:
    """The four metrics of one region on a histogram-matched uint8 frame (NaN when empty)."""
    r, b = matched[region], matched[lv]
    if r.size == 0 or b.size == 0:
        return dict.fromkeys(METRIC_NAMES, float("nan"))
    rf, bf = r.astype(np.float64), b.astype(np.float64)
    mu_r, mu_b = rf.mean(), bf.mean()
    denom = np.sqrt(rf.var() + bf.var())
    return {
        "gcnr": gcnr(r, b),
        "cnr": float((mu_r - mu_b) / denom) if denom > 0 else float("nan"),
        "cr": float(mu_r / mu_b) if mu_b > 0 else float("nan"),
        "intensity": float(mu_r),
    }


def loop_metrics(
    frames: np.ndarray, sector: np.ndarray, labels: np.ndarray, masks: np.ndarray, stride: int = 1
) -> np.ndarray:
    """Metrics (F, 8, 4) in METRIC_NAMES order for (F, 256, 256) frames; NaN for skipped frames.

    ``stride`` > 1 evaluates every ``stride``-th frame only (the rest stay NaN).
    """
    f, k = masks.shape[:2]
    out = np.full((f, k, len(METRIC_NAMES)), np.nan)
    for i in range(0, f, stride):
        matched = histogram_match(frames[i], sector)
        lv = (labels[i] == 1) & sector
        for j in range(k):
            m = region_metrics(matched, masks[i, j], lv)
            out[i, j] = [m[n] for n in METRIC_NAMES]
    return out
