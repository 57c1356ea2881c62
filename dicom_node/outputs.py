"""Turning a finished analysis into DICOM output objects and delivery rows (ARCHITECTURE.md §6).

:func:`produce_outputs` loads the analysis and its source files, builds the SR and SCs
(:func:`dicom_node.reports.build_output_objects`), writes each one durably into the file store
(``outputs/``), then records in one transaction an :class:`~storage.schema.Output` row per object
and a pending :class:`~storage.schema.Delivery` row per configured destination. With
``delivery.outbox_dir`` each object is also copied there (atomically, named by our own UID).

Idempotent: an analysis that already has outputs gets none again (at most the delivery rows of
destinations added to the config since). A re-analysis of the same unit has a new analysis UID and
therefore new output UIDs, and its SR lists the previous SR in the Predecessor Documents Sequence.
"""

from __future__ import annotations

import io
import logging
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from analyzers.base.result import QualityResult
from config.settings import Settings
from storage.schema import Analysis, AnalysisState, Delivery, Instance, Output, utcnow

__all__ = ["OutputsError", "encode_part10", "produce_outputs", "recover_outputs"]

log = logging.getLogger(__name__)


class OutputsError(Exception):
    """Outputs cannot be produced for an analysis (not done, no result, sources gone)."""

    code = "outputs_failed"


def encode_part10(ds: Dataset) -> bytes:
    """The dataset as a Part-10 file (PS3.10 7.1)."""
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _predecessor(session: Any, row: Analysis) -> Dataset | None:
    """The SR of the analysis this one supersedes, else of the newest earlier one of the same unit."""
    query = select(Output).join(Analysis).where(Output.kind == "sr", Analysis.id != row.id)
    if row.supersedes_id is not None:
        query = query.where(Analysis.id == row.supersedes_id)
    else:
        query = query.where(Analysis.series_id == row.series_id, Analysis.id < row.id)
        if row.instance_id is not None:
            query = query.where(Analysis.instance_id == row.instance_id)
    prev = session.scalars(query.order_by(Analysis.id.desc()).limit(1)).first()
    if prev is None:
        return None
    ds = Dataset()
    ds.SOPClassUID = prev.sop_class_uid
    ds.SOPInstanceUID = prev.sop_instance_uid
    ds.SeriesInstanceUID = prev.series_instance_uid
    ds.StudyInstanceUID = row.series.study.study_instance_uid
    return ds


def _add_deliveries(session: Any, settings: Settings, outputs: list[Output]) -> None:
    now = utcnow()
    for out in outputs:
        have = {d.destination for d in out.deliveries}
        for dest in settings.destinations:
            if dest.name not in have:
                session.add(Delivery(output_id=out.id, destination=dest.name, next_attempt_at=now))


def _copy_to_outbox(outbox: Path, name: str, data: bytes) -> None:
    outbox.mkdir(parents=True, exist_ok=True)
    tmp = outbox / f".{name}.tmp"
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, outbox / name)


def produce_outputs(db: Any, store: Any, settings: Settings, analysis_id: int, **drawing: Any) -> list[int]:
    """Build SR/SC for analysis ``analysis_id``, store them, record Output and Delivery rows.

    Parameters
    ----------
    db, store
        ``storage.db.Database`` and ``storage.filestore.FileStore``.
    drawing
        Optional ``geometry`` / ``grade_map`` passed to the report builders.

    Returns
    -------
    list[int]
        The new Output row ids (empty when the analysis already had outputs, or for a
        not-assessable result with ``reports.not_assessable_sr = false``).
    """
    from dicom_node.reports import build_output_objects

    with db.session() as session:
        row = session.get(Analysis, analysis_id)
        if row is None:
            raise OutputsError(f"analysis {analysis_id} does not exist")
        if row.state != AnalysisState.DONE or not row.result_json:
            raise OutputsError(f"analysis {analysis_id} is {row.state}, not done with a result")
        if row.outputs:
            _add_deliveries(session, settings, list(row.outputs))
            return []
        result = QualityResult.from_json(row.result_json)
        files = session.scalars(
            select(Instance.file_path).where(
                Instance.sop_instance_uid.in_(result.sop_instance_uids),
                Instance.is_current.is_(True),
                Instance.purged_at.is_(None),
            )
        ).all()
        predecessor = _predecessor(session, row)
    if not files:
        raise OutputsError(f"analysis {analysis_id}: the source files are no longer stored")
    sources = [dcmread(store.path(p)) for p in files]
    objects = build_output_objects(result, sources, settings, predecessor, **drawing)
    stored = []
    for obj in objects:
        data = encode_part10(obj.dataset)
        stored.append((obj, store.write_atomic(data, kind="outputs"), data))
    try:
        with db.session() as session:
            rows = []
            for obj, sf, _ in stored:
                out = Output(
                    analysis_id=analysis_id, kind=obj.kind, index=obj.index,
                    sop_class_uid=str(obj.dataset.SOPClassUID), sop_instance_uid=str(obj.dataset.SOPInstanceUID),
                    series_instance_uid=str(obj.dataset.SeriesInstanceUID), file_path=sf.rel_path,
                    size=sf.size, sha256=sf.sha256,
                )
                session.add(out)
                rows.append(out)
            session.flush()
            _add_deliveries(session, settings, rows)
            ids = [r.id for r in rows]
    except IntegrityError:
        # Another worker produced the same outputs meanwhile: keep theirs, drop our files.
        for _, sf, _ in stored:
            store.remove(sf.rel_path)
        log.info("analysis %d: outputs were produced concurrently; kept the existing ones", analysis_id)
        return []
    if settings.delivery.outbox_dir is not None:
        for obj, _, data in stored:
            _copy_to_outbox(Path(settings.delivery.outbox_dir), f"{obj.kind}-{obj.dataset.SOPInstanceUID}.dcm", data)
    log.info("analysis %d: %d output objects stored", analysis_id, len(ids))
    return ids


def recover_outputs(db: Any, store: Any, settings: Settings, finished_before: datetime | None = None) -> int:
    """Build the outputs of DONE analyses that have none; return how many got outputs.

    The job runner commits DONE with the result, then builds the outputs; a crash in between, or an
    outputs failure (a full disk), would otherwise leave the analysis without outputs for ever. The
    node runs this at start-up and the scheduler every minute, then only for analyses that
    finished before ``finished_before`` (so a worker still building its own outputs is left alone).
    Superseded analyses, and not-assessable ones when ``reports.not_assessable_sr`` is off, are
    skipped.
    """
    query = select(Analysis.id).where(
        Analysis.state == AnalysisState.DONE,
        Analysis.result_json.is_not(None),
        Analysis.superseded.is_(False),
        Analysis.id.not_in(select(Output.analysis_id)),
    )
    if not settings.reports.not_assessable_sr:
        query = query.where(Analysis.assessable.is_(True))
    if finished_before is not None:
        query = query.where(Analysis.finished_at < finished_before)
    with db.session() as session:
        ids = list(session.scalars(query))
    recovered = 0
    for analysis_id in ids:
        try:
            recovered += bool(produce_outputs(db, store, settings, analysis_id))
        except Exception as exc:  # noqa: BLE001 — same boundary as the job runner's outputs call
            log.warning("outputs for analysis %d still missing: %s", analysis_id, type(exc).__name__)
    if recovered:
        log.warning("built the missing outputs of %d finished analyses", recovered)
    return recovered

