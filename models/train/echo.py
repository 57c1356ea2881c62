"""Train the echo packs: ``echo-seg`` (U-Net) and ``echo-e2e`` (MobileNetV2 regional quality).

Both train on the synthetic generator (``models.synthetic.echo``), at a 128² input raster (the
whole frame resized to the 256 region raster, then 2×2 mean-pooled); the U-Net upsamples its
logits to 256² inside the graph. Presets:

- ``tiny``: a few steps on a handful of samples (``make test``: training must not rot);
- ``provisional``: the background run that produced the first shipped packs (time-boxed);
- ``full``: the same recipe with about an hour per network on these CPUs.

Run in the background: ``python -m models.train.echo --preset provisional --only e2e --cache
.cache/echo_train --out .cache/stage``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.nets.mobilenet import MobileNetV2
from models.nets.unet import SEG_CLASSES, UNet

from .echo_data import load_shards, make_shard
from .echo_fit import FitLog, dice_scores, fit_calibration, fit_e2e, fit_seg, predict
from .export import export_onnx
from .packaging import hardware_summary, write_pack

__all__ = ["PRESETS", "Preset", "echo_manifest", "train_e2e_pack", "train_packs", "train_seg_pack"]

REGION_IDS = (
    "basal_left", "mid_left", "apical_left", "apical_right",
    "mid_right", "basal_right", "annulus_left", "annulus_right",
)  # same order as analyzers.base.ECHO_REGION_IDS (models may not import analyzers)
VAL_SEED_BASE = 800_000  # docs/synthetic.md: validation seeds 800000–800999 (never the held-out 900000+)


@dataclass(frozen=True)
class Preset:
    """One training recipe."""

    raster: int = 128
    unet_base: int = 8
    mnv2_width: float = 0.5
    mnv2_last: int = 640
    batch: int = 32
    lr_seg: float = 3e-3
    lr_e2e: float = 2e-3
    max_steps: int = 100_000
    budget_seg_s: float = 3600.0
    budget_e2e_s: float = 3600.0
    inline_samples: int = 0  # >0: draw samples in-process instead of reading a cache
    val_samples: int = 256


PRESETS: dict[str, Preset] = {
    "tiny": Preset(unet_base=4, mnv2_width=0.25, mnv2_last=128, batch=4, max_steps=3,
                   budget_seg_s=10, budget_e2e_s=10, inline_samples=8, val_samples=4),
    "provisional": Preset(budget_seg_s=1500, budget_e2e_s=2100),
    "full": Preset(budget_seg_s=3600, budget_e2e_s=3600, val_samples=512),
}


def _generator_version() -> str:
    try:
        from models.synthetic.echo import GENERATOR_VERSION

        return str(GENERATOR_VERSION)
    except ImportError:
        return "unknown"


@lru_cache(maxsize=4)
def _shard(seed: int, shard: int, n: int, raster: int) -> dict[str, np.ndarray]:
    return make_shard(seed, shard, n, raster)


def _data(preset: Preset, seed: int, cache: Path | None,
          loops_cache: Path | None = None) -> tuple[Any, dict[str, np.ndarray], dict[str, Any]]:
    """(loader, validation set, data description)."""
    val = _shard(VAL_SEED_BASE + seed % 1000, 0, preset.val_samples, preset.raster)
    if preset.inline_samples or cache is None:
        n = preset.inline_samples or 512
        data = _shard(seed, 0, n, preset.raster)
        return (lambda: data), val, {"train_seed": seed, "train_samples": n, "source": "inline"}
    pattern = "shard-*.npz"
    desc: dict[str, Any] = {"train_seed": seed, "source": f"cache {cache.name}"}

    def loader() -> dict[str, np.ndarray]:
        d = load_shards(cache, pattern)
        desc["train_samples"] = int(len(d["image"]))
        if loops_cache is not None and any(Path(loops_cache).glob(pattern)):
            lp = load_shards(loops_cache, pattern)  # loop frames, weighted ×2
            desc["loop_frames"] = int(len(lp["image"]))
            desc["loop_seed"] = int(str(next(Path(loops_cache).glob(pattern)).name).split("-")[1])
            d = {k: np.concatenate([d[k], lp[k], lp[k]]) for k in d}
        return d

    return loader, val, desc


def echo_manifest(kind: str, preset_name: str, preset: Preset, fl: FitLog, data_desc: dict[str, Any],
                  seed: int, extra_metrics: dict[str, Any], calibration: tuple[float, float] | None) -> dict:
    """The §5 manifest for ``echo-seg`` or ``echo-e2e`` (sha256 is filled by write_pack)."""
    r = preset.raster
    common_input = {
        "name": "input",
        "shape": ["N", 1, r, r],
        "dtype": "float32",
        "layout": "NCHW",
        "value_range": [0.0, 255.0],
        "normalisation": "raw 0..255 grey (scaled inside the graph)",
        "raster": [r, r],
        "preprocessing": f"whole frame resized (area) to 256x256, then 2x2 mean-pooled to {r}x{r}",
    }
    training = {
        "preset": preset_name,
        "generator": "models.synthetic.echo.training_sample",
        "generator_version": _generator_version(),
        "seeds": {"train": seed, "validation": VAL_SEED_BASE + seed % 1000},
        "samples": {"train": data_desc.get("train_samples"), "validation": preset.val_samples,
                    "train_loop_frames": data_desc.get("loop_frames"),
                    "train_loop_seed": data_desc.get("loop_seed")},
        "samples_seen": fl.samples_seen,
        "epochs": round(fl.epochs, 2),
        "steps": fl.steps,
        "batch": preset.batch,
        "hardware": hardware_summary(),
        "torch": torch.__version__,
        "wall_time_s": round(fl.wall_s, 1),
        "train_images_per_s": round(fl.images_per_s, 1),
        "final_loss": round(fl.last_loss, 5),
    }
    if data_desc.get("continued_from"):
        training["continued_from"] = data_desc["continued_from"]
    demo = ("Demonstration model trained on synthetic data only (models.synthetic.echo); "
            "not validated on patient images, not for clinical use.")
    if kind == "seg":
        training["architecture"] = {"net": "UNet", "base_channels": preset.unet_base, "input": r,
                                    "choice": "128² input, logits upsampled to 256² in-graph: "
                                              "~4x cheaper than 256² input in training and inference"}
        return {
            "name": "echo-seg", "version": f"0.1.0+{preset_name}", "task": "echo-segmentation",
            "input": common_input,
            "output": {"name": "output", "shape": ["N", len(SEG_CLASSES), 256, 256],
                       "meaning": "class logits on the 256x256 region raster (argmax = label)",
                       "class_labels": list(SEG_CLASSES)},
            "calibration": None, "scale": None, "training": training, "metrics": extra_metrics,
            "license": "Apache-2.0", "demonstration_only": True, "description": demo,
        }
    training["architecture"] = {"net": "MobileNetV2", "width": preset.mnv2_width,
                                "last_channels": preset.mnv2_last, "input": r,
                                "choice": "128² input at width 0.5: measured ~185 img/s training "
                                          "vs ~70 img/s at width 0.75 and ~12 img/s at 256²/1.0"}
    slope, intercept = calibration or (1.0, 0.0)
    return {
        "name": "echo-e2e", "version": f"0.1.0+{preset_name}", "task": "echo-regional-quality",
        "input": common_input,
        "output": {"name": "output", "shape": ["N", 8],
                   "meaning": "continuous regional quality 1..5 before calibration",
                   "region_order": list(REGION_IDS)},
        "calibration": {"slope": slope, "intercept": intercept},
        "scale": {"min": 1, "max": 5,
                  "labels": ["not visible", "poor", "ok", "good", "excellent"]},
        "training": training, "metrics": extra_metrics,
        "license": "Apache-2.0", "demonstration_only": True, "description": demo,
    }


def _previous(init: Path | None) -> dict[str, Any] | None:
    """The training block of the pack a run continues from (its manifest next to the weights)."""
    if init is None:
        return None
    manifest = Path(init).parent / "manifest.json"
    if not manifest.is_file():
        return {"weights": Path(init).name}
    prev = json.loads(manifest.read_text())
    return {"version": prev.get("version"), "sha256": prev.get("sha256"), "training": prev.get("training")}


def _init(model: torch.nn.Module, init: Path | None) -> bool:
    """Load a state_dict (.pt) or an exported pack's weights (.onnx); True if BN is folded."""
    if init is None:
        return False
    if Path(init).suffix == ".onnx":
        from .echo_warm import load_onnx_weights

        load_onnx_weights(model, Path(init))
        return True
    model.load_state_dict(torch.load(init, map_location="cpu"))
    return False


