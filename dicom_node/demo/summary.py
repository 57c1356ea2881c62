"""The demo's outputs for people: the console table, PNG overlays and ``summary.html``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, select_autoescape
from sqlalchemy import select

from dicom_node.web.images import ImageError, file_frames, to_gif, to_png
from dicom_node.web.queries import AnalysisRow
from storage.schema import Output

if TYPE_CHECKING:
    from .pacs import EmbeddedPacs
    from .run import DemoReport

__all__ = ["format_table", "grade_text", "flags_text", "write_overlays", "write_summary_html"]

log = logging.getLogger(__name__)

SC_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture
    "1.2.840.10008.5.1.4.1.1.7.4",  # Multi-frame True Color SC
    "1.2.840.10008.5.1.4.1.1.7.2",  # Multi-frame Grayscale Byte SC
}
HEADERS = ("study", "series", "analyzer", "global grade", "flags", "delivered")


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def grade_text(r: AnalysisRow) -> str:
    """``3.8 good``, ``not assessable`` or the state when there is no grade."""
    if r.state == "failed":
        return "failed"
    if r.state == "skipped":
        return "skipped"
    if r.assessable is False:
        return "not assessable"
    if r.global_score is None:
        return r.state
    return f"{r.global_score:.1f} {r.global_label or ''}".strip()


def flags_text(r: AnalysisRow) -> str:
    """Short flags: RESCAN, the not-assessable reason, or the error."""
    flags = []
    if r.rescan_recommended:
        flags.append("RESCAN")
    if r.assessable is False and r.reasons:
        flags.append(r.reasons[0])
    if r.state == "failed":
        flags.append(f"error {r.error or ''}".strip())
    return "; ".join(flags) or "-"


def _row_cells(r: AnalysisRow) -> tuple[str, ...]:
    series = f"{r.series_number or ''} {r.series_description or r.modality or ''}".strip()
    if r.view:
        series = f"{r.view} · {series}"
    return (
        _clip(r.study_description or f"study {r.study_id}", 28),
        _clip(series, 34),
        r.analyzer,
        grade_text(r),
        _clip(flags_text(r), 48),
        f"{r.delivered}/{r.deliveries}",
    )


def format_table(rows: list[AnalysisRow]) -> str:
    """A plain-text table (one line per analysis) for the console."""
    cells = [HEADERS] + [_row_cells(r) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEADERS))]
    lines = ["  ".join(c[i].ljust(widths[i]) for i in range(len(HEADERS))).rstrip() for c in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if not rows:
        lines.append("(no analyses)")
    return "\n".join(lines)


def write_overlays(db: Any, pacs: EmbeddedPacs, folder: Path) -> list[Path]:
    """PNG (first frame) and, for cine loops, an animated GIF of every SC the PACS received."""
    folder.mkdir(parents=True, exist_ok=True)
    with db.session() as s:
        known = {o.sop_instance_uid: (o.analysis_id, o.kind, o.index) for o in s.scalars(select(Output))}
    written: list[Path] = []
    for i, obj in enumerate(sorted(pacs.received, key=lambda o: o.path.name)):
        if obj.sop_class_uid not in SC_CLASSES:
            continue
        aid, kind, index = known.get(obj.sop_instance_uid, (0, "sc", i))
        stem = f"analysis-{aid:03d}-{kind}-{index}"
        try:
            frames = file_frames(obj.path, max_frames=96)
        except ImageError as exc:
            log.warning("overlay %s not rendered: %s", stem, exc)
            continue
        png = folder / f"{stem}.png"
        png.write_bytes(to_png(frames[len(frames) // 2 if len(frames) > 1 else 0]))
        written.append(png)
        if len(frames) > 1:
            gif = folder / f"{stem}.gif"
            gif.write_bytes(to_gif(frames, width=480))
            written.append(gif)
    return written


_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Cardiac QA demo</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f3f3f3}.rescan{color:#b00;font-weight:bold}.ok{color:#176837}
.imgs{min-width:560px}.imgs img{width:180px;margin:2px;border:1px solid #ddd;vertical-align:top}
</style></head><body>
<h1>Cardiac QA Node — demo summary</h1>
<p>{{ rows|length }} analyses of {{ report.expected_analyses }} expected units;
{{ report.received }} SR/SC objects received by the embedded PACS;
wall time {{ '%.0f'|format(report.wall_s) }} s.
{% if report.problems %}<b class="rescan">Incomplete: {{ report.problems|join('; ') }}</b>{% endif %}</p>
<p>Models are trained on synthetic data: demonstration only.</p>
<table><tr>{% for h in headers %}<th>{{ h }}</th>{% endfor %}<th>overlays</th></tr>
{% for r, cells, imgs in items %}<tr>
{% for c in cells %}<td{% if loop.index == 5 and r.rescan_recommended %} class="rescan"{% endif %}>
{{- c }}</td>{% endfor %}
<td class="imgs">{% for im in imgs %}<a href="{{ im }}"><img src="{{ im }}" alt="overlay {{ r.id }}"></a>
{%- endfor %}</td>
</tr>{% endfor %}</table>
</body></html>
"""


def write_summary_html(path: Path, report: DemoReport, out: Path) -> Path:
    """``summary.html``: the table with each analysis' overlay images (relative links)."""
    env = Environment(autoescape=select_autoescape(default=True))
    by_id: dict[int, list[str]] = {}
    stems = {p.stem for p in report.overlays if p.suffix == ".gif"}
    for p in report.overlays:
        parts = p.stem.split("-")
        if p.suffix == ".png" and p.stem in stems:
            continue  # the animated cine replaces its still frame
        if len(parts) >= 2 and parts[1].isdigit():
            by_id.setdefault(int(parts[1]), []).append(p.relative_to(out).as_posix())
    items = [(r, _row_cells(r), sorted(by_id.get(r.id, []))) for r in report.rows]
    text = env.from_string(_HTML).render(report=report, rows=report.rows, headers=HEADERS, items=items)
    path.write_text(text, encoding="utf-8")
    return path
