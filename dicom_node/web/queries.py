"""Read-only queries over the node's database, shared by the dashboard, the CLI and the demo.

Everything here only SELECTs. Rows are plain dataclasses so callers never hold a Session.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from storage.schema import Analysis, AnalysisState, DeliveryState, Instance, Output, Series, Study, as_utc

__all__ = [
    "AnalysisRow",
    "OutputRow",
    "TrendBucket",
    "analysis_row",
    "find_analysis_ids",
    "get_row",
    "list_analyses",
    "list_with_regions",
    "load_result",
    "output_rows",
    "trends",
]


@dataclass
class AnalysisRow:
    """One analysis as the operator sees it (no pixel data, no result JSON)."""

    id: int
    state: str
    analyzer: str
    modality: str | None
    created_at: datetime
    finished_at: datetime | None
    study_id: int
    study_description: str | None
    study_date: str | None
    series_id: int
    series_number: int | None
    series_description: str | None
    station: str | None
    calling_aet: str | None
    view: str | None
    assessable: bool | None
    global_score: float | None
    global_label: str | None
    rescan_recommended: bool | None
    reasons: list[str] = field(default_factory=list)
    error: str | None = None
    outputs: int = 0
    delivered: int = 0
    deliveries: int = 0
    delivery_failed: int = 0

    @property
    def flagged(self) -> bool:
        """Needs a look: rescan recommended, not assessable, or the analysis failed."""
        return bool(self.rescan_recommended) or self.assessable is False or self.state == "failed"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["created_at"] = self.created_at.isoformat() if self.created_at else None
        d["finished_at"] = self.finished_at.isoformat() if self.finished_at else None
        d["flagged"] = self.flagged
        return d


@dataclass
class OutputRow:
    """One output object with its delivery states."""

    id: int
    kind: str
    index: int
    sop_class_uid: str
    sop_instance_uid: str
    file_path: str
    deliveries: list[dict[str, Any]]


@dataclass
class TrendBucket:
    """Analyses of one station / calling AE on one day."""

    source: str
    day: str
    analyzer: str
    count: int
    rescans: int
    mean_grade: float | None

    @property
    def rescan_share(self) -> float:
        return self.rescans / self.count if self.count else 0.0


def load_result(analysis: Analysis) -> dict[str, Any] | None:
    """The stored result JSON as a dict (None when absent or unreadable)."""
    if not analysis.result_json:
        return None
    try:
        data = json.loads(analysis.result_json)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def analysis_row(a: Analysis) -> AnalysisRow:
    """Build the operator's row from an Analysis with its series, study and outputs loaded."""
    res = load_result(a) or {}
    glob = res.get("global") or {}
    decisions = res.get("decisions") or {}
    reasons = list(decisions.get("reasons") or [])
    if res.get("reason") and res["reason"] not in reasons:
        reasons.insert(0, res["reason"])
    deliveries = [d for o in a.outputs for d in o.deliveries]
    s = a.series
    return AnalysisRow(
        id=a.id,
        state=str(a.state.value if hasattr(a.state, "value") else a.state),
        analyzer=a.analyzer,
        modality=s.modality,
        created_at=as_utc(a.created_at),  # type: ignore[arg-type]
        finished_at=as_utc(a.finished_at),
        study_id=s.study_id,
        study_description=s.study.study_description,
        study_date=s.study.study_date,
        series_id=s.id,
        series_number=s.series_number,
        series_description=s.series_description,
        station=s.station_name,
        calling_aet=s.calling_aet,
        view=res.get("view"),
        assessable=a.assessable,
        global_score=a.global_score,
        global_label=glob.get("label"),
        rescan_recommended=a.rescan_recommended,
        reasons=reasons,
        error=a.error_code,
        outputs=len(a.outputs),
        delivered=sum(1 for d in deliveries if d.state == DeliveryState.DELIVERED),
        deliveries=len(deliveries),
        delivery_failed=sum(1 for d in deliveries if d.state == DeliveryState.FAILED),
    )


def _base_query():  # noqa: ANN202 — a SQLAlchemy Select
    return select(Analysis).options(
        selectinload(Analysis.series).selectinload(Series.study),
        selectinload(Analysis.outputs).selectinload(Output.deliveries),
    )


def list_analyses(
    session: Session,
    *,
    flagged: bool = False,
    since: datetime | None = None,
    limit: int | None = None,
    include_superseded: bool = False,
    offset: int = 0,
) -> list[AnalysisRow]:
    """Analyses newest first; ``flagged`` keeps rescans, not-assessable and failed ones."""
    objs = _select(session, flagged, since, limit, include_superseded, offset)
    return [analysis_row(a) for a in objs]


