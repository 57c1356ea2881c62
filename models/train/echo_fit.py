"""Training loops for the echo U-Net and the end-to-end regional quality net (torch, CPU)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["FitLog", "dice_scores", "fit_e2e", "fit_seg", "fit_calibration", "predict"]


@dataclass
class FitLog:
    """What a training run did (goes into the manifest)."""

    steps: int = 0
    samples_seen: int = 0
    epochs: float = 0.0
    wall_s: float = 0.0
    images_per_s: float = 0.0
    last_loss: float = float("nan")
    history: list[tuple[int, float]] = field(default_factory=list)


def _batches(n: int, batch: int, rng: np.random.Generator) -> list[np.ndarray]:
    order = rng.permutation(n)
    return [order[i : i + batch] for i in range(0, n - batch + 1, batch)] or [order]


def _soft_dice_loss(logits: torch.Tensor, target: torch.Tensor, classes: int) -> torch.Tensor:
    prob = logits.softmax(dim=1)
    onehot = F.one_hot(target.long(), classes).permute(0, 3, 1, 2).float()
    inter = (prob * onehot).sum(dim=(0, 2, 3))
    denom = prob.sum(dim=(0, 2, 3)) + onehot.sum(dim=(0, 2, 3))
    dice = (2 * inter + 1.0) / (denom + 1.0)
    return 1.0 - dice[1:].mean()


def _run(
    model: nn.Module,
    loader: Callable[[], dict[str, np.ndarray]],
    loss_fn: Callable[[nn.Module, dict[str, np.ndarray], np.ndarray], torch.Tensor],
    *,
    batch: int,
    lr: float,
    max_steps: int,
    budget_s: float,
    seed: int,
    log_every: int = 50,
    log: Callable[[str], None] = print,
    frozen_bn: bool = False,
) -> FitLog:
    """Generic loop: reload data each epoch (the cache may grow), Adam, cosine-ish decay."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    fl = FitLog()
    t0 = time.time()
    model.train()
    if frozen_bn:  # continuing from an exported pack: BatchNorm folded, keep it affine
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
    n_seen_epoch = 0.0
    while fl.steps < max_steps and time.time() - t0 < budget_s:
        data = loader()
        n = len(next(iter(data.values())))
        for idx in _batches(n, min(batch, n), rng):
            progress = max(fl.steps / max_steps, (time.time() - t0) / budget_s)
            for g in opt.param_groups:
                g["lr"] = lr * (0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * min(progress, 1.0))))
            loss = loss_fn(model, data, idx)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            fl.steps += 1
            fl.samples_seen += len(idx)
            fl.last_loss = float(loss.detach())
            if fl.steps % log_every == 0:
                fl.history.append((fl.steps, fl.last_loss))
                log(f"step {fl.steps} loss {fl.last_loss:.4f} samples {fl.samples_seen} "
                    f"{fl.samples_seen / (time.time() - t0):.0f} img/s")
            if fl.steps >= max_steps or time.time() - t0 >= budget_s:
                break
        n_seen_epoch += 1
        fl.epochs = fl.samples_seen / max(n, 1)
    fl.wall_s = time.time() - t0
    fl.images_per_s = fl.samples_seen / max(fl.wall_s, 1e-9)
    model.eval()
    return fl


def fit_seg(model: nn.Module, loader: Callable[[], dict[str, np.ndarray]], classes: int = 5,
            **kw: object) -> FitLog:
    """Cross-entropy + soft Dice on (image, labels) at the training raster.

    The model's in-graph upsampling is switched off while training (loss at the input raster).
    """
    scale = getattr(model, "out_scale", 1)
    model.out_scale = 1  # type: ignore[assignment]

    def loss_fn(m: nn.Module, d: dict[str, np.ndarray], idx: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(d["image"][idx].astype(np.float32))[:, None]
        y = torch.from_numpy(d["labels"][idx].astype(np.int64))
        if np.random.rand() < 0.5:  # gain jitter: robustness to scanner gain settings
            x = (x * float(np.random.uniform(0.8, 1.2))).clamp(0, 255)
        logits = m(x)
        return F.cross_entropy(logits, y) + 0.5 * _soft_dice_loss(logits, y, classes)

    try:
        return _run(model, loader, loss_fn, **kw)  # type: ignore[arg-type]
    finally:
        model.out_scale = scale  # type: ignore[assignment]


def fit_e2e(model: nn.Module, loader: Callable[[], dict[str, np.ndarray]], **kw: object) -> FitLog:
    """Smooth-L1 regression of the eight continuous region grades."""

    def loss_fn(m: nn.Module, d: dict[str, np.ndarray], idx: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(d["image"][idx].astype(np.float32))[:, None]
        y = torch.from_numpy(d["grades"][idx].astype(np.float32))
        return F.smooth_l1_loss(m(x), y, beta=0.5)

    return _run(model, loader, loss_fn, **kw)  # type: ignore[arg-type]


@torch.no_grad()
def predict(model: nn.Module, images: np.ndarray, batch: int = 64) -> np.ndarray:
    """Model outputs for uint8/float (n, r, r) images (eval mode)."""
    model.eval()
    outs = []
    for i in range(0, len(images), batch):
        x = torch.from_numpy(images[i : i + batch].astype(np.float32))[:, None]
        outs.append(model(x).numpy())
    return np.concatenate(outs)


def fit_calibration(pred: np.ndarray, true: np.ndarray) -> tuple[float, float]:
    """Least-squares ``true ≈ slope·pred + intercept`` over all region values."""
    p, t = pred.reshape(-1).astype(np.float64), true.reshape(-1).astype(np.float64)
    a = np.vstack([p, np.ones_like(p)]).T
    slope, intercept = np.linalg.lstsq(a, t, rcond=None)[0]
    if not np.isfinite(slope) or slope <= 0:
        return 1.0, 0.0
    return float(slope), float(intercept)


def dice_scores(pred: np.ndarray, true: np.ndarray, classes: tuple[int, ...] = (1, 2, 3, 4)) -> dict[int, float]:
    """Dice per class over the whole set (classes absent from both are left out)."""
    out = {}
    for c in classes:
        p, t = pred == c, true == c
        denom = p.sum() + t.sum()
        if denom:
            out[c] = float(2 * np.logical_and(p, t).sum() / denom)
    return out
