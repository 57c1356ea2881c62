"""Benchmark the synthetic generators (issue 3 acceptance).

- echo training frames on the 256² model raster: frames/s (target ≥ 20 on one core);
- one full 48-frame 600×800 echo loop plus its DICOM file (target ≤ 30 s);
- a 160³ MR volume with degradations (target ≤ 15 s), when ``models.synthetic.mr.make_volume``
  exists.

Each figure is the median of ``--repeats`` (≥ 5) runs. Prints and writes
``benchmarks/results/synthetic.json``. Usage: ``python benchmarks/synthetic.py [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "benchmarks" / "results" / "synthetic.json"


def _median_time(fn: Callable[[int], Any], repeats: int) -> tuple[float, list[float]]:
    times = []
    for i in range(repeats):
        t0 = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def bench_training(repeats: int, frames_per_run: int = 20) -> dict[str, Any]:
    """Training frames per second at 256² (median over runs of ``frames_per_run`` frames)."""
    from models.synthetic.echo import training_sample

    training_sample(np.random.default_rng(0))  # warm caches/imports

    def run(i: int) -> None:
        rng = np.random.default_rng(1000 + i)
        for _ in range(frames_per_run):
            training_sample(rng, size=256)

    med, times = _median_time(run, repeats)
    return {
        "frames_per_run": frames_per_run,
        "median_s": round(med, 4),
        "frames_per_s": round(frames_per_run / med, 2),
        "runs_s": [round(t, 4) for t in times],
        "target_frames_per_s": 20,
    }


def bench_loop(repeats: int) -> dict[str, Any]:
    """48-frame 600×800 loop rendered and written as JPEG-baseline US Multi-frame."""
    from models.synthetic.common import derive_uid, synthetic_patient
    from models.synthetic.dicom_us import UsRegion, UsSeriesInfo, write_us_multiframe
    from models.synthetic.echo import make_loop

    tmp = Path(tempfile.mkdtemp(prefix="bench_synth_"))
    render: list[float] = []

    def run(i: int) -> None:
        t0 = time.perf_counter()
        loop = make_loop(np.random.default_rng(2000 + i), view="A4C", frames=48, height=600, width=800)
        render.append(time.perf_counter() - t0)
        r = loop.raster
        info = UsSeriesInfo(
            synthetic_patient(i, "ECHO", 0),
            derive_uid(i, "bs"),
            derive_uid(i, "bi"),
            1,
            1,
            "A4C",
            loop.frame_time_ms,
            loop.heart_rate_bpm,
            (UsRegion(0, 0, r.width - 1, r.height - 1, int(r.apex_col), int(r.apex_row), r.dx, r.dz),),
            view="A4C",
        )
        write_us_multiframe(tmp / f"loop{i}.dcm", loop.frames, info, "MONOCHROME2", "jpeg")

    med, times = _median_time(run, repeats)
    for p in tmp.glob("*.dcm"):
        p.unlink()
    tmp.rmdir()
    return {
        "frames": 48,
        "rows": 600,
        "columns": 800,
        "encoding": "MONOCHROME2/JPEG baseline",
        "median_s": round(med, 3),
        "render_median_s": round(statistics.median(render), 3),
        "runs_s": [round(t, 3) for t in times],
        "target_s": 30,
    }


def bench_mr(repeats: int) -> dict[str, Any] | None:
    """160³ MR volume with degradations, if the MR generator provides ``make_volume``."""
    try:
        mod = importlib.import_module("models.synthetic.mr")
    except ImportError:
        return None
    make_volume = getattr(mod, "make_volume", None)
    if make_volume is None:
        return None
    med, times = _median_time(lambda i: make_volume(np.random.default_rng(0), size=160), repeats)
    return {"size": 160, "median_s": round(med, 3), "runs_s": [round(t, 3) for t in times], "target_s": 15}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    repeats = max(5, args.repeats)
    from models.synthetic.echo import GENERATOR_VERSION

    result: dict[str, Any] = {
        "benchmark": "synthetic",
        "generator_version": GENERATOR_VERSION,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_avg_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "repeats": repeats,
        "echo_training_256": bench_training(repeats),
        "echo_loop_48x600x800_dicom": bench_loop(repeats),
        "mr_volume_160": bench_mr(repeats),
    }
    tr, lp, mr = result["echo_training_256"], result["echo_loop_48x600x800_dicom"], result["mr_volume_160"]
    result["pass"] = {
        "echo_training": tr["frames_per_s"] >= 20,
        "echo_loop": lp["median_s"] <= 30,
        "mr_volume": None if mr is None else mr["median_s"] <= 15,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
