"""Echo speed benchmark: a 60-frame 600×800 uncompressed loop analysed end to end.

Warm ONNX Runtime sessions with 2 threads; each repeat reads the DICOM bytes, decodes, runs the
packs, divides the regions, aggregates and serialises the result JSON. Region division is timed
alone per frame. Median of ``--repeats`` runs (wall and CPU time; the load average is recorded
because the development machines are shared). Writes benchmarks/results/echo.json.

    .venv/bin/python benchmarks/echo.py [--repeats 5] [--packs DIR]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pydicom

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from echo_helpers import make_us  # noqa: E402

from analyzers.base import AnalysisUnit  # noqa: E402
from analyzers.echo import EchoRegionalAnalyzer  # noqa: E402
from analyzers.echo.decode import decode_frames  # noqa: E402
from analyzers.echo.inference import run_segmentation  # noqa: E402
from analyzers.echo.regions import divide_loop  # noqa: E402
from analyzers.echo.sector import find_sector, resize_area  # noqa: E402
from config.settings import Settings  # noqa: E402
from models.runtime import SHIPPED_PACKS_DIR, ModelSet  # noqa: E402

SEED = 424_300  # training-range seed (docs/synthetic.md); speed only, no accuracy measured


def _loop_bytes() -> bytes:
    from models.synthetic.echo.loop import make_loop

    loop = make_loop(np.random.default_rng(SEED), view="A4C", frames=60, height=600, width=800)
    rows, cols = np.nonzero(loop.sector_mask)
    sp = np.array(loop.pixel_spacing_mm) / 10.0
    ds = make_us(loop.frames, region=(int(cols.min()), int(rows.min()), int(cols.max()), int(rows.max())),
                 spacing_cm=(float(sp[0]), float(sp[1])), view_code="399214001", seed=SEED)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--packs", type=Path, default=SHIPPED_PACKS_DIR)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "echo.json")
    a = ap.parse_args()
    raw = _loop_bytes()
    settings = Settings()
    models = ModelSet.load([a.packs], names=["echo-seg", "echo-e2e"], providers="cpu", threads=2)
    analyzer = EchoRegionalAnalyzer()

    def once() -> tuple[float, float, dict]:
        t0, c0 = time.perf_counter(), time.process_time()
        ds = pydicom.dcmread(io.BytesIO(raw))
        unit = AnalysisUnit("instance", "US", ds.StudyInstanceUID, ds.SeriesInstanceUID, (ds,), "2.25.1")
        result = analyzer.analyze(unit, models, settings)
        text = result.to_json()
        return time.perf_counter() - t0, time.process_time() - c0, json.loads(text)

    once()  # warm-up
    runs = [once() for _ in range(a.repeats)]
    walls, cpus = [r[0] for r in runs], [r[1] for r in runs]
    last = runs[-1][2]

    ds = pydicom.dcmread(io.BytesIO(raw))
    loop = decode_frames(ds)
    sector = find_sector(loop.grey, loop.colour, loop.regions)
    f256 = resize_area(loop.grey, 256, 256)
    s256 = resize_area(sector.mask.astype(np.float32), 256, 256) > 0.5
    labels = run_segmentation(f256, models.get("echo-seg"), 16)
    div_wall, div_cpu = [], []
    for _ in range(a.repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        divide_loop(labels, s256, (10.0, 10.0))
        div_wall.append((time.perf_counter() - t0) * 1000 / len(labels))
        div_cpu.append((time.process_time() - c0) * 1000 / len(labels))

    doc = {
        "benchmark": "echo",
        "loop": {"frames": 60, "rows": 600, "columns": 800, "transfer_syntax": "explicit VR little endian",
                 "generator_seed": SEED},
        "threads": 2,
        "repeats": a.repeats,
        "end_to_end_s": {"median_wall": round(float(np.median(walls)), 3),
                         "median_cpu": round(float(np.median(cpus)), 3),
                         "all_wall": [round(w, 3) for w in walls]},
        "frames_per_s_wall": round(60 / float(np.median(walls)), 1),
        "timings_ms_last_run": last["timings_ms"],
        "region_division_ms_per_frame": {"median_wall": round(float(np.median(div_wall)), 2),
                                         "median_cpu": round(float(np.median(div_cpu)), 2)},
        "targets": {"end_to_end_s": 2.0, "region_division_ms_per_frame": 5.0},
        "assessable": last["assessable"],
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "load_average_1m": round(os.getloadavg()[0], 2)},
        "packs": {p.manifest.name: p.manifest.version for p in models.packs.values()},
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
