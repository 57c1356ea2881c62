"""Held-out accuracy of the shipped ``mr-iqdcnn`` pack through the analyzer's grading path.

Volumes: ``make_volume(np.random.default_rng(s), 160)`` for the reserved held-out seeds
``models.synthetic.mr.HELD_OUT_SEEDS`` (first ``--n``, at least 40; never used for training,
tuning or calibration). Each volume is graded exactly as a 1 mm axial series after assembly
(``analyzers.mr.grade_volume``: normalisation, 3 × ``mr.patches_per_orientation`` patches,
ONNX Runtime, calibration, mean). Figures (Piccini et al.): R² (squared Pearson; the coefficient
of determination is reported too), linearly weighted κ with both grades rounded to 0.5, MAE.
Writes ``benchmarks/results/mr_eval.json``. Targets: R² ≥ 0.78, κ ≥ 0.67, MAE ≤ 0.4.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analyzers.mr import SeriesVolume, content_check, grade_volume  # noqa: E402
from config.settings import Settings  # noqa: E402
from models.runtime import ModelSet  # noqa: E402
from models.train.mr_metrics import grade_metrics, round_half  # noqa: E402

TARGETS = {"r2": 0.78, "kappa": 0.67, "mae": 0.4}


def as_series(volume: np.ndarray, origin: tuple[float, float, float], spacing: float = 1.0) -> SeriesVolume:
    """A phantom volume ``[k, j, i]`` (LPS, axial slices) as an assembled series (1000 per unit, as the
    DICOM writer stores it)."""
    affine = np.diag([spacing, spacing, spacing, 1.0])
    affine[:3, 3] = origin
    data = np.clip(np.round(volume * 1000.0), 0, 65535).astype(np.float32)
    return SeriesVolume(data=data, affine=affine, slice_spacing=spacing, pixel_spacing=(spacing, spacing))


def dicom_cases(n: int, seed: int, ms: ModelSet, settings: Settings) -> dict[str, object]:
    """``generate_studies(seed=seed)`` (160³ at 1 mm: axial, Enhanced, coronal, oblique, sagittal,
    Enhanced oblique and the awkward cases) read from disk and graded by the analyzer."""
    import tempfile

    import pydicom

    from analyzers.base import AnalysisUnit
    from analyzers.mr import MrWholeHeartAnalyzer
    from models.synthetic.mr import generate_studies

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        truth = generate_studies(Path(tmp), n=n, seed=seed, small=False)
        for e in truth:
            dss = tuple(pydicom.dcmread(p) for p in sorted((Path(tmp) / e["folder"]).glob("*.dcm")))
            unit = AnalysisUnit(kind="series", modality="MR", study_instance_uid=e["study_instance_uid"],
                                series_instance_uid=e["series_instance_uid"], datasets=dss, analysis_uid="2.25.1")
            r = MrWholeHeartAnalyzer().analyze(unit, ms, settings)
            out.append({"case": e["case"], "truth": e["grade"], "assessable": r.assessable, "reason": r.reason,
                        "grade": r.global_grade.score if r.global_grade else None})
            print(out[-1], flush=True)
    graded = [o for o in out if o["grade"] is not None and o["truth"] is not None]
    mae = float(np.mean([abs(o["grade"] - o["truth"]) for o in graded])) if graded else None
    return {"seed": seed, "series": out, "mae_graded": round(mae, 4) if mae is not None else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--size", type=int, default=160)
    ap.add_argument("--packs", type=Path, default=None, help="pack folder to evaluate instead of the shipped one")
    ap.add_argument("--dicom", type=int, default=9,
                    help="also grade this many generate_studies(seed=first held-out seed) DICOM series end to end")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "mr_eval.json")
    a = ap.parse_args()
    from models.synthetic.mr import GENERATOR_VERSION, HELD_OUT_SEEDS, make_volume

    n = max(40, min(a.n, len(HELD_OUT_SEEDS)))
    seeds = list(HELD_OUT_SEEDS)[:n]
    settings = Settings()
    where = {"dirs": [a.packs]} if a.packs else {}
    ms = ModelSet.load(names=["mr-iqdcnn"], providers="cpu", threads=2, **where)
    if ms.errors:
        raise SystemExit(f"mr-iqdcnn pack not loadable: {ms.errors}")
    pack = ms.get("mr-iqdcnn")
    t0 = time.time()
    rows = []
    for s in seeds:
        mv = make_volume(np.random.default_rng(s), size=a.size)
        vol = as_series(mv.volume, mv.origin_mm)
        content_check(vol.data)
        pg = grade_volume(vol, pack, settings.mr.patches_per_orientation)
        by_o = {o: round(float(pg.grades[[x == o for x in pg.orientations]].mean()), 3)
                for o in ("axial", "sagittal", "coronal")}
        rows.append({"seed": s, "truth": round(mv.grade, 4), "truth_rounded": mv.grade_rounded,
                     "grade": round(pg.score, 4), "grade_rounded": float(round_half(np.array(pg.score))),
                     "orientations": by_o})
        print(f"seed {s}: truth {mv.grade:.2f} grade {pg.score:.2f}", flush=True)
    pred = np.array([r["grade"] for r in rows])
    truth = np.array([r["truth"] for r in rows])
    m = grade_metrics(pred, truth)
    passed = {"r2": m["r2"] >= TARGETS["r2"], "kappa": m["kappa"] >= TARGETS["kappa"], "mae": m["mae"] <= TARGETS["mae"]}
    dicom = dicom_cases(a.dicom, seeds[0], ms, settings) if a.dicom else None
    doc = {
        "benchmark": "mr held-out accuracy (reserved seeds)",
        "pack": {"name": pack.manifest.name, "version": pack.manifest.version, "sha256": pack.manifest.sha256},
        "generator_version": GENERATOR_VERSION,
        "seeds": f"{seeds[0]}..{seeds[-1]}",
        "volume": f"make_volume(default_rng(seed), {a.size}) at 1 mm, graded as an axial series",
        "patches_per_volume": 3 * settings.mr.patches_per_orientation,
        "metrics": m,
        "targets": TARGETS,
        "passed": passed,
        "all_passed": all(passed.values()),
        "wall_time_s": round(time.time() - t0, 1),
        "volumes": rows,
        "dicom_end_to_end": dicom,
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps({"metrics": m, "passed": passed}, indent=2))


if __name__ == "__main__":
    main()
