"""MR end-to-end timing: a 200-slice classic series of 192×192 at 1 mm (uncompressed, Explicit VR
Little Endian) read → assemble → grade → result JSON, on this machine's CPU (ONNX Runtime with 2
threads). Writes ``benchmarks/results/mr.json`` (median of ``--repeats`` runs, at least 5).

Targets (issue 5): total ≤ 3 s, grading ≤ 1.6 s (the paper's K40 GPU time per dataset).
"grading" = patch extraction + network + regions + JSON; "assemble" = checks, pixel decoding and
rescaling; "read" = ``pydicom.dcmread`` of the 200 files.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analyzers.base import AnalysisUnit  # noqa: E402
from analyzers.mr import MrWholeHeartAnalyzer  # noqa: E402
from config.settings import Settings  # noqa: E402
from models.runtime import ModelSet  # noqa: E402

N_SLICES, SIZE = 200, 192


def write_series(out: Path, seed: int = 7) -> list[Path]:
    """A phantom volume as 200 classic MR files (192×192, 1 mm), shuffled instance numbers."""
    from models.synthetic.mr import make_volume

    mv = make_volume(np.random.default_rng(seed), size=SIZE)
    vol = np.concatenate([mv.volume, mv.volume[-(N_SLICES - SIZE):]])  # 200 slices (the top repeats)
    pix = np.clip(np.round(vol * 1000), 0, 4095).astype("<u2")
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    paths = []
    order = np.random.default_rng(seed).permutation(N_SLICES)
    for k in range(N_SLICES):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID = generate_uid()
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.Modality, ds.BodyPartExamined, ds.SeriesDescription = "MR", "HEART", "WHOLE HEART 3D"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND"]
        ds.InstanceNumber = int(order[k]) + 1
        ds.Rows = ds.Columns = SIZE
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.PixelSpacing, ds.SliceThickness = [1.0, 1.0], 1.0
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [mv.origin_mm[0], mv.origin_mm[1], mv.origin_mm[2] + k]
        ds.RescaleSlope, ds.RescaleIntercept = 1.0, 0.0
        ds.PixelData = pix[k].tobytes()
        p = out / f"IM{order[k]:04d}.dcm"
        ds.save_as(p, enforce_file_format=True)
        paths.append(p)
    return paths


def run_once(paths: list[Path], models: ModelSet, settings: Settings) -> dict[str, float]:
    t0 = time.perf_counter()
    dss = tuple(pydicom.dcmread(p) for p in paths)
    t_read = time.perf_counter() - t0
    unit = AnalysisUnit(kind="series", modality="MR", study_instance_uid=str(dss[0].StudyInstanceUID),
                        series_instance_uid=str(dss[0].SeriesInstanceUID), datasets=dss, analysis_uid="2.25.1")
    res = MrWholeHeartAnalyzer().analyze(unit, models, settings)
    text = res.to_json()
    total = time.perf_counter() - t0
    assert res.assessable, res.reason
    tm = res.timings_ms
    return {"read_s": t_read, "assemble_s": tm["decode"] / 1000, "total_s": total,
            "grading_s": total - t_read - tm["decode"] / 1000, "network_s": tm["models"] / 1000,
            "grade": res.global_grade.score if res.global_grade else float("nan"), "json_bytes": len(text)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "mr.json")
    a = ap.parse_args()
    repeats = max(5, a.repeats)
    settings = Settings()
    models = ModelSet.load(names=["mr-iqdcnn"], providers="cpu", threads=2)
    if models.errors:
        raise SystemExit(f"mr-iqdcnn pack not loadable: {models.errors}")
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_series(Path(tmp))
        size_mb = sum(p.stat().st_size for p in paths) / 1e6
        run_once(paths, models, settings)  # warm-up (file cache, ONNX Runtime arenas)
        runs = [run_once(paths, models, settings) for _ in range(repeats)]
        tracemalloc.start()
        run_once(paths, models, settings)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    med = {k: round(statistics.median(r[k] for r in runs), 3) for k in runs[0]}
    load = os.getloadavg()
    doc = {
        "benchmark": "mr end-to-end: 200×192×192 classic series, 1 mm, uncompressed",
        "series_mb": round(size_mb, 1),
        "repeats": repeats,
        "median": med,
        "runs": [{k: round(v, 3) for k, v in r.items()} for r in runs],
        "targets": {"total_s": 3.0, "grading_s": 1.6},
        "meets_targets": med["total_s"] <= 3.0 and med["grading_s"] <= 1.6,
        "peak_python_memory_mb": round(peak / 1e6, 1),
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "patches": 3 * settings.mr.patches_per_orientation,
        "machine": f"{platform.machine()} {os.cpu_count()} cores, load average {load[0]:.1f} at the end (shared)",
        "providers": "CPUExecutionProvider, 2 intra-op threads",
        "gpu": "no accelerator lent to this task; not measured",
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps({"median": med, "meets_targets": doc["meets_targets"],
                      "peak_python_memory_mb": doc["peak_python_memory_mb"], "max_rss_mb": doc["max_rss_mb"]}, indent=2))


if __name__ == "__main__":
    main()
