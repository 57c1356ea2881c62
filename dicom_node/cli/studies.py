"""``cardiac-qa studies``: received series, their instances and analyses; ``--analyze`` forces one."""

from __future__ import annotations

import json
from typing import Any

import click
from sqlalchemy import func, select

from .common import config_option, get_settings
from .main import CliError

__all__ = ["list_series", "studies"]


def list_series(db: Any) -> list[dict[str, Any]]:
    """Every series with its current-instance count, state and analyses (newest series first)."""
    from storage.schema import Analysis, Instance, Series, Study

    with db.session() as session:
        counts = dict(
            session.execute(
                select(Instance.series_id, func.count())
                .where(Instance.is_current.is_(True))
                .group_by(Instance.series_id)
            ).all()
        )
        analyses: dict[int, list[dict[str, Any]]] = {}
        for a in session.scalars(select(Analysis).order_by(Analysis.id)):
            analyses.setdefault(a.series_id, []).append(
                {
                    "id": a.id,
                    "analyzer": a.analyzer,
                    "unit": a.unit_kind,
                    "state": a.state.value,
                    "superseded": a.superseded,
                    "assessable": a.assessable,
                    "global_score": a.global_score,
                    "rescan_recommended": a.rescan_recommended,
                    "error_code": a.error_code,
                }
            )
        rows = session.execute(
            select(Series, Study.study_instance_uid)
            .join(Study, Series.study_id == Study.id)
            .order_by(Series.last_received_at.desc(), Series.id.desc())
        ).all()
        return [
            {
                "id": s.id,
                "study_instance_uid": study_uid,
                "series_instance_uid": s.series_instance_uid,
                "modality": s.modality,
                "series_description": s.series_description,
                "instances": int(counts.get(s.id, 0)),
                "state": s.state.value,
                "last_received_at": s.last_received_at.isoformat() if s.last_received_at else None,
                "analyses": analyses.get(s.id, []),
            }
            for s, study_uid in rows
        ]


def _summary(analyses: list[dict[str, Any]]) -> str:
    live = [a for a in analyses if not a["superseded"]]
    if not live:
        return "-"
    by_state: dict[str, int] = {}
    for a in live:
        by_state[a["state"]] = by_state.get(a["state"], 0) + 1
    return " ".join(f"{k}:{v}" for k, v in sorted(by_state.items()))


def _table(rows: list[dict[str, Any]]) -> str:
    header = ("ID", "MODALITY", "INSTANCES", "STATE", "ANALYSES", "SERIES UID")
    lines = [header] + [
        (str(r["id"]), r["modality"] or "-", str(r["instances"]), r["state"], _summary(r["analyses"]),
         r["series_instance_uid"])
        for r in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line[:-1], widths, strict=True)) + "  " + line[-1]
        for line in lines
    )


@click.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--analyze", "analyze_uid", metavar="SERIES_UID", default=None,
              help="Analyse this series now (no stability wait; re-analyses a series analysed already).")
def studies(config_path: str | None, as_json: bool, analyze_uid: str | None) -> None:
    """List received series (instances, state, analyses), or force the analysis of one."""
    settings = get_settings(config_path)
    from analyzers.base import BUILTIN_ANALYZERS, load_registry
    from dicom_node.assembly import AssemblyError, force_series
    from storage.db import open_database

    db = open_database(settings)
    try:
        if analyze_uid is not None:
            registry, _ = load_registry(settings.analyzers.plugins)
            try:
                ids = force_series(db, settings, analyze_uid.strip(),
                                   known_analyzers=set(registry) | set(BUILTIN_ANALYZERS))
            except AssemblyError as exc:
                raise CliError(str(exc)) from None
            if as_json:
                click.echo(json.dumps({"series_instance_uid": analyze_uid, "analyses": ids}))
            elif ids:
                click.echo(f"queued {len(ids)} analysis(es): {', '.join(map(str, ids))}")
            else:
                click.echo("nothing to analyse: the routes send this series to no analyzer")
            return
        rows = list_series(db)
    finally:
        db.dispose()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    elif rows:
        click.echo(_table(rows))
    else:
        click.echo("no series received yet")
