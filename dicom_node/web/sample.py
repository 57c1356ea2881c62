"""A small, fully synthetic sample database for the dashboard's tests and screenshots.

It writes rows the way the node does (study, series, instance, analysis with result JSON,
SR/SC outputs, deliveries) and simple drawn overlays as Multi-frame True Color SC files, so the
dashboard can be exercised without running analyzers. No real patient data: fixed fake names.
"""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from analyzers.base.result import ECHO_REGION_IDS, MR_REGION_IDS
from storage.schema import Analysis, AnalysisState, Delivery, DeliveryState, Instance, Output, Series, Study

from .svg import GRADE_COLOURS

__all__ = ["populate_sample", "draw_frames", "write_image", "SENTINEL_PATIENT_ID", "SENTINEL_PATIENT_NAME"]

SENTINEL_PATIENT_ID = "PHI-SENTINEL-4711"
SENTINEL_PATIENT_NAME = "Sentinel^Phi"
SC_MF = "1.2.840.10008.5.1.4.1.1.7.4"
US_MF = "1.2.840.10008.5.1.4.1.1.3.1"
SR_3D = "1.2.840.10008.5.1.4.1.1.88.34"


def _uid() -> str:
    return f"2.25.{uuid.uuid4().int}"


def draw_frames(n: int, scores: list[float], w: int = 200, h: int = 150) -> np.ndarray:
    out = []
    for f in range(n):
        im = Image.new("RGB", (w, h), "black")
        d = ImageDraw.Draw(im)
        d.pieslice((w * 0.05, -h * 0.9, w * 0.95, h * 0.95), 55, 125, fill=(70, 70, 70))
        cx, cy = w / 2, h * 0.2
        for i, s in enumerate(scores[:6]):
            ang = math.pi * (0.15 + 0.7 * i / 5)
            r = 12 + 4 * math.sin(2 * math.pi * f / max(n, 1))
            x, y = cx - 40 * math.cos(ang), cy + 90 * math.sin(ang) * 0.9
            colour = GRADE_COLOURS[int(min(max(round(s) - 1, 0), 4))]
            d.ellipse((x - r / 2, y - r / 2, x + r / 2, y + r / 2), fill=colour)
        d.text((4, 4), f"{sum(scores) / len(scores):.1f}", fill="white")
        out.append(np.asarray(im))
    return np.stack(out)


def write_image(path: Path, arr: np.ndarray, sop_class: str, rgb: bool) -> None:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.SOPInstanceUID = _uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = sop_class
    ds.Modality = "OT" if sop_class == SC_MF else "US"
    if rgb:
        ds.set_pixel_data(arr, "RGB", 8)
    else:
        ds.set_pixel_data(arr[..., 0], "MONOCHROME2", 8)
    ds.NumberOfFrames = arr.shape[0]
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)


