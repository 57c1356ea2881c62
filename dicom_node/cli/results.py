"""``cardiac-qa results`` (grades and flags) and ``cardiac-qa show ID_OR_UID`` (one analysis)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from .common import config_option, get_settings
from .main import CliError

__all__ = ["results", "show", "parse_since", "open_existing_database"]

_REL = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``30m``, ``24h``, ``7d``, ``2w`` (ago), or an ISO date / date-time (UTC when naive)."""
    now = now or datetime.now(UTC)
    m = _REL.match(text.strip().lower())
    if m:
        return now - timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    try:
        dt = datetime.fromisoformat(text.strip())
    except ValueError:
        raise CliError(
            f"--since {text!r} is neither a duration like 24h / 7d nor an ISO date like 2026-01-31"
        ) from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def open_existing_database(config_path: str | None) -> Any:
    """The node's database, for reading; a clear error when it does not exist yet."""
    from storage.db import Database, open_database

    settings = get_settings(config_path)
    url = settings.storage.effective_database_url()
    if url.startswith("sqlite"):
        path = Path(url.split("///", 1)[-1])
        if not path.is_file():
            raise CliError(
                f"no database at {path}: check storage.data_dir in the config (or run `cardiac-qa serve`)"
            )
        db = Database(url)
        return db
    try:
        return open_database(settings)
    except Exception as exc:  # noqa: BLE001 — driver errors vary; the user needs one line
        raise CliError(
            f"cannot open the database: {type(exc).__name__}: {str(exc).splitlines()[0]}"
        ) from None


def _fmt_row(r: Any) -> tuple[str, ...]:
    from dicom_node.demo.summary import flags_text, grade_text

    when = r.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if r.created_at else ""
    series = f"{r.series_number or ''} {r.series_description or ''}".strip()
    source = r.station or r.calling_aet or ""
    return (
        str(r.id),
        when,
        source[:16],
        series[:32],
        r.analyzer,
        r.view or "",
        grade_text(r),
        flags_text(r)[:48],
        f"{r.delivered}/{r.deliveries}",
    )


def _table(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    cells = [headers, *rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(headers))]
    lines = ["  ".join(c[i].ljust(widths[i]) for i in range(len(headers))).rstrip() for c in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


@click.command()
@config_option
@click.option("--flagged", is_flag=True, help="Only rescans, not-assessable inputs and failed analyses.")
@click.option(
    "--since",
    "since",
    default=None,
    metavar="WHEN",
    help="Only analyses created since WHEN: 30m, 24h, 7d, 2w or an ISO date/time (UTC).",
)
@click.option("--limit", type=click.IntRange(1, 100_000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON array instead of the table.")
def results(config_path: str | None, flagged: bool, since: str | None, limit: int, as_json: bool) -> None:
    """List analyses, newest first: grade, flags and delivery of the SR/SC outputs."""
    from dicom_node.web.queries import list_analyses

    since_dt = parse_since(since) if since else None
    db = open_existing_database(config_path)
    try:
        with db.session() as s:
            rows = list_analyses(s, flagged=flagged, since=since_dt, limit=limit)
    finally:
        db.dispose()
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in rows], indent=2))
        return
    if not rows:
        click.echo("no analyses" + (" flagged" if flagged else "") + (f" since {since}" if since else ""))
        return
    headers = ("id", "created (UTC)", "station/AE", "series", "analyzer", "view", "grade", "flags", "sent")
    click.echo(_table(headers, [_fmt_row(r) for r in rows]))


def _detail(s: Any, analysis_id: int) -> dict[str, Any]:
    from dicom_node.web.queries import get_row, load_result, output_rows

    row, a = get_row(s, analysis_id)  # type: ignore[misc]
    return {
        "analysis": row.to_dict(),
        "patient_id": a.series.study.patient_id,
        "error_message": a.error_message,
        "result": load_result(a),
        "outputs": [o.__dict__ for o in output_rows(a)],
    }


def _print_detail(d: dict[str, Any]) -> None:
    a, res = d["analysis"], d["result"] or {}
    click.echo(f"analysis {a['id']}  {a['analyzer']}  state {a['state']}  created {a['created_at']}")
    click.echo(
        f"  study    {a['study_description'] or '-'} ({a['study_date'] or 'no date'}), "
        f"patient ID {d['patient_id'] or '-'}"
    )
    click.echo(
        f"  series   {a['series_number'] or ''} {a['series_description'] or ''} ({a['modality']}, "
        f"station {a['station'] or '-'}, from AE {a['calling_aet'] or '-'})"
    )
    if a["state"] == "failed":
        click.echo(f"  error    {a['error'] or 'unknown'}: {d['error_message'] or ''}".rstrip(": "))
    glob = res.get("global") or {}
    grade = f"{glob['score']:.2f} {glob.get('label', '')}" if glob else "not assessable"
    dec = res.get("decisions") or {}
    rescan = "YES" if a["rescan_recommended"] else "no"
    line = f"  grade    {grade}   view {res.get('view') or '-'}   rescan {rescan}"
    if "ef_suitable" in dec:
        line += f"   EF suitable {'yes' if dec['ef_suitable'] else 'no'}"
    click.echo(line)
    for reason in a["reasons"]:
        click.echo(f"  reason   {reason}")
    regions = res.get("regions") or []
    if regions:
        rows = []
        for r in regions:
            fo = r.get("fraction_ok")
            strain = r.get("approved_for_strain")
            rows.append(
                (
                    r["id"],
                    r.get("name", ""),
                    f"{r['score']:.2f}",
                    r.get("label", ""),
                    "" if r.get("min") is None else f"{r['min']:.2f}",
                    "" if fo is None else f"{fo:.0%}",
                    "" if strain is None else ("yes" if strain else "no"),
                )
            )
        click.echo(_table(("region", "name", "score", "label", "min", "ok frames", "strain"), rows))
    for o in d["outputs"]:
        deliv = ", ".join(
            f"{x['destination']} {x['state']} ({x['attempts']} attempts)" for x in o["deliveries"]
        )
        click.echo(
            f"  output   {o['kind']}[{o['index']}] {o['sop_instance_uid']}  {deliv or 'no destination'}"
        )


@click.command()
@config_option
@click.argument("key", metavar="ID_OR_UID")
@click.option("--json", "as_json", is_flag=True, help="Row, result JSON and outputs as one JSON document.")
def show(config_path: str | None, key: str, as_json: bool) -> None:
    """Show one analysis by internal id, or every analysis of an analysis/study/series/instance UID."""
    from dicom_node.web.queries import find_analysis_ids

    if not re.fullmatch(r"\d+|[0-9.]{1,64}", key.strip()):
        raise CliError(f"{key!r} is neither an analysis id nor a DICOM UID")
    db = open_existing_database(config_path)
    try:
        with db.session() as s:
            ids = find_analysis_ids(s, key)
            details = [_detail(s, i) for i in ids]
    finally:
        db.dispose()
    if not details:
        raise CliError(f"no analysis with id or UID {key}")
    if as_json:
        click.echo(json.dumps(details[0] if len(details) == 1 else details, indent=2, default=str))
        return
    for i, d in enumerate(details):
        if i:
            click.echo("")
        _print_detail(d)