def list_with_regions(session: Session, **kwargs: Any) -> list[tuple[AnalysisRow, list[dict[str, Any]]]]:
    """Like :func:`list_analyses`, each row with the result's region list (for the diagrams)."""
    objs = _select(
        session,
        kwargs.get("flagged", False),
        kwargs.get("since"),
        kwargs.get("limit"),
        kwargs.get("include_superseded", False),
        kwargs.get("offset", 0),
    )
    return [(analysis_row(a), list((load_result(a) or {}).get("regions") or [])) for a in objs]


def _select(
    session: Session,
    flagged: bool,
    since: datetime | None,
    limit: int | None,
    include_superseded: bool,
    offset: int,
) -> list[Analysis]:
    q = _base_query().order_by(Analysis.created_at.desc(), Analysis.id.desc())
    if not include_superseded:
        q = q.where(Analysis.superseded.is_(False))
    if since is not None:
        q = q.where(Analysis.created_at >= since)
    if flagged:
        q = q.where(
            or_(
                Analysis.rescan_recommended.is_(True),
                Analysis.assessable.is_(False),
                Analysis.state == AnalysisState.FAILED,
            )
        )
    if offset:
        q = q.offset(offset)
    if limit is not None:
        q = q.limit(limit)
    return list(session.scalars(q).all())


def find_analysis_ids(session: Session, key: str) -> list[int]:
    """Analyses matching an internal id or a UID (analysis, study, series or source instance)."""
    key = key.strip()
    if key.isdigit():
        found = session.get(Analysis, int(key))
        return [found.id] if found is not None else []
    ids = list(session.scalars(select(Analysis.id).where(Analysis.analysis_uid == key)))
    if ids:
        return ids
    series_ids = list(session.scalars(select(Series.id).where(Series.series_instance_uid == key)))
    series_ids += list(
        session.scalars(
            select(Series.id).join(Study, Series.study_id == Study.id).where(Study.study_instance_uid == key)
        )
    )
    if series_ids:
        return list(
            session.scalars(
                select(Analysis.id).where(Analysis.series_id.in_(series_ids)).order_by(Analysis.id)
            )
        )
    inst = list(session.scalars(select(Instance).where(Instance.sop_instance_uid == key)))
    if inst:
        by_instance = list(
            session.scalars(select(Analysis.id).where(Analysis.instance_id.in_([i.id for i in inst])))
        )
        return by_instance or list(
            session.scalars(select(Analysis.id).where(Analysis.series_id == inst[0].series_id))
        )
    out = session.scalars(select(Output).where(Output.sop_instance_uid == key)).first()
    return [out.analysis_id] if out is not None else []


def get_row(session: Session, analysis_id: int) -> tuple[AnalysisRow, Analysis] | None:
    """The row and the ORM object of one analysis (None when unknown)."""
    a = session.scalars(_base_query().where(Analysis.id == analysis_id)).first()
    return (analysis_row(a), a) if a is not None else None


def output_rows(a: Analysis) -> list[OutputRow]:
    """Outputs of an analysis with their deliveries, SR first."""
    rows = []
    for o in sorted(a.outputs, key=lambda o: (o.kind != "sr", o.kind, o.index)):
        rows.append(
            OutputRow(
                id=o.id,
                kind=o.kind,
                index=o.index,
                sop_class_uid=o.sop_class_uid,
                sop_instance_uid=o.sop_instance_uid,
                file_path=o.file_path,
                deliveries=[
                    {
                        "destination": d.destination,
                        "state": str(d.state.value if hasattr(d.state, "value") else d.state),
                        "attempts": d.attempts,
                        "last_error": d.last_error,
                        "delivered_at": as_utc(d.delivered_at).isoformat() if d.delivered_at else None,
                    }
                    for d in o.deliveries
                ],
            )
        )
    return rows


def trends(session: Session, since: datetime | None = None, by: str = "station") -> list[TrendBucket]:
    """Per source (station name, else calling AE) and day: count, rescans, mean grade.

    ``by`` is ``"station"`` (StationName, falling back to the calling AE) or ``"aet"``.
    """
    q = (
        select(Analysis, Series)
        .join(Series, Analysis.series_id == Series.id)
        .where(Analysis.superseded.is_(False), Analysis.state == AnalysisState.DONE)
    )
    if since is not None:
        q = q.where(Analysis.created_at >= since)
    acc: dict[tuple[str, str, str], list[Analysis]] = defaultdict(list)
    for a, s in session.execute(q).all():
        if by == "aet":
            source = s.calling_aet or "(unknown AE)"
        else:
            source = s.station_name or s.calling_aet or "(unknown)"
        day = (as_utc(a.created_at) or datetime.now(UTC)).date().isoformat()
        acc[(source, day, a.analyzer)].append(a)
    out = []
    for (source, day, analyzer), items in sorted(acc.items()):
        scores = [a.global_score for a in items if a.global_score is not None]
        out.append(
            TrendBucket(
                source=source,
                day=day,
                analyzer=analyzer,
                count=len(items),
                rescans=sum(1 for a in items if a.rescan_recommended),
                mean_grade=sum(scores) / len(scores) if scores else None,
            )
        )
    return out
