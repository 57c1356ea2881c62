"""DICOM outputs of an analysis: TID 1500 SR and Secondary Capture overlays (ARCHITECTURE.md §6).

This package is the only highdicom importer of the project. :func:`build_outputs` returns the SR
first, then the SCs: per echo loop a Multi-frame True Color SC of the loop with the grades burnt in
and a one-frame summary card; for MR the axial, sagittal and coronal reformats with the grade map
and the summary card. UIDs are derived from the analysis (see :mod:`.uids`).

Optional inputs the result JSON does not carry: ``geometry`` (per-region polygons on the first ED
frame of the echo source; without it the SR has no image regions and the cine SC shows the legend
and frame-score strip only) and ``grade_map`` (MR; without it the octant grades are coloured).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset

from analyzers.base.result import QualityResult
from config.settings import Settings

from .header import clean_header, source_refs
from .render import render_echo_frames, render_mr_reformats, render_summary, source_frames_rgb
from .sc import build_sc
from .sr import build_sr
from .uids import OutputUids, analysis_key

__all__ = ["OutputObject", "ReportsError", "analysis_key", "build_output_objects", "build_outputs"]

log = logging.getLogger(__name__)
_PIXEL_ERRORS = (AttributeError, KeyError, IndexError, TypeError, ValueError, RuntimeError, NotImplementedError)


class ReportsError(Exception):
    """The outputs cannot be built (bad inputs); the message names what is wrong."""

    code = "reports_failed"


@dataclass(frozen=True)
class OutputObject:
    """One output: ``kind`` is ``sr``, ``sc-cine``, ``sc-summary`` or ``sc-mr``."""

    kind: str
    index: int
    dataset: Dataset


def _ordered(result: QualityResult, sources: Sequence[Dataset]) -> list[Dataset]:
    by_uid = {str(ds.get("SOPInstanceUID", "")): ds for ds in sources}
    ordered = [by_uid[u] for u in result.sop_instance_uids if u in by_uid]
    return ordered or list(sources)


def _frame_time(ds: Dataset) -> float | None:
    for keyword in ("FrameTime",):
        try:
            value = float(ds.get(keyword) or 0)
        except (TypeError, ValueError):
            value = 0.0
        if value > 0:
            return value
    try:
        rate = float(ds.get("CineRate") or ds.get("RecommendedDisplayFrameRate") or 0)
    except (TypeError, ValueError):
        rate = 0.0
    return 1000.0 / rate if rate > 0 else None


def build_output_objects(
    result: QualityResult,
    source_datasets: Sequence[Dataset],
    settings: Settings,
    predecessor: Dataset | None = None,
    *,
    geometry: Mapping[str, np.ndarray] | None = None,
    grade_map: np.ndarray | Callable[[np.ndarray], np.ndarray] | None = None,
) -> list[OutputObject]:
    """The outputs of ``result`` with their kind and index (see :func:`build_outputs`)."""
    if not source_datasets:
        raise ReportsError("no source datasets: the outputs reference the analysed images")
    if not result.assessable and not settings.reports.not_assessable_sr:
        return []
    sources = _ordered(result, source_datasets)
    uids = OutputUids(result, settings.reports.uid_root)
    header = clean_header(sources[0])
    refs = source_refs(sources)
    width = settings.reports.sc_max_width
    label = "echo" if result.modality == "US" else "MR"
    out = [OutputObject("sr", 0, build_sr(result, sources, uids, geometry=geometry, predecessor=predecessor))]
    number = 2

    def sc(kind: str, index: int, frames: list, description: str, derivation: str,
           refs_: Sequence[tuple[str, str]], frame_time: float | None = None) -> None:
        nonlocal number
        ds = build_sc(
            frames, header, sop_instance_uid=uids.uid(kind, index), series_instance_uid=uids.sc_series,
            instance_number=number, source_refs=refs_, series_description=description,
            derivation=derivation, frame_time_ms=frame_time,
        )
        out.append(OutputObject(kind, index, ds))
        number += 1

    series_desc = f"Automatic {label} quality QA overlays"
    try:
        if result.assessable and result.modality == "US":
            src = sources[0]
            frames = source_frames_rgb(src)
            images = render_echo_frames(frames, result, width, geometry=geometry)
            sc("sc-cine", 0, images, series_desc,
               "Source loop with automatic regional image quality grades burnt in", refs[:1], _frame_time(src))
        elif result.assessable:
            for i, (name, image) in enumerate(render_mr_reformats(sources, result, width, grade_map=grade_map)):
                sc("sc-mr", i, [image], series_desc,
                   f"{name} reformat through the centre with quality grade map", refs)
    except _PIXEL_ERRORS as exc:
        # The source pixels could not be drawn (no decoder, odd geometry): the SR and the summary
        # card still go out; the analysis itself already decoded what it needed.
        log.warning("image overlay skipped: %s", type(exc).__name__)
    sc("sc-summary", 0, [render_summary(result, width)], series_desc,
       "Summary of automatic image quality grades", refs)
    log.debug("built %d output objects", len(out))
    return out


def build_outputs(
    result: QualityResult,
    source_datasets: Sequence[Dataset],
    settings: Settings,
    predecessor: Dataset | None = None,
    *,
    geometry: Mapping[str, np.ndarray] | None = None,
    grade_map: np.ndarray | Callable[[np.ndarray], np.ndarray] | None = None,
) -> list[Dataset]:
    """SR first, then the SCs, for one QualityResult.

    Parameters
    ----------
    result
        The analysis result (ARCHITECTURE.md §4).
    source_datasets
        The analysed instances, decoded-able (pixel data needed for the SCs).
    settings
        Node settings (``reports.uid_root``, ``reports.not_assessable_sr``, ``reports.sc_max_width``).
    predecessor
        The previous SR of the same unit, for the Predecessor Documents Sequence (PS3.3 C.17.2).
    geometry, grade_map
        Optional drawing inputs; see the package docstring.

    Returns
    -------
    list[Dataset]
        Empty for a not-assessable result when ``reports.not_assessable_sr`` is false.
    """
    objs = build_output_objects(
        result, source_datasets, settings, predecessor, geometry=geometry, grade_map=grade_map
    )
    return [o.dataset for o in objs]
