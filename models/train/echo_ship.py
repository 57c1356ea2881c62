"""Ship staged echo packs: add the held-out metrics and install them atomically.

Training writes packs to a staging folder (``.cache/stage``); ``benchmarks/echo_eval.py --packs
STAGE`` measures them on the reserved held-out seeds; this step copies each pack with its
``metrics.held_out`` block (and the reproduction tolerance) into ``models/packs/<name>`` through a
temporary folder and a rename, so ``models/packs`` never holds a half-written pack.

    python -m models.train.echo_ship --stage .cache/stage --eval .cache/stage_eval.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from models.runtime.pack import SHIPPED_PACKS_DIR

from .packaging import write_pack

__all__ = ["TOLERANCE", "ship_packs"]

#: What a retraining with the same preset must reproduce (not bit for bit: CPU threads, timing
#: budgets and library versions change the step count and the floating-point order).
TOLERANCE: dict[str, float] = {"spearman_rho": 0.05, "mae": 0.1, "dice": 0.03}


def _held_out(name: str, ev: dict[str, Any]) -> dict[str, Any]:
    common = {
        "held_out_seeds": ev["held_out_seeds"],
        "loops": ev["loops"],
        "frames_per_loop": ev["frames_per_loop"],
        "generator_version": ev["generator_version"],
        "benchmark": "benchmarks/echo_eval.py",
    }
    if name == "echo-seg":
        return {**common, "dice": ev["dice"]}
    return {**common, "all_region_frames": ev["all_region_frames"],
            "in_sector_region_frames": ev["in_sector_region_frames"],
            "gcnr_spearman_rho_for_comparison": ev["gcnr_spearman_rho"]}


def ship_packs(stage: Path, eval_doc: dict[str, Any], dest: Path = SHIPPED_PACKS_DIR) -> list[Path]:
    """Install ``stage/echo-seg`` and ``stage/echo-e2e`` into ``dest`` with held-out metrics."""
    out = []
    for name in ("echo-seg", "echo-e2e"):
        src = Path(stage) / name
        manifest = json.loads((src / "manifest.json").read_text())
        want = eval_doc["packs"][name]["sha256"]
        if manifest["sha256"] != want:
            raise ValueError(f"{name}: the evaluation was run on a different model ({want[:12]}…)")
        manifest.pop("sha256")
        manifest["metrics"] = {**manifest.get("metrics", {}), "held_out": _held_out(name, eval_doc),
                               "tolerance": TOLERANCE}
        dest.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=dest.parent))  # outside packs/: never discovered
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; a pack is readable by the node's user
        write_pack(tmp, src / "model.onnx", manifest)
        final = dest / name
        old = dest.parent / f".{name}.old"
        if final.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
        out.append(final)
    return out


def _main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stage", type=Path, required=True)
    ap.add_argument("--eval", dest="eval_json", type=Path, required=True)
    ap.add_argument("--dest", type=Path, default=SHIPPED_PACKS_DIR)
    a = ap.parse_args()
    for p in ship_packs(a.stage, json.loads(a.eval_json.read_text()), a.dest):
        print(f"shipped {p}")


if __name__ == "__main__":
    _main()
