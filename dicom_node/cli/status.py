"""``cardiac-qa status``: queue depth, backpressure, workers, destinations, disabled analyzers/packs."""

from __future__ import annotations

import json
from typing import Any

import click
from sqlalchemy import func, select

from .common import config_option, get_settings

__all__ = ["collect_status", "status"]


def _analyzer_health(settings: Any) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Disabled analyzers (load errors, missing/invalid packs) and invalid packs, with reasons."""
    from analyzers.base import load_registry
    from dicom_node.jobs.runner import pack_dirs
    from models.runtime import PackError, discover_packs, verify_pack

    registry, errors = load_registry(settings.analyzers.plugins)
    disabled = [{"analyzer": path, "reason": msg} for path, msg in sorted(errors.items())]
    found = discover_packs(pack_dirs(settings))
    pack_problems: dict[str, str] = {}
    for name, path in sorted(found.items()):
        try:
            verify_pack(path)
        except PackError as exc:
            pack_problems[name] = str(exc)
    for name, analyzer in sorted(registry.items()):
        reasons = []
        for pack in analyzer.required_models:
            if pack not in found:
                reasons.append(f"pack {pack} not found")
            elif pack in pack_problems:
                reasons.append(pack_problems[pack])
        if reasons:
            disabled.append({"analyzer": name, "reason": "; ".join(reasons)})
    packs = [{"pack": n, "reason": r} for n, r in sorted(pack_problems.items())]
    return disabled, packs


def collect_status(db: Any, settings: Any) -> dict[str, Any]:
    """Everything ``status`` shows, as plain data."""
    from dicom_node.node import read_node_state
    from storage.schema import Analysis, AnalysisState, Delivery, DeliveryState

    with db.session() as session:
        by_state = dict(session.execute(select(Analysis.state, func.count()).group_by(Analysis.state)).all())
        running = dict(
            session.execute(
                select(Analysis.worker, func.count())
                .where(Analysis.state == AnalysisState.RUNNING)
                .group_by(Analysis.worker)
            ).all()
        )
        deliveries = session.execute(
            select(Delivery.destination, Delivery.state, func.count()).group_by(Delivery.destination, Delivery.state)
        ).all()
    queue = {s.value: int(by_state.get(s, 0)) for s in AnalysisState}
    dest: dict[str, dict[str, Any]] = {
        d.name: {"name": d.name, "ae_title": d.ae_title, "host": d.host, "port": d.port, "configured": True}
        for d in settings.destinations
    }
    for name, state, count in deliveries:
        entry = dest.setdefault(name, {"name": name, "configured": False})
        entry[state.value if isinstance(state, DeliveryState) else str(state)] = int(count)
    for entry in dest.values():
        for s in DeliveryState:
            entry.setdefault(s.value, 0)
    node = read_node_state(settings)
    disabled, packs = _analyzer_health(settings)
    return {
        "node": {"running": node is not None, "pid": node["pid"] if node else None,
                 "started_at": node["started_at"] if node else None},
        "queue": queue,
        "backpressure": queue["pending"] >= settings.workers.max_pending,
        "max_pending": settings.workers.max_pending,
        "workers": {"processes": settings.workers.processes,
                    "running": {str(k): int(v) for k, v in running.items()}},
        "destinations": sorted(dest.values(), key=lambda d: d["name"]),
        "disabled_analyzers": disabled,
        "invalid_packs": packs,
    }


def _text(st: dict[str, Any]) -> str:
    node = st["node"]
    lines = [
        f"node:         {'running (pid ' + str(node['pid']) + ')' if node['running'] else 'not running'}",
        "queue:        " + "  ".join(f"{k} {v}" for k, v in st["queue"].items()),
        f"backpressure: {'YES' if st['backpressure'] else 'no'} (max_pending {st['max_pending']})",
        f"workers:      {st['workers']['processes']} process(es), "
        f"{sum(st['workers']['running'].values())} analysis(es) running",
    ]
    if st["destinations"]:
        lines.append("destinations:")
        for d in st["destinations"]:
            where = f"{d.get('ae_title', '?')}@{d.get('host', '?')}:{d.get('port', '?')}" if d["configured"] \
                else "(not configured any more)"
            lines.append(f"  {d['name']:<16} {where}  pending {d['pending']}  failed {d['failed']}  "
                         f"delivered {d['delivered']}")
    else:
        lines.append("destinations: none configured")
    for d in st["disabled_analyzers"]:
        lines.append(f"disabled analyzer {d['analyzer']}: {d['reason']}")
    for p in st["invalid_packs"]:
        lines.append(f"invalid pack {p['pack']}: {p['reason']}")
    return "\n".join(lines)


@click.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(config_path: str | None, as_json: bool) -> None:
    """Queue depth by state, backpressure, workers, destinations and disabled analyzers."""
    settings = get_settings(config_path)
    from storage.db import open_database

    db = open_database(settings)
    try:
        st = collect_status(db, settings)
    finally:
        db.dispose()
    click.echo(json.dumps(st, indent=2) if as_json else _text(st))
