"""``cardiac-qa train mr``: train the IQ-DCNN pack ``mr-iqdcnn`` on the synthetic phantom.

Recipe (presets below): patches from grade-diverse phantom volumes (``models.train.mr_data``,
cached under ``.cache/mr``), a small cross-validated grid of hyper-parameters (``full``), a
final fit with a volume-level hold-out used for a linear calibration, held-out metrics on the
reserved seeds (``models.synthetic.mr.HELD_OUT_SEEDS``), ONNX export, pack written with
:func:`models.train.packaging.write_pack`. Reproduces the shipped pack's metrics within the
tolerance in its manifest, not bit for bit.
"""

from __future__ import annotations

import logging
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.nets.iqdcnn import PATCH

from .export import export_onnx
from .mr_data import (
    QUANT,
    TRAIN_SEED_BASE,
    PatchSet,
    generator_fingerprint,
    load_cache,
    make_patchset,
    normalise_volume,
    sample_patches,
)
from .mr_fit import HyperParams, cross_validate, fit, fit_calibration, predict, volume_means
from .mr_metrics import grade_metrics
from .packaging import hardware_summary, write_pack

__all__ = ["GRID", "PACK_NAME", "PRESETS", "evaluate_heldout", "train_packs"]

log = logging.getLogger(__name__)

PACK_NAME = "mr-iqdcnn"
CACHE_DIR = Path(".cache/mr")
#: the cross-validated grid (≤ 8 settings; sized to a shared 2-core CPU): hp1 × hp3, hp2 and hp4 fixed
GRID: list[HyperParams] = [
    HyperParams(first_kernel=k, keep_prob=0.5, lr=lr) for k in (5, 7) for lr in (1e-3, 3e-3)
]
PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"n_volumes": 4, "per_orientation": 2, "sizes": (64,), "epochs": 1.0, "max_steps": 3,
             "grid": [HyperParams()], "folds": 0, "cv_epochs": 0, "heldout": 2, "heldout_size": 64,
             "use_cache": False},
    "provisional": {"n_volumes": 320, "per_orientation": 16, "sizes": None, "epochs": 4.0, "max_steps": None,
                    "grid": [HyperParams()], "folds": 0, "cv_epochs": 0, "heldout": 40, "heldout_size": 160,
                    "use_cache": True},
    "full": {"n_volumes": 320, "per_orientation": 16, "sizes": None, "epochs": 5.0, "max_steps": None,
             "grid": GRID, "folds": 3, "cv_epochs": 1.0, "cv_time_budget_s": 150.0, "heldout": 40,
             "heldout_size": 160, "use_cache": True},
}
TOLERANCE = {"r2": 0.06, "kappa": 0.08, "mae": 0.08}


def _patchset(cfg: dict[str, Any], seed: int) -> PatchSet:
    from models.synthetic.mr import GENERATOR_VERSION

    n = int(cfg["n_volumes"])
    if cfg["use_cache"]:
        ps = load_cache(CACHE_DIR, GENERATOR_VERSION, max_volumes=n)
        if ps is not None and ps.n_volumes >= min(n, 40):
            log.info("using %d cached volumes (%d patches)", ps.n_volumes, len(ps.patches))
            return ps
    seeds = [TRAIN_SEED_BASE + 50_000 * (seed % 10) + m for m in range(n)]
    kwargs = {"sizes": cfg["sizes"]} if cfg["sizes"] else {}
    return make_patchset(seeds, int(cfg["per_orientation"]), **kwargs)


