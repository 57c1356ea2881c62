"""``generate_studies``: synthetic echo studies as DICOM files plus ``truth.json``.

Study ``k`` (0-based) gets view ``VIEWS[k % 3]``, encoding ``ENCODINGS[k % 6]`` and a quality level
spread over 0..1; every 7th study (k % 7 == 5) carries colour-Doppler content (RGB) and k % 7 == 6
is a 2-frame loop. Even studies carry the View Code Sequence; odd ones name the view only in the
Series Description. All randomness comes from ``child_rng(seed, "echo", k)``, so the same seed
gives the same bytes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..common import child_rng, derive_uid, synthetic_patient
from ..dicom_us import ENCODINGS, UsRegion, UsSeriesInfo, write_us_multiframe
from .anatomy import VIEWS
from .degrade import SEVERITY_KINDS, label_from_grade
from .loop import EchoLoop, make_loop
from .overlays import KIND_BAR, KIND_ECG, KIND_TEXT
from .regions import REGION_IDS

__all__ = ["DESCRIPTIONS", "generate_studies", "loop_rgb"]

DESCRIPTIONS: dict[str, tuple[str, ...]] = {
    "A4C": ("Apical 4CH", "A4C", "apical four chamber"),
    "A2C": ("Apical 2CH", "A2C", "apical two chamber"),
    "ALAX": ("APLAX", "Apical long axis", "A3C"),
}


def loop_rgb(loop: EchoLoop, doppler: np.random.Generator | None = None) -> np.ndarray:
    """RGB frames: grey B-mode, tinted annotations and, with ``doppler``, colour flow in the sector."""
    g = loop.frames.astype(np.float32)
    rgb = np.repeat(g[..., None], 3, axis=-1)
    tint = {KIND_TEXT: (1.0, 1.0, 0.75), KIND_ECG: (0.3, 1.0, 0.3), KIND_BAR: (1.0, 1.0, 1.0)}
    for kind, (r, gg, b) in tint.items():
        m = loop.overlay == kind
        rgb[m] = g[m][:, None] * np.array([r, gg, b], np.float32)
    if doppler is not None:
        bar = loop.overlay[0] == KIND_BAR  # the grey bar becomes a velocity colour bar
        rows = np.nonzero(bar.any(axis=1))[0]
        if rows.size:
            mid = (rows.min() + rows.max()) / 2
            level = np.clip(
                np.abs(np.arange(bar.shape[0]) - mid) / max(1.0, (rows.max() - rows.min()) / 2), 0, 1
            )
            red = np.outer(np.where(np.arange(bar.shape[0]) < mid, level, 0.0), np.ones(bar.shape[1])) * 255
            blue = np.outer(np.where(np.arange(bar.shape[0]) >= mid, level, 0.0), np.ones(bar.shape[1])) * 255
            rgb[:, bar] = np.stack([red[bar], 0.3 * np.maximum(red, blue)[bar], blue[bar]], -1)
        box = colour_box(loop)
        for f, t in enumerate(loop.truth):
            blood = ((t.labels == 1) | (t.labels == 3)) & box
            vel = np.sin(2 * np.pi * (loop.phases[f] + np.linspace(0, 1, blood.shape[0])[:, None]))
            vel = vel + 0.3 * doppler.standard_normal(blood.shape)
            red = np.clip(vel, 0, 1) * 230
            blue = np.clip(-vel, 0, 1) * 230
            col = np.stack([red, 0.4 * np.maximum(red, blue), blue], -1)
            rgb[f][blood] = col[blood]
    return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)


def colour_box(loop: EchoLoop) -> np.ndarray:
    """Colour-flow box: the central third of the sector over the mitral inflow (bool (H, W))."""
    r = loop.raster
    rows = (np.arange(r.height) - r.apex_row)[:, None] * r.dz
    cols = (np.arange(r.width) - r.apex_col)[None, :] * r.dx
    rad, th = np.hypot(rows, cols), np.arctan2(cols, rows)
    lm = loop.truth[0].landmarks
    r_mid = float(np.hypot(*lm.annulus_left_mm) + np.hypot(*lm.annulus_right_mm)) / 2
    return (np.abs(th) < loop.sector.half_angle / 3) & (np.abs(rad - r_mid) < 35) & loop.sector_mask


def _regions(loop: EchoLoop, doppler: bool) -> tuple[UsRegion, ...]:
    r = loop.raster
    ys, xs = np.nonzero(loop.sector_mask)
    ref = (int(round(r.apex_col)), int(round(r.apex_row)))
    tissue = UsRegion(
        int(xs.min()),
        int(ys.min()),
        int(xs.max()),
        int(ys.max()),
        ref[0] - int(xs.min()),
        ref[1] - int(ys.min()),
        r.dx,
        r.dz,
    )
    out = [tissue]
    if doppler:
        by, bx = np.nonzero(colour_box(loop))
        out.append(
            UsRegion(
                int(bx.min()),
                int(by.min()),
                int(bx.max()),
                int(by.max()),
                ref[0] - int(bx.min()),
                ref[1] - int(by.min()),
                r.dx,
                r.dz,
                data_type=2,
            )
        )
    return tuple(out)


def _truth_entry(
    loop: EchoLoop,
    rel: str,
    info: UsSeriesInfo,
    enc: tuple[str, str],
    view_source: str,
    doppler: bool,
    quality: float,
) -> dict[str, Any]:
    grades = np.stack([t.grades for t in loop.truth])
    lm = [t.landmarks for t in loop.truth]
    return {
        "path": rel,
        "study_instance_uid": info.patient.study_instance_uid,
        "series_instance_uid": info.series_instance_uid,
        "sop_instance_uid": info.sop_instance_uid,
        "patient_id": info.patient.patient_id,
        "view": loop.view,
        "view_source": view_source,
        "photometric": enc[0],
        "transfer": enc[1],
        "colour_doppler": doppler,
        "quality_level": round(quality, 4),
        "frames": int(loop.frames.shape[0]),
        "rows": int(loop.frames.shape[1]),
        "columns": int(loop.frames.shape[2]),
        "frame_time_ms": loop.frame_time_ms,
        "heart_rate_bpm": loop.heart_rate_bpm,
        "pixel_spacing_mm": [round(v, 6) for v in loop.pixel_spacing_mm],
        "sector": {
            "angle_deg": round(loop.sector.angle_deg, 3),
            "depth_mm": round(loop.sector.depth_mm, 3),
            "apex_row": round(loop.raster.apex_row, 3),
            "apex_col": round(loop.raster.apex_col, 3),
        },
        "ed_frames": [i + 1 for i in loop.ed_frames],
        "es_frames": [i + 1 for i in loop.es_frames],
        "region_ids": list(REGION_IDS),
        "grades": np.round(grades, 4).tolist(),
        "labels": label_from_grade(grades).tolist(),
        "in_sector": np.stack([t.in_sector for t in loop.truth]).tolist(),
        "severity_kinds": list(SEVERITY_KINDS),
        "severities": np.round(np.stack([t.severities for t in loop.truth]), 4).tolist(),
        "landmarks_px": [
            {
                "annulus_left": [round(v, 2) for v in m.annulus_left_px],
                "annulus_right": [round(v, 2) for v in m.annulus_right_px],
                "apex": [round(v, 2) for v in m.apex_px],
            }
            for m in lm
        ],
        "lv_area_mm2": [round(t.lv_area_mm2, 2) for t in loop.truth],
    }


def generate_studies(
    out_dir: Path, n: int = 4, seed: int = 0, small: bool = False, preview: Path | None = None
) -> list[dict[str, Any]]:
    """Write ``n`` echo studies under ``out_dir/echo/`` and ``out_dir/echo/truth.json``.

    Returns the truth list (one entry per written file). ``preview`` also writes a contact sheet.
    """
    from . import GENERATOR_VERSION

    out_dir = Path(out_dir)
    truth: list[dict[str, Any]] = []
    loops: list[EchoLoop] = []
    for k in range(n):
        rng = child_rng(seed, "echo", k)
        view = VIEWS[k % len(VIEWS)]
        enc = ENCODINGS[k % len(ENCODINGS)]
        doppler = k % 7 == 5
        if doppler and enc[0] == "MONOCHROME2":
            enc = ("RGB", "rle")
        quality = float((0.15 + 0.618034 * k) % 1.0)
        frames = 2 if k % 7 == 6 else None
        loop = make_loop(rng, view=view, frames=frames, small=small, quality=quality)
        patient = synthetic_patient(seed, "ECHO", k)
        with_code = k % 2 == 0
        desc = "Echo 2D" if with_code else DESCRIPTIONS[view][int(rng.integers(3))]
        info = UsSeriesInfo(
            patient=patient,
            series_instance_uid=derive_uid(seed, "echo", k, "series"),
            sop_instance_uid=derive_uid(seed, "echo", k, "instance"),
            series_number=1,
            instance_number=1,
            series_description=desc + (" colour" if doppler else ""),
            frame_time_ms=loop.frame_time_ms,
            heart_rate_bpm=loop.heart_rate_bpm,
            regions=_regions(loop, doppler),
            view=view if with_code else None,
            frame_time_vector=k % 4 == 3,
            color_present=doppler,
        )
        pixels = loop.frames if enc[0] == "MONOCHROME2" else loop_rgb(loop, rng if doppler else None)
        rel = f"echo/S{k + 1:04d}/{view}_{enc[0].lower()}_{enc[1]}.dcm"
        write_us_multiframe(out_dir / rel, pixels, info, enc[0], enc[1])
        truth.append(
            _truth_entry(loop, rel, info, enc, "code" if with_code else "description", doppler, quality)
        )
        loops.append(loop)
    doc = {
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "n": n,
        "small": small,
        "frame_numbers": "1-based",
        "files": truth,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    # Per kind, so echo and MR generated into one folder keep both truths; paths stay relative
    # to out_dir.
    (out_dir / "echo").mkdir(parents=True, exist_ok=True)
    (out_dir / "echo" / "truth.json").write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    if preview is not None:
        from .preview import loops_sheet

        loops_sheet(loops, Path(preview))
    return truth
