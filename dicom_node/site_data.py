"""A site's labelled MR series as training patches (``cardiac-qa train mr --data DIR``).

Layout of ``DIR``: DICOM files anywhere below it (classic, Enhanced or Legacy Converted MR; one
whole-heart series per label) and ``labels.csv`` with a header line and one row per series::

    series_instance_uid,grade
    1.2.826.0.1.3680043.8.498.1,3.5

``grade`` is the 0–4 whole-heart grade (Piccini et al.). Each series is assembled and checked
exactly as the ``mr-wholeheart`` analyzer does, and its patches are cut with the analyzer's own
sampler (:func:`analyzers.mr.training_patches`), so the model trains on what it will grade.
"""

from __future__ import annotations

import csv
import logging
from collections import defaultdict
from pathlib import Path

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError

from analyzers.mr import ORIENTATIONS, NotAssessable, assemble_volume, training_patches
from models.train.mr_data import QUANT, PatchSet

__all__ = ["SiteDataError", "read_labels", "mr_patchset"]

log = logging.getLogger(__name__)
LABELS = "labels.csv"


class SiteDataError(ValueError):
    """The site folder cannot be used; the message says what to fix (no patient data)."""


def read_labels(path: Path) -> dict[str, float]:
    """``series_instance_uid`` → grade from ``labels.csv`` (grades 0–4)."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except FileNotFoundError:
        raise SiteDataError(f"{path} is missing (columns: series_instance_uid,grade)") from None
    labels: dict[str, float] = {}
    for n, row in enumerate(rows, start=2):
        uid, grade = (row.get("series_instance_uid") or "").strip(), (row.get("grade") or "").strip()
        try:
            value = float(grade)
        except ValueError:
            raise SiteDataError(f"{path.name} line {n}: grade {grade!r} is not a number") from None
        if not uid or not 0.0 <= value <= 4.0:
            raise SiteDataError(f"{path.name} line {n}: needs a series_instance_uid and a grade in 0-4")
        if uid in labels:
            raise SiteDataError(f"{path.name} line {n}: series listed twice")
        labels[uid] = value
    if not labels:
        raise SiteDataError(f"{path.name} has no labelled series")
    return labels


def _series_files(data_dir: Path, wanted: set[str]) -> dict[str, list[Path]]:
    groups: dict[str, list[Path]] = defaultdict(list)
    for f in sorted(p for p in data_dir.rglob("*") if p.is_file() and p.name != LABELS):
        try:
            ds = pydicom.dcmread(f, stop_before_pixels=True, specific_tags=["SeriesInstanceUID"])
        except (InvalidDicomError, OSError, EOFError):
            continue
        uid = str(ds.get("SeriesInstanceUID", ""))
        if uid in wanted:
            groups[uid].append(f)
    return groups


def mr_patchset(
    data_dir: Path, per_orientation: int = 16, seed: int = 0, min_slices: int = 40, min_extent_mm: float = 60.0
) -> tuple[PatchSet, list[str]]:
    """Patches of every labelled series in ``data_dir``.

    Returns
    -------
    (PatchSet, skipped)
        ``PatchSet.seeds`` numbers the series in UID order; ``skipped`` says which labelled series
        could not be used and why (by position in ``labels.csv`` order, never by identifier).

    Raises
    ------
    SiteDataError
        No labels, or fewer than 5 usable series.
    """
    data_dir = Path(data_dir)
    labels = read_labels(data_dir / LABELS)
    order = {uid: n for n, uid in enumerate(labels, start=1)}
    files = _series_files(data_dir, set(labels))
    rng = np.random.default_rng(seed)
    skipped = [f"series {order[u]} of {LABELS}: no DICOM files found" for u in labels if u not in files]
    pats, grades, vols, orients, vgrades = [], [], [], [], []
    for uid in sorted(files, key=order.__getitem__):
        try:
            datasets = [pydicom.dcmread(f) for f in files[uid]]
            vol = assemble_volume(datasets, min_slices, min_extent_mm)
        except NotAssessable as exc:
            skipped.append(f"series {order[uid]} of {LABELS}: {exc.reason}")
            continue
        p = training_patches(vol, rng, per_orientation)
        m = len(vgrades)
        pats.append(np.clip(np.round(p * QUANT), 0, 255).astype(np.uint8))
        grades.append(np.full(len(p), labels[uid], dtype=np.float32))
        vols.append(np.full(len(p), m, dtype=np.int32))
        orients.append(np.repeat(np.arange(len(ORIENTATIONS), dtype=np.int8), per_orientation))
        vgrades.append(labels[uid])
        log.info("site series %d/%d: %d patches", m + 1, len(files), len(p))
    if len(vgrades) < 5:
        raise SiteDataError(
            f"{len(vgrades)} usable labelled series; at least 5 are needed"
            + (f" ({'; '.join(skipped)})" if skipped else "")
        )
    ps = PatchSet(
        patches=np.concatenate(pats), grades=np.concatenate(grades), volume=np.concatenate(vols),
        orientation=np.concatenate(orients), volume_grades=np.asarray(vgrades, dtype=np.float32),
        seeds=np.arange(len(vgrades), dtype=np.int64), generator_version="site",
    )
    return ps, skipped
