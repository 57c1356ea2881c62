"""Agreement figures for MR grades (Piccini et al.): R², linearly weighted κ on 0.5 steps, MAE."""

from __future__ import annotations

import numpy as np

__all__ = ["grade_metrics", "linear_kappa", "round_half"]


def round_half(x: np.ndarray) -> np.ndarray:
    """Round to the nearest 0.5 and clip to 0–4 (the reading scale)."""
    return np.clip(np.floor(np.asarray(x, dtype=float) * 2 + 0.5) / 2, 0.0, 4.0)


def linear_kappa(a: np.ndarray, b: np.ndarray, step: float = 0.5, n_levels: int = 9) -> float:
    """Linearly weighted κ (the paper's Eq 2) of two sets of graded observations."""
    ia = np.round(np.asarray(a) / step).astype(int)
    ib = np.round(np.asarray(b) / step).astype(int)
    o = np.zeros((n_levels, n_levels))
    np.add.at(o, (ia, ib), 1.0)
    o /= o.sum()
    e = np.outer(o.sum(1), o.sum(0))
    w = np.abs(np.arange(n_levels)[:, None] - np.arange(n_levels)[None, :])
    den = float((w * e).sum())
    return 1.0 - float((w * o).sum()) / den if den > 0 else 1.0


def grade_metrics(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """``r2`` (squared Pearson, as the paper), ``r2_cod`` (coefficient of determination),
    ``kappa`` (linear, grades rounded to 0.5), ``mae``, ``rmse``, ``n``."""
    p = np.asarray(pred, dtype=float)
    t = np.asarray(truth, dtype=float)
    r = float(np.corrcoef(p, t)[0, 1]) if len(p) > 1 and p.std() > 0 and t.std() > 0 else 0.0
    ss_res = float(((p - t) ** 2).sum())
    ss_tot = float(((t - t.mean()) ** 2).sum())
    return {
        "r2": round(r * r, 4),
        "r2_cod": round(1.0 - ss_res / ss_tot, 4) if ss_tot > 0 else 0.0,
        "kappa": round(linear_kappa(round_half(p), round_half(t)), 4),
        "mae": round(float(np.abs(p - t).mean()), 4),
        "rmse": round(float(np.sqrt(((p - t) ** 2).mean())), 4),
        "n": float(len(p)),
    }
