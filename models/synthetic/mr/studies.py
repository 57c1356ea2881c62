"""``generate_studies``: synthetic MR series on disk with ``truth.json`` (``cardiac-qa synth mr``).

Each study is one series of one synthetic patient under ``out_dir/mr/NNNN_<case>/``. The cases
cycle through :data:`CASES` (orientations, classic vs enhanced, awkward cases); target grades are
stratified over 0–4 so that any ``n`` covers the scale evenly. Every random draw comes from
``child_rng(seed, …)``, so the same seed gives byte-identical files within one environment.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from models.synthetic.common import child_rng, derive_uid, synthetic_patient

from .dicom_common import SeriesInfo
from .grade import sample_severity
from .noncardiac import noncardiac_volume
from .reslice import reformat
from .volume import GENERATOR_VERSION, make_volume

__all__ = ["CASES", "generate_studies"]

#: (case name, storage, orientation, awkward) in the order studies cycle through them.
CASES: tuple[tuple[str, str, str, str | None], ...] = (
    ("axial", "classic", "axial", None),
    ("enhanced", "enhanced", "axial", None),
    ("coronal", "classic", "coronal", None),
    ("oblique", "classic", "oblique", None),
    ("sagittal", "classic", "sagittal", None),
    ("enhanced_oblique", "enhanced", "oblique", None),
    ("missing_slice", "classic", "axial", "missing_slice"),
    ("localizer", "classic", "axial", "localizer"),
    ("noncardiac", "classic", "axial", "noncardiac"),
)


def _study(out_dir: Path, seed: int, index: int, target: float, small: bool) -> dict[str, Any]:
    case, storage, orientation, awkward = CASES[index % len(CASES)]
    rng = child_rng(seed, "mr", index)
    size, spacing = (64, 2.5) if small else (160, 1.0)
    patient = synthetic_patient(seed, "MR", index)
    folder = Path("mr") / f"{index + 1:04d}_{case}"
    info = SeriesInfo(
        patient=patient,
        series_instance_uid=derive_uid(seed, "MR", index, "series"),
        frame_of_reference_uid=derive_uid(seed, "MR", index, "frame-of-reference"),
        series_number=1 + index % 9,
        series_description=("BRAIN T2 3D" if awkward == "noncardiac" else f"WHOLE HEART 3D {orientation.upper()}"),
        body_part="BRAIN" if awkward == "noncardiac" else "HEART",
        protocol_name="T2 3D HEAD" if awkward == "noncardiac" else "3D WHOLE HEART bSSFP",
    )
    entry: dict[str, Any] = {"folder": folder.as_posix(), "case": case, "kind": storage, "orientation": orientation,
                             "awkward": awkward, "patient_name": patient.patient_name,
                             "study_instance_uid": patient.study_instance_uid,
                             "series_instance_uid": info.series_instance_uid}
    if awkward == "noncardiac":
        vol = noncardiac_volume(rng, size, spacing)
        spacing3, origin = (spacing,) * 3, (-(size - 1) / 2.0 * spacing,) * 3
        entry.update(grade=None, grade_rounded=None, severities=None)
    else:
        mv = make_volume(rng, size, sample_severity(rng, target), spacing_mm=spacing)
        vol, spacing3, origin = mv.volume, mv.spacing_mm, mv.origin_mm
        entry.update(grade=round(mv.grade, 4), grade_rounded=mv.grade_rounded,
                     severities={k: round(v, 4) for k, v in mv.severity.items()})
    stack = reformat(vol, spacing3, origin, orientation, rng)
    dest = out_dir / folder
    from models.synthetic.dicom_mr import write_classic_series, write_enhanced

    if storage == "enhanced":
        paths = write_enhanced(stack, info, dest)
    else:
        drop = localizer = None
        if awkward == "missing_slice":
            drop = int(rng.integers(len(stack.pixels) // 4, 3 * len(stack.pixels) // 4))
            entry["missing_slice_index"] = drop
        if awkward == "localizer":
            loc = reformat(vol, spacing3, origin, "coronal")
            mid = len(loc.pixels) // 2
            localizer = replace(loc, pixels=loc.pixels[mid - 1 : mid + 2], positions=loc.positions[mid - 1 : mid + 2])
        paths = write_classic_series(stack, info, dest, rng, drop_slice=drop, localizer=localizer)
    entry["n_files"] = len(paths)
    entry["n_slices"] = len(stack.pixels) - (1 if awkward == "missing_slice" else 0)
    return entry


def generate_studies(
    out_dir: Path | str, n: int = 4, seed: int = 0, small: bool = False, preview: Path | str | None = None
) -> list[dict[str, Any]]:
    """Write ``n`` MR series under ``out_dir/mr/`` and ``out_dir/mr/truth.json``; returns the truth list.

    Parameters
    ----------
    small
        64³ volumes at 2.5 mm (160 mm field of view): quick, for tests and the demo.
        Otherwise 160³ at 1 mm.
    preview
        Optional PNG path for a contact sheet (axial/coronal/sagittal reformats per grade 0–4).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    strata = child_rng(seed, "mr", "grade-strata")
    perm = strata.permutation(n)
    targets = 4.0 * (perm + strata.uniform(0.0, 1.0, n)) / n
    truth = [_study(out, seed, i, float(targets[i]), small) for i in range(n)]
    doc = {"modality": "MR", "generator": "models.synthetic.mr", "generator_version": GENERATOR_VERSION,
           "seed": seed, "small": small, "series": truth}
    # Per kind (see the echo generator); paths inside stay relative to out_dir.
    (out / "mr").mkdir(parents=True, exist_ok=True)
    (out / "mr" / "truth.json").write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    if preview is not None:
        from .preview import contact_sheet

        contact_sheet(Path(preview), seed=seed, small=small)
    return truth
