"""IQ-DCNN fitting: the training loop, prediction, volume-level evaluation and the CV grid."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from models.nets.iqdcnn import IQDCNN, anti_bias_l1

from .mr_data import QUANT, PatchSet
from .mr_metrics import grade_metrics

__all__ = ["HyperParams", "cross_validate", "fit", "fit_calibration", "predict", "volume_means"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HyperParams:
    """The paper's hp1 (first receptive field), hp2 (dropout keep probability), hp3 (initial
    learning rate) and hp4 (half-edge of the patch-centre cube, mm; fixed by the data cache)."""

    first_kernel: int = 5
    keep_prob: float = 0.5
    lr: float = 1e-3
    half_edge_mm: float = 40.0
    channels: tuple[int, int, int, int] = (8, 16, 32, 32)

    def as_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["channels"] = list(self.channels)
        return d


def _batches(n: int, batch: int, rng: np.random.Generator) -> list[np.ndarray]:
    order = rng.permutation(n)
    return [order[i : i + batch] for i in range(0, n, batch)]


def _to_tensor(patches_u8: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(patches_u8.astype(np.float32) * np.float32(1.0 / QUANT)).unsqueeze(1)


def fit(
    ps: PatchSet,
    idx: np.ndarray,
    hp: HyperParams,
    epochs: float,
    seed: int,
    batch: int = 64,
    max_steps: int | None = None,
    time_budget_s: float | None = None,
) -> tuple[IQDCNN, dict[str, float]]:
    """Train on the patches ``idx`` of ``ps`` with Adam, anti-bias L1 and cosine decay.

    ``epochs`` may be fractional; ``max_steps`` / ``time_budget_s`` stop earlier (tests, budgets).
    Augmentation: random left-right flips (blur has no handedness).
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = IQDCNN(first_kernel=hp.first_kernel, keep_prob=hp.keep_prob, channels=hp.channels)
    opt = torch.optim.Adam(model.parameters(), lr=hp.lr)
    steps_per_epoch = max(1, int(np.ceil(len(idx) / batch)))
    total = max(1, int(round(epochs * steps_per_epoch)))
    if max_steps is not None:
        total = min(total, max_steps)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=hp.lr, total_steps=total, pct_start=0.1)
    model.train()
    step, t0, losses = 0, time.time(), []
    while step < total:
        for b in _batches(len(idx), batch, rng):
            sel = np.sort(idx[b])
            x = _to_tensor(ps.patches[sel])
            flip = torch.from_numpy(rng.random(len(sel)) < 0.5)
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
            y = torch.from_numpy(ps.grades[sel])
            loss = anti_bias_l1(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
            step += 1
            if step % 100 == 0:
                log.info("step %d/%d loss %.3f (%.0f s)", step, total, np.mean(losses[-100:]), time.time() - t0)
            if step >= total or (time_budget_s is not None and time.time() - t0 > time_budget_s):
                step = total
                break
    model.eval()
    return model, {"steps": float(len(losses)), "final_loss": float(np.mean(losses[-50:])),
                   "seconds": round(time.time() - t0, 1), "epochs": round(len(losses) / steps_per_epoch, 2)}


@torch.no_grad()
def predict(model: IQDCNN, patches_u8: np.ndarray, batch: int = 256) -> np.ndarray:
    """Patch grades (uncalibrated) for uint8 cached patches."""
    model.eval()
    out = [model(_to_tensor(patches_u8[i : i + batch])).reshape(-1).numpy() for i in range(0, len(patches_u8), batch)]
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


def volume_means(ps: PatchSet, idx: np.ndarray, patch_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-volume (mean predicted grade over its patches, true grade) for patches ``idx``."""
    vols = ps.volume[idx]
    uniq = np.unique(vols)
    pred = np.array([np.clip(patch_pred[vols == v], 0, 4).mean() for v in uniq])
    return pred, ps.volume_grades[uniq]


def fit_calibration(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float] | None:
    """Least-squares ``truth ≈ slope·pred + intercept`` when it lowers the MAE, else ``None``."""
    if len(pred) < 8 or pred.std() < 1e-6:
        return None
    slope, intercept = np.polyfit(pred, truth, 1)
    cal = np.clip(slope * pred + intercept, 0, 4)
    if np.abs(cal - truth).mean() < np.abs(np.clip(pred, 0, 4) - truth).mean() and 0.5 < slope < 2.0:
        return float(slope), float(intercept)
    return None


def cross_validate(
    ps: PatchSet, vol_ids: np.ndarray, grid: list[HyperParams], folds: int, epochs: float, seed: int,
    time_budget_s: float | None = None,
) -> list[dict[str, object]]:
    """k-fold CV over volumes for each setting; returns one record per setting (mean anti-bias
    L1 of the volume grades over folds, and the other figures), best first."""
    rng = np.random.default_rng(seed)
    perm = rng.permutation(vol_ids)
    parts = np.array_split(perm, folds)
    records: list[dict[str, object]] = []
    for g, hp in enumerate(grid):
        preds, truths = [], []
        for f in range(folds):
            val_v = parts[f]
            tr = np.nonzero(~np.isin(ps.volume, val_v) & np.isin(ps.volume, vol_ids))[0]
            va = np.nonzero(np.isin(ps.volume, val_v))[0]
            model, info = fit(ps, tr, hp, epochs, seed + 17 * g + f, time_budget_s=time_budget_s)
            p, t = volume_means(ps, va, predict(model, ps.patches[va]))
            preds.append(p)
            truths.append(t)
            log.info("cv setting %d fold %d: %s (%s)", g, f, grade_metrics(p, t), info)
        p, t = np.concatenate(preds), np.concatenate(truths)
        loss = float(anti_bias_l1(torch.from_numpy(p), torch.from_numpy(t)))
        records.append({"hyper_parameters": hp.as_dict(), "cv_anti_bias_l1": round(loss, 4),
                        **{f"cv_{k}": v for k, v in grade_metrics(p, t).items()}})
        log.info("cv setting %d: %s", g, records[-1])
    return sorted(records, key=lambda r: float(r["cv_anti_bias_l1"]))  # type: ignore[arg-type]