def _result(modality: str, score: float | None, n: int, reason: str | None, rescan: bool) -> dict[str, Any]:
    rng = np.random.default_rng(int((score or 0) * 100) + n)
    base = {
        "schema": "cardiac-qa/result/1",
        "analysis_uid": _uid(),
        "analyzer": "echo-regional" if modality == "US" else "mr-wholeheart",
        "analyzer_version": "1.0.0",
        "models": [],
        "study_instance_uid": _uid(),
        "series_instance_uid": _uid(),
        "sop_instance_uids": [_uid()],
        "modality": modality,
        "view": "A4C" if modality == "US" else None,
        "assessable": score is not None,
        "reason": reason,
        "timings_ms": {},
    }
    if modality == "US":
        base["scale"] = {"min": 1, "max": 5, "labels": ["not visible", "poor", "ok", "good", "excellent"]}
    else:
        base["scale"] = {
            "min": 0,
            "max": 4,
            "labels": ["nondiagnostic", "marked blurring", "moderate blurring", "mild blurring", "excellent"],
        }
    if score is None:
        base.update(
            view=None, regions=[], frames=None, decisions={"rescan_recommended": False, "reasons": [reason]}
        )
        if modality == "US":
            base["decisions"]["ef_suitable"] = False
        return base
    lo, hi = base["scale"]["min"], base["scale"]["max"]
    regions = []
    for i, rid in enumerate(ECHO_REGION_IDS if modality == "US" else MR_REGION_IDS):
        s = float(np.clip(score + (i % 3 - 1) * 0.5, lo, hi))
        r: dict[str, Any] = {
            "id": rid,
            "name": rid.replace("_", " "),
            "in_sector": True,
            "score": s,
            "label": base["scale"]["labels"][int(round(s - lo))],
            "min": max(lo, s - 0.6),
            "metrics": {},
        }
        if modality == "US":
            fs = np.clip(s + 0.4 * np.sin(np.linspace(0, 4 * np.pi, n) + i) + rng.normal(0, 0.1, n), lo, hi)
            ok = float(np.mean(fs >= 3.0))
            r.update(
                frame_scores=[round(float(v), 3) for v in fs],
                fraction_ok=ok,
                approved_for_strain=(ok >= 0.9) if i < 6 else None,
            )
        regions.append(r)
    base["regions"] = regions
    base["global"] = {"score": score, "label": base["scale"]["labels"][int(round(score - lo))]}
    base["frames"] = {"count": n, "ed": [1, n // 2 + 1], "es": [n // 4 + 1]} if modality == "US" else None
    reasons = [f"global score {score:.1f} below the rescan threshold"] if rescan else []
    base["decisions"] = {"rescan_recommended": rescan, "reasons": reasons}
    if modality == "US":
        base["decisions"]["ef_suitable"] = score >= 3.0
    return base


CASES: tuple[tuple[str, str, str, str, float | None, bool, str | None, str, int], ...] = (
    # modality, description, station, aet, score, rescan, reason, state, days ago
    ("US", "Echo A4C", "ECHO-1", "US_CART_1", 4.1, False, None, "done", 0),
    ("US", "Echo A2C", "ECHO-1", "US_CART_1", 2.1, True, None, "done", 0),
    ("US", "Echo ALAX", "ECHO-2", "US_CART_2", 3.3, False, None, "done", 1),
    ("MR", "WH 3D bSSFP", "MR-1", "MR_SCANNER", 3.2, False, None, "done", 1),
    ("MR", "WH 3D bSSFP", "MR-1", "MR_SCANNER", 1.4, True, None, "done", 2),
    (
        "US",
        "Echo short loop",
        "ECHO-2",
        "US_CART_2",
        None,
        False,
        "only 4 frames (echo.min_frames is 8)",
        "done",
        2,
    ),
    ("US", "Echo A4C", "ECHO-1", "US_CART_1", None, False, None, "failed", 3),
)


def populate_sample(db: Any, data_dir: Path, frames: int = 12) -> list[int]:
    """Add the sample cases to ``db`` with their files under ``data_dir``; return analysis ids."""
    now = datetime.now(UTC)
    ids = []
    with db.session() as s:
        study = Study(
            study_instance_uid=_uid(),
            patient_id=SENTINEL_PATIENT_ID,
            patient_name=SENTINEL_PATIENT_NAME,
            study_date="20260101",
            study_description="Sample cardiac study",
        )
        s.add(study)
        for k, (mod, desc, station, aet, score, rescan, reason, state, ago) in enumerate(CASES):
            when = now - timedelta(days=ago, minutes=10 * (len(CASES) - k))
            series = Series(
                study=study,
                series_instance_uid=_uid(),
                modality=mod,
                series_description=desc,
                series_number=k + 1,
                station_name=station,
                calling_aet=aet,
                state="done",
                first_received_at=when,
                last_received_at=when,
            )
            n = frames if mod == "US" else 1
            src_rel = f"instances/sample/{uuid.uuid4().hex}.dcm"
            write_image(data_dir / src_rel, draw_frames(n, [3.0] * 6), US_MF, rgb=False)
            inst = Instance(
                series=series,
                sop_instance_uid=_uid(),
                sop_class_uid=US_MF,
                file_path=src_rel,
                size=1,
                sha256="0" * 64,
                transfer_syntax_uid=ExplicitVRLittleEndian,
                number_of_frames=n,
                calling_aet=aet,
                received_at=when,
            )
            s.add(inst)
            s.flush()
            res = _result(mod, score, frames, reason, rescan) if state == "done" else None
            a = Analysis(
                analysis_uid=_uid(),
                series=series,
                instance_id=inst.id if mod == "US" else None,
                unit_kind="instance" if mod == "US" else "series",
                analyzer="echo-regional" if mod == "US" else "mr-wholeheart",
                analyzer_version="1.0.0",
                state=AnalysisState(state),
                result_json=json.dumps(res) if res else None,
                assessable=(score is not None) if res else None,
                global_score=score,
                rescan_recommended=rescan if res else None,
                created_at=when,
                finished_at=when,
                error_code=None if res else "analyzer_error",
            )
            s.add(a)
            s.flush()
            ids.append(a.id)
            if res is None:
                continue
            kinds = [("sr", 0)]
            if score is not None:
                kinds += (
                    [("sc-cine", 0), ("sc-summary", 0)] if mod == "US" else [("sc-mr", i) for i in range(3)]
                )
            for kind, idx in kinds:
                rel = f"outputs/sample/{uuid.uuid4().hex}.dcm"
                path = data_dir / rel
                if kind == "sr":
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(b"not an image")
                else:
                    regs = [r["score"] for r in res["regions"]] or [1.0]
                    nf = frames if kind == "sc-cine" else 1
                    write_image(path, draw_frames(nf, regs), SC_MF, rgb=True)
                out = Output(
                    analysis=a,
                    kind=kind,
                    index=idx,
                    sop_class_uid=SR_3D if kind == "sr" else SC_MF,
                    sop_instance_uid=_uid(),
                    series_instance_uid=_uid(),
                    file_path=rel,
                    size=1,
                    sha256="0" * 64,
                    created_at=when,
                )
                failed = rescan and kind == "sr"
                s.add(
                    Delivery(
                        output=out,
                        destination="pacs",
                        state=DeliveryState.FAILED if failed else DeliveryState.DELIVERED,
                        attempts=10 if failed else 1,
                        next_attempt_at=when,
                        last_error="association rejected" if failed else None,
                        delivered_at=None if failed else when,
                    )
                )
    return ids