def evaluate_heldout(model: torch.nn.Module, n: int, size: int = 160, per_orientation: int = 16,
                     calibration: tuple[float, float] | None = None) -> dict[str, Any]:
    """Volume-level figures on the first ``n`` reserved held-out seeds (torch model, random centres)."""
    from models.synthetic.mr import HELD_OUT_SEEDS, make_volume

    seeds = list(HELD_OUT_SEEDS)[:n]
    preds, truths = [], []
    for s in seeds:
        mv = make_volume(np.random.default_rng(s), size=size)
        p, _, _ = sample_patches(normalise_volume(mv.volume), np.random.default_rng(s + 1), per_orientation)
        g = predict(model, np.clip(np.round(p * QUANT), 0, 255).astype(np.uint8))  # type: ignore[arg-type]
        if calibration:
            g = g * calibration[0] + calibration[1]
        preds.append(float(np.clip(g, 0, 4).mean()))
        truths.append(mv.grade)
    return {"seeds": f"{seeds[0]}..{seeds[-1]}", "volume_size": size, **grade_metrics(np.array(preds), np.array(truths))}


def _scale() -> dict[str, Any]:
    return {"min": 0, "max": 4, "step": 0.5,
            "labels": ["nondiagnostic", "marked blurring", "moderate blurring", "mild blurring", "excellent"]}


def _site_heldout(model: torch.nn.Module, ps: PatchSet, volumes: np.ndarray,
                  calibration: tuple[float, float] | None) -> dict[str, Any]:
    """Volume-level figures on a site's held-out series (never trained or calibrated on)."""
    idx = np.nonzero(np.isin(ps.volume, volumes))[0]
    pred, truth = volume_means(ps, idx, predict(model, ps.patches[idx]))
    if calibration:
        pred = np.clip(pred * calibration[0] + calibration[1], 0, 4)
    return {"series": int(len(volumes)), **grade_metrics(pred, truth)}


