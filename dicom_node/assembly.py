"""Assembly: when a unit of analysis is READY, route it and create its analysis rows (ARCHITECTURE.md §1).

- US instances (single or multi-frame) and multi-frame MR objects (Enhanced / Legacy Converted):
  one *instance* unit each, READY as soon as the instance is stored.
- Classic single-frame series (MR Image Storage, and any other single-frame modality): one
  *series* unit, READY once no instance arrived for ``assembly.series_stable_seconds``, or at once
  when forced (``cardiac-qa studies --analyze``).

Instances arriving after a series was analysed put it back into RECEIVING; the new analysis
supersedes the old one (``supersedes_id``; the old one gets ``superseded=True`` and, if it had not
started yet, is skipped). Routing to ``"none"`` creates no analysis; an analyzer name that is not
registered creates a SKIPPED analysis with the reason.

Every function takes ``(db, settings, now)`` and runs one pass; the scheduler calls them
periodically and tests call them directly with an explicit ``now``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from pydicom.uid import (
    EnhancedMRColorImageStorage,
    EnhancedMRImageStorage,
    LegacyConvertedEnhancedMRImageStorage,
)
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from config.settings import Settings
from storage.schema import Analysis, AnalysisState, Instance, Series, SeriesState, as_utc, utcnow

from .routing import NO_ANALYZER, RoutingHeader, choose_analyzer

if TYPE_CHECKING:
    from storage.db import Database

__all__ = [
    "AssemblyError",
    "AssemblyResult",
    "assemble",
    "force_series",
    "new_analysis_uid",
    "pending_depth",
    "unit_kind_for",
]

log = logging.getLogger(__name__)

_MULTIFRAME_SERIES_CLASSES = frozenset(
    {str(EnhancedMRImageStorage), str(LegacyConvertedEnhancedMRImageStorage), str(EnhancedMRColorImageStorage)}
)


class AssemblyError(Exception):
    """A requested assembly action is impossible (for example an unknown series)."""

    code = "assembly_error"


@dataclass
class AssemblyResult:
    """What one assembly pass did."""

    created: list[int] = field(default_factory=list)  # analysis ids (pending or skipped)
    series_done: list[int] = field(default_factory=list)  # series ids set DONE
    waiting: list[int] = field(default_factory=list)  # series ids inside their stability window
    backpressure: bool = False


def new_analysis_uid() -> str:
    """A fresh ``2.25.`` UUID-derived UID (PS3.5 B.2) for one analysis."""
    return f"2.25.{uuid.uuid4().int}"


def unit_kind_for(modality: str | None, sop_class_uid: str | None, number_of_frames: int | None) -> str:
    """``"instance"`` (analysed alone, at once) or ``"series"`` (analysed with its series, when stable).

    US instances and multi-frame objects are instance units; classic single-frame series wait for
    the stability window.
    """
    if (modality or "").upper() == "US":
        return "instance"
    if (sop_class_uid or "") in _MULTIFRAME_SERIES_CLASSES or (number_of_frames or 1) > 1:
        return "instance"
    return "series"


def _header(series: Series, inst: Instance) -> RoutingHeader:
    image_type = tuple(v for v in (inst.image_type or "").split("\\") if v)
    return RoutingHeader(
        Modality=series.modality,
        SOPClassUID=inst.sop_class_uid,
        SeriesDescription=series.series_description,
        ImageType=image_type,
        NumberOfFrames=inst.number_of_frames,
    )


def pending_depth(session: Session) -> int:
    """Number of PENDING analyses (the queue depth backpressure looks at)."""
    return int(
        session.scalar(select(func.count()).select_from(Analysis).where(Analysis.state == AnalysisState.PENDING))
        or 0
    )


def _previous(session: Session, series: Series, inst: Instance | None) -> list[Analysis]:
    """The analyses a new one for this unit supersedes (not yet superseded ones, oldest first)."""
    q = select(Analysis).where(Analysis.series_id == series.id, Analysis.superseded.is_(False))
    if inst is None:
        q = q.where(Analysis.unit_kind == "series")
    else:
        same_sop = select(Instance.id).where(Instance.sop_instance_uid == inst.sop_instance_uid)
        q = q.where(Analysis.unit_kind == "instance", Analysis.instance_id.in_(same_sop))
    return list(session.scalars(q.order_by(Analysis.id)))


def _create(
    session: Session,
    series: Series,
    inst: Instance | None,
    header_inst: Instance,
    settings: Settings,
    known: Collection[str] | None,
    now: datetime,
) -> Analysis | None:
    analyzer = choose_analyzer(settings.routes, _header(series, header_inst))
    if analyzer == NO_ANALYZER:
        return None
    previous = _previous(session, series, inst)
    row = Analysis(
        analysis_uid=new_analysis_uid(),
        series_id=series.id,
        instance_id=inst.id if inst is not None else None,
        unit_kind="instance" if inst is not None else "series",
        analyzer=analyzer,
        state=AnalysisState.PENDING,
        attempts=0,
        superseded=False,
        supersedes_id=previous[-1].id if previous else None,
        created_at=now,
    )
    if known is not None and analyzer not in known:
        row.state = AnalysisState.SKIPPED
        row.error_code = "analyzer_unknown"
        row.error_message = (
            f"the routes name analyzer {analyzer!r}, which is not registered "
            f"(registered: {', '.join(sorted(known)) or 'none'}); fix [[routes]] or [analyzers] plugins"
        )
        row.finished_at = now
    session.add(row)
    session.flush()
    for old in previous:
        old.superseded = True
        if old.state == AnalysisState.PENDING:
            old.state = AnalysisState.SKIPPED
            old.error_code = "superseded"
            old.error_message = f"superseded by analysis {row.id} before it started"
            old.finished_at = now
    log.info("analysis %d created: %s (%s unit, %s)", row.id, analyzer, row.unit_kind, row.state.value)
    return row


def _analysed_instance_ids(session: Session, series_id: int) -> set[int]:
    q = select(Analysis.instance_id).where(Analysis.series_id == series_id, Analysis.instance_id.is_not(None))
    return {i for i in session.scalars(q) if i is not None}


def _process(
    session: Session,
    series: Series,
    settings: Settings,
    known: Collection[str] | None,
    now: datetime,
    force: bool,
    result: AssemblyResult,
) -> None:
    """Route the READY parts of one series; the caller holds the series (state READY)."""
    current = list(
        session.scalars(
            select(Instance).where(Instance.series_id == series.id, Instance.is_current.is_(True)).order_by(Instance.id)
        )
    )
    analysed = set() if force else _analysed_instance_ids(session, series.id)
    series_part: list[Instance] = []
    for inst in current:
        if unit_kind_for(series.modality, inst.sop_class_uid, inst.number_of_frames) == "series":
            series_part.append(inst)
        elif inst.id not in analysed:
            row = _create(session, series, inst, inst, settings, known, now)
            if row is not None:
                result.created.append(row.id)
    window = timedelta(seconds=settings.assembly.series_stable_seconds)
    stable = force or now - as_utc(series.last_received_at) >= window
    if series_part and stable:
        row = _create(session, series, None, series_part[0], settings, known, now)
        if row is not None:
            result.created.append(row.id)
    if series_part and not stable:
        series.state = SeriesState.RECEIVING
        result.waiting.append(series.id)
    else:
        series.state = SeriesState.DONE
        result.series_done.append(series.id)


def _claim_series(session: Session, series: Series, now: datetime, force: bool) -> bool:
    """RECEIVING → READY with a conditional UPDATE, so concurrent assemblers never both take it."""
    q = update(Series).where(Series.id == series.id)
    if not force:
        q = q.where(Series.state == SeriesState.RECEIVING, Series.last_received_at == series.last_received_at)
    rc = session.execute(q.values(state=SeriesState.READY, ready_at=now).execution_options(synchronize_session=False))
    if rc.rowcount != 1:
        return False
    session.refresh(series)
    return True


def _reopen_late_series(session: Session) -> None:
    # Safety net: a series analysed before its latest instance arrived receives again.
    session.execute(
        update(Series)
        .where(
            Series.state.in_((SeriesState.READY, SeriesState.DONE)),
            Series.ready_at.is_not(None),
            Series.last_received_at > Series.ready_at,
        )
        .values(state=SeriesState.RECEIVING)
        .execution_options(synchronize_session=False)
    )


def assemble(
    db: Database,
    settings: Settings,
    now: datetime | None = None,
    known_analyzers: Collection[str] | None = None,
) -> AssemblyResult:
    """One assembly pass over every RECEIVING series.

    Parameters
    ----------
    db
        ``storage.db.Database``.
    settings
        Node settings (``routes``, ``assembly.series_stable_seconds``, ``workers.max_pending``).
    now
        The time the stability window is measured against (UTC); default: the current time.
    known_analyzers
        Registered analyzer names; a route naming another analyzer gives a SKIPPED analysis.
        ``None`` skips that check.

    Returns
    -------
    AssemblyResult
        With ``backpressure=True`` once the queue holds ``workers.max_pending`` pending
        analyses: series not reached wait (their instances are still stored). The depth is
        checked before each series, so a pass overshoots by one series' units at most.
    """
    now = as_utc(now or utcnow())
    result = AssemblyResult()
    with db.session() as session:
        _reopen_late_series(session)
    with db.session() as session:
        if pending_depth(session) >= settings.workers.max_pending:
            result.backpressure = True
            return result
        ids = list(
            session.scalars(
                select(Series.id).where(Series.state == SeriesState.RECEIVING).order_by(Series.last_received_at)
            )
        )
    window = timedelta(seconds=settings.assembly.series_stable_seconds)
    for series_id in ids:
        with db.session() as session:
            if pending_depth(session) >= settings.workers.max_pending:  # checked per series:
                result.backpressure = True  # a pass overshoots by one series' units at most
                break
            series = session.get(Series, series_id)
            if series is None or series.state != SeriesState.RECEIVING:
                continue
            if now - as_utc(series.last_received_at) < window and not _has_unanalysed_instance_units(
                session, series
            ):
                result.waiting.append(series.id)
                continue
            if not _claim_series(session, series, now, force=False):
                continue
            _process(session, series, settings, known_analyzers, now, False, result)
    return result


def _has_unanalysed_instance_units(session: Session, series: Series) -> bool:
    analysed = _analysed_instance_ids(session, series.id)
    rows = session.execute(
        select(Instance.id, Instance.sop_class_uid, Instance.number_of_frames).where(
            Instance.series_id == series.id, Instance.is_current.is_(True)
        )
    )
    return any(
        unit_kind_for(series.modality, cls, frames) == "instance" and iid not in analysed
        for iid, cls, frames in rows
    )


def force_series(
    db: Database,
    settings: Settings,
    series_instance_uid: str,
    now: datetime | None = None,
    known_analyzers: Collection[str] | None = None,
) -> list[int]:
    """Make a series READY now and (re-)analyse all its current instances, ignoring the window.

    Existing analyses of the same units are superseded. Used by ``cardiac-qa studies --analyze``.

    Returns
    -------
    list of int
        The ids of the analyses created (empty when the routes say ``"none"``).

    Raises
    ------
    AssemblyError
        If no series has this Series Instance UID.
    """
    now = as_utc(now or utcnow())
    result = AssemblyResult()
    with db.session() as session:
        series = session.scalars(select(Series).where(Series.series_instance_uid == series_instance_uid)).first()
        if series is None:
            raise AssemblyError("no series with that Series Instance UID has been received")
        _claim_series(session, series, now, force=True)
        _process(session, series, settings, known_analyzers, now, True, result)
    return result.created