def train_seg_pack(out_dir: Path, preset_name: str, seed: int, cache: Path | None,
                   log: Any = print, init: Path | None = None, budget: float | None = None) -> Path:
    """Train, export and write the ``echo-seg`` pack under ``out_dir/echo-seg``."""
    preset = PRESETS[preset_name]
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    loader, val, desc = _data(preset, seed, cache)
    model = UNet(classes=len(SEG_CLASSES), base=preset.unet_base, out_scale=256 // preset.raster)
    folded = _init(model, init)
    desc["continued_from"] = _previous(init)
    lr = preset.lr_seg * (0.3 if init else 1.0)
    fl = fit_seg(model, loader, classes=len(SEG_CLASSES), batch=preset.batch, lr=lr,
                 max_steps=preset.max_steps, budget_s=budget or preset.budget_seg_s, seed=seed, log=log,
                 frozen_bn=folded)
    model.out_scale = 1
    pred = predict(model, val["image"]).argmax(axis=1)
    model.out_scale = 256 // preset.raster
    dice = dice_scores(pred, val["labels"])
    metrics = {"validation_dice_128": {SEG_CLASSES[c]: round(v, 4) for c, v in dice.items()},
               "validation_seed": VAL_SEED_BASE + seed % 1000}
    torch.save(model.state_dict(), Path(out_dir) / "echo-seg.pt")  # for continued training
    onnx_path = Path(out_dir) / "echo-seg.tmp.onnx"
    export_onnx(model, torch.zeros(1, 1, preset.raster, preset.raster), onnx_path)
    manifest = echo_manifest("seg", preset_name, preset, fl, desc, seed, metrics, None)
    pack = write_pack(Path(out_dir) / "echo-seg", onnx_path, manifest)
    onnx_path.unlink(missing_ok=True)
    return pack


def train_e2e_pack(out_dir: Path, preset_name: str, seed: int, cache: Path | None,
                   log: Any = print, init: Path | None = None, budget: float | None = None,
                   loops_cache: Path | None = None) -> Path:
    """Train, calibrate on the validation stream, export and write ``echo-e2e``."""
    preset = PRESETS[preset_name]
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    loader, val, desc = _data(preset, seed, cache, loops_cache)
    model = MobileNetV2(outputs=8, width=preset.mnv2_width, last_channels=preset.mnv2_last)
    folded = _init(model, init)
    desc["continued_from"] = _previous(init)
    lr = preset.lr_e2e * (0.3 if init else 1.0)
    fl = fit_e2e(model, loader, batch=preset.batch, lr=lr, max_steps=preset.max_steps,
                 budget_s=budget or preset.budget_e2e_s, seed=seed, log=log, frozen_bn=folded)
    raw = predict(model, val["image"])
    cal = fit_calibration(raw, val["grades"])
    pred = np.clip(raw * cal[0] + cal[1], 1, 5)
    mae = float(np.abs(pred - val["grades"]).mean())
    metrics = {"validation_mae": round(mae, 4), "validation_seed": VAL_SEED_BASE + seed % 1000,
               "note": "calibration fitted on this validation stream"}
    torch.save(model.state_dict(), Path(out_dir) / "echo-e2e.pt")  # for continued training
    onnx_path = Path(out_dir) / "echo-e2e.tmp.onnx"
    export_onnx(model, torch.zeros(1, 1, preset.raster, preset.raster), onnx_path)
    manifest = echo_manifest("e2e", preset_name, preset, fl, desc, seed, metrics, cal)
    pack = write_pack(Path(out_dir) / "echo-e2e", onnx_path, manifest)
    onnx_path.unlink(missing_ok=True)
    return pack


def train_packs(out_dir: Path, preset: str = "full", seed: int = 0, cache: Path | None = None) -> list[Path]:
    """Train both echo packs into ``out_dir`` (``cardiac-qa train echo``).

    ``cache`` points at a shard cache made by :mod:`models.train.echo_data` (else samples are
    drawn in-process).
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    quiet = (lambda msg: None) if preset == "tiny" else print
    torch.set_num_threads(1 if preset == "tiny" else 2)
    return [train_seg_pack(out_dir, preset, seed, cache, quiet),
            train_e2e_pack(out_dir, preset, seed, cache, quiet)]


def _main() -> None:
    ap = argparse.ArgumentParser(description="train an echo pack in the background")
    ap.add_argument("--preset", default="provisional", choices=sorted(PRESETS))
    ap.add_argument("--only", choices=["seg", "e2e"], required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", type=Path, default=None)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--init", type=Path, default=None, help="state_dict (.pt) or pack model.onnx to continue from")
    ap.add_argument("--budget-s", type=float, default=None, help="override the preset's time budget")
    ap.add_argument("--loops-cache", type=Path, default=None, help="shards of loop frames (e2e, weighted x2)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    t0 = time.time()
    if a.only == "seg":
        pack = train_seg_pack(a.out, a.preset, a.seed, a.cache, init=a.init, budget=a.budget_s)
    else:
        pack = train_e2e_pack(a.out, a.preset, a.seed, a.cache, init=a.init, budget=a.budget_s,
                              loops_cache=a.loops_cache)
    print(json.dumps({"pack": str(pack), "wall_s": round(time.time() - t0, 1)}), flush=True)


if __name__ == "__main__":
    _main()