def train_packs(out_dir: Path, preset: str = "full", seed: int = 0, site: PatchSet | None = None,
                site_note: str = "") -> list[Path]:
    """Train ``mr-iqdcnn`` with ``preset`` (tiny | provisional | full) and write it under ``out_dir``.

    With ``site`` (a site's labelled series, ``dicom_node.site_data.mr_patchset``) the model is
    trained on those instead of the phantom: 20 % of the series are held out for the manifest's
    metrics, 10 % of the rest calibrate, the rest train. ``site_note`` describes the data.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    from models.synthetic.mr import GENERATOR_VERSION

    cfg = PRESETS[preset]
    # one thread by default: on a shared, loaded machine two threads ran 2.3× slower than one
    torch.set_num_threads(int(os.environ.get("CARDIAC_QA_TRAIN_THREADS", "1")))
    t0 = time.time()
    ps = site if site is not None else _patchset(cfg, seed)
    vol_ids = np.arange(ps.n_volumes)
    rng = np.random.default_rng(seed)
    site_heldout = np.zeros(0, dtype=np.int64)
    if site is not None:
        site_heldout = rng.choice(vol_ids, size=max(1, int(round(0.2 * ps.n_volumes))), replace=False)
        vol_ids = np.setdiff1d(vol_ids, site_heldout)
    n_val = max(1, int(round(0.1 * len(vol_ids)))) if len(vol_ids) > 4 else 1
    val_v = rng.choice(vol_ids, size=n_val, replace=False)
    train_v = np.setdiff1d(vol_ids, val_v)
    grid: list[HyperParams] = cfg["grid"]
    cv: list[dict[str, Any]] = []
    hp = grid[0]
    if len(grid) > 1 and cfg["folds"] > 1:
        cv = cross_validate(ps, train_v, grid, cfg["folds"], cfg["cv_epochs"], seed,
                            time_budget_s=cfg.get("cv_time_budget_s"))
        best = cv[0]["hyper_parameters"]
        hp = HyperParams(**{**best, "channels": tuple(best["channels"])})
    tr = np.nonzero(np.isin(ps.volume, train_v))[0]
    va = np.nonzero(np.isin(ps.volume, val_v))[0]
    model, info = fit(ps, tr, hp, cfg["epochs"], seed, max_steps=cfg["max_steps"])
    vp, vt = volume_means(ps, va, predict(model, ps.patches[va]))
    calibration = fit_calibration(vp, vt)
    val_metrics = grade_metrics(np.clip(vp * calibration[0] + calibration[1], 0, 4) if calibration else vp, vt)
    if site is not None:
        heldout = _site_heldout(model, ps, site_heldout, calibration)
    else:
        heldout = evaluate_heldout(model, cfg["heldout"], cfg["heldout_size"], calibration=calibration)
    wall = round(time.time() - t0, 1)
    log.info("held-out: %s; validation: %s; %.0f s", heldout, val_metrics, wall)
    tmp = Path(out_dir) / f".{PACK_NAME}.onnx.tmp"
    export_onnx(model, torch.zeros(1, 1, PATCH, PATCH), tmp)
    seeds = ps.seeds
    manifest: dict[str, Any] = {
        "name": PACK_NAME,
        "version": ("1.0.0" if preset == "full" else f"1.0.0-{preset}") + ("+site" if site is not None else ""),
        "task": "mr-patch-grade",
        "description": (
            "IQ-DCNN (Piccini et al. 2020) whole-heart MR patch grader. DEMONSTRATION MODEL trained on "
            "synthetic phantom data only (models.synthetic.mr); not for clinical use."
            if site is None
            else "IQ-DCNN (Piccini et al. 2020) whole-heart MR patch grader trained on a site's labelled "
            f"series ({site_note or 'site data'}). Validate on the site's own held-out data before clinical use."
        ),
        "demonstration_only": site is None,
        "input": {
            "name": "input", "shape": ["N", 1, PATCH, PATCH], "dtype": "float32", "layout": "NCHW",
            "value_range": [0.0, 1.5],
            "normalisation": "(x - p1) / (p99.5 - p1) with percentiles of the whole series, clipped to [0, 1.5]",
            "raster": [PATCH, PATCH],
            "preprocessing": ("1 mm patient-axis plane (axial/sagittal/coronal) through a patch centre in the "
                              "cube of half-edge 40 mm around the volume centre; outside the series = 0"),
        },
        "output": {"name": "output", "shape": ["N", 1],
                   "meaning": "image-quality grade 0-4 per patch (continuous); volume grade = mean over patches"},
        "calibration": {"slope": calibration[0], "intercept": calibration[1]} if calibration else None,
        "scale": _scale(),
        "training": {
            "preset": preset, "seed": seed,
            **({"generator_version": GENERATOR_VERSION, "generator_fingerprint": generator_fingerprint(),
                "volume_seeds": f"{int(seeds.min())}..{int(seeds.max())} ({len(seeds)} volumes)"}
               if site is None else
               {"data": site_note or "site data", "series": int(ps.n_volumes),
                "heldout_series": int(len(site_heldout))}),
            "train_volumes": int(len(train_v)), "calibration_volumes": int(len(val_v)),
            "patches": int(len(tr)), "patches_per_volume": int(len(ps.patches) // max(ps.n_volumes, 1)),
            "epochs": info["epochs"], "steps": info["steps"], "optimizer": "Adam, one-cycle LR, batch 64",
            "loss": "anti-bias L1 (Piccini et al. Eq 1), bins of 0.5 grade",
            "hyper_parameters": hp.as_dict(),
            "grid": {"settings": [g.as_dict() for g in grid], "folds": cfg["folds"], "cv_epochs": cfg["cv_epochs"],
                     "cv_time_budget_s_per_run": cfg.get("cv_time_budget_s"),
                     "results": cv, "selection": "lowest CV anti-bias L1 of volume grades"},
            "hardware": hardware_summary(), "torch": torch.__version__, "python": platform.python_version(),
            "wall_time_s": wall,
        },
        "metrics": {"heldout": heldout, "validation": val_metrics, "tolerance": TOLERANCE,
                    "note": "held-out = reserved seeds, never used for training or tuning" if site is None
                    else "held-out = 20 % of the site's series, never used for training or calibration"},
        "license": "Apache-2.0",
    }
    pack = write_pack(Path(out_dir) / PACK_NAME, tmp, manifest)
    tmp.unlink(missing_ok=True)
    return [pack]
