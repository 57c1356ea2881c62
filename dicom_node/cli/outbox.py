"""``cardiac-qa outbox``: deliveries of the output objects, their state and last error; ``--retry``."""

from __future__ import annotations

import json
from typing import Any

import click

from .common import config_option
from .main import CliError

__all__ = ["outbox"]


def _fmt(dt: Any) -> str:
    return dt.strftime("%Y-%m-%d %H:%M:%S") if dt is not None else ""


@click.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--failed", is_flag=True, help="Only failed deliveries.")
@click.option("--retry", "retry", default=None, metavar="ID|all",
              help="Put a failed delivery (or all failed ones) back to pending.")
@click.option("--limit", type=click.IntRange(1, 100_000), default=200, show_default=True)
def outbox(config_path: str | None, as_json: bool, failed: bool, retry: str | None, limit: int) -> None:
    """List deliveries to the destinations: state, attempts, next attempt, last error."""
    from sqlalchemy import select

    from dicom_node.delivery import retry_failed
    from storage.schema import Delivery, DeliveryState, Output

    from .results import open_existing_database

    db = open_existing_database(config_path)
    try:
        if retry is not None:
            if retry != "all" and not retry.isdigit():
                raise click.UsageError("--retry takes a delivery id or 'all'")
            n = retry_failed(db, None if retry == "all" else int(retry))
            if retry != "all" and n == 0:
                raise CliError(f"delivery {retry} does not exist or is not failed")
            click.echo(f"{n} deliver{'y' if n == 1 else 'ies'} set back to pending")
            return
        query = (
            select(Delivery, Output.kind, Output.analysis_id)
            .join(Output, Delivery.output_id == Output.id)
            .order_by(Delivery.id.desc())
            .limit(limit)
        )
        if failed:
            query = query.where(Delivery.state == DeliveryState.FAILED)
        with db.session() as session:
            rows = [
                {
                    "id": d.id, "analysis_id": analysis_id, "kind": kind, "destination": d.destination,
                    "state": str(d.state), "attempts": d.attempts, "next_attempt_at": _fmt(d.next_attempt_at),
                    "delivered_at": _fmt(d.delivered_at), "last_error": d.last_error,
                }
                for d, kind, analysis_id in session.execute(query).all()
            ]
    finally:
        db.dispose()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no deliveries")
        return
    headers = ("id", "analysis", "kind", "destination", "state", "attempts", "next attempt", "last error")
    cells = [headers] + [
        (str(r["id"]), str(r["analysis_id"]), r["kind"], r["destination"], r["state"], str(r["attempts"]),
         r["next_attempt_at"] if r["state"] == "pending" else r["delivered_at"], (r["last_error"] or "")[:60])
        for r in rows
    ]
    widths = [max(len(c[i]) for c in cells) for i in range(len(headers))]
    for n, c in enumerate(cells):
        click.echo("  ".join(c[i].ljust(widths[i]) for i in range(len(headers))).rstrip())
        if n == 0:
            click.echo("  ".join("-" * w for w in widths))
