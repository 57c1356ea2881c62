"""Inline SVG for the dashboard: grade colours, the echo segment diagram, the MR octant map and
the per-frame region score plot. No JavaScript, no network: plain strings, escaped.
"""

from __future__ import annotations

import math
from html import escape
from typing import Any

__all__ = ["GRADE_COLOURS", "grade_colour", "segment_diagram", "octant_diagram", "frame_plot", "trend_chart"]

# arqee's colours for 1..5 (not visible .. excellent); MR 0..4 uses the same five.
GRADE_COLOURS: tuple[str, ...] = ("#ED1B24", "#F46523", "#FFFB17", "#8DC619", "#176837")
ECHO_SEGMENTS: tuple[str, ...] = (
    "basal_left",
    "mid_left",
    "apical_left",
    "apical_right",
    "mid_right",
    "basal_right",
)
PLOT_COLOURS: tuple[str, ...] = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
)


def grade_colour(score: float | None, scale_min: float = 1.0) -> str:
    """Colour of the nearest integer grade (grey when there is no score)."""
    if score is None or not math.isfinite(score):
        return "#bbbbbb"
    idx = int(min(max(math.floor(score - scale_min + 0.5), 0), 4))
    return GRADE_COLOURS[idx]


def _arc(
    cx: float, base: float, a: float, b: float, t0: float, t1: float, n: int = 8
) -> list[tuple[float, float]]:
    pts = []
    for k in range(n + 1):
        t = t0 + (t1 - t0) * k / n
        pts.append((cx - a * math.cos(math.pi * t), base - b * math.sin(math.pi * t)))
    return pts


def segment_diagram(regions: list[dict[str, Any]], width: int = 120, title: str = "segments") -> str:
    """Apical-view diagram: six myocardial segments and two annulus discs, coloured by score.

    Segments approved for strain have a solid dark outline and a tick; the others a dashed one.
    Out-of-sector regions are grey and crossed.
    """
    by_id = {r["id"]: r for r in regions}
    h = width * 1.25
    cx, base = width / 2, h - 22
    outer_a, outer_b, inner_a, inner_b = width * 0.36, h * 0.72, width * 0.22, h * 0.58
    parts = [
        f'<svg class="segdiag" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h:.0f}" '
        f'viewBox="0 0 {width} {h:.0f}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>"
    ]
    for i, rid in enumerate(ECHO_SEGMENTS):
        r = by_id.get(rid)
        t0, t1 = i / 6, (i + 1) / 6
        pts = _arc(cx, base, outer_a, outer_b, t0, t1) + list(
            reversed(_arc(cx, base, inner_a, inner_b, t0, t1))
        )
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
        score = r.get("score") if r else None
        in_sector = r.get("in_sector", True) if r else True
        fill = grade_colour(score) if in_sector else "#dddddd"
        approved = bool(r and r.get("approved_for_strain"))
        stroke = (
            'stroke="#111" stroke-width="2"'
            if approved
            else 'stroke="#555" stroke-width="1" stroke-dasharray="3 2"'
        )
        label = f"{r.get('name') or rid}: {score:.1f}" if r and score is not None else rid
        if r and r.get("approved_for_strain") is not None:
            label += " (approved for strain)" if approved else " (not approved for strain)"
        parts.append(
            f'<polygon data-region="{rid}" class="seg{" approved" if approved else ""}" points="{path}" '
            f'fill="{fill}" {stroke}><title>{escape(label)}</title></polygon>'
        )
        if approved:
            mx, my = _arc(
                cx, base, (outer_a + inner_a) / 2, (outer_b + inner_b) / 2, (t0 + t1) / 2, (t0 + t1) / 2, 1
            )[0]
            parts.append(
                f'<text x="{mx:.1f}" y="{my + 4:.1f}" font-size="11" text-anchor="middle">&#10003;</text>'
            )
    for rid, x in (
        ("annulus_left", cx - (outer_a + inner_a) / 2),
        ("annulus_right", cx + (outer_a + inner_a) / 2),
    ):
        r = by_id.get(rid)
        score = r.get("score") if r else None
        label = f"{r.get('name') or rid}: {score:.1f}" if r and score is not None else rid
        parts.append(
            f'<circle data-region="{rid}" cx="{x:.1f}" cy="{base + 10:.1f}" r="7" '
            f'fill="{grade_colour(score)}" stroke="#333" stroke-width="1">'
            f"<title>{escape(label)}</title></circle>"
        )
    parts.append("</svg>")
    return "".join(parts)


def octant_diagram(regions: list[dict[str, Any]], cell: int = 26) -> str:
    """MR octants as a 2 x 4 grid (rows: superior / inferior; columns RA, RP, LA, LP)."""
    by_id = {r["id"]: r for r in regions}
    cols = ("RA", "RP", "LA", "LP")
    w, h = cell * 4 + 24, cell * 2 + 18
    parts = [
        f'<svg class="octdiag" xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
        f'viewBox="0 0 {w} {h}" role="img" aria-label="octant grades"><title>octant grades</title>'
    ]
    for j, c in enumerate(cols):
        parts.append(
            f'<text x="{24 + j * cell + cell / 2}" y="11" font-size="9" text-anchor="middle">{c}</text>'
        )
    for i, si in enumerate(("S", "I")):
        parts.append(
            f'<text x="10" y="{14 + i * cell + cell / 2 + 4}" font-size="9" text-anchor="middle">{si}</text>'
        )
        for j, c in enumerate(cols):
            rid = c + si
            r = by_id.get(rid)
            score = r.get("score") if r else None
            tip = f"{rid}: {score:.1f}" if score is not None else rid
            parts.append(
                f'<rect data-region="{rid}" x="{24 + j * cell}" y="{14 + i * cell}" width="{cell - 2}" '
                f'height="{cell - 2}" fill="{grade_colour(score, 0.0)}" stroke="#333">'
                f"<title>{escape(tip)}</title></rect>"
            )
    parts.append("</svg>")
    return "".join(parts)


def frame_plot(
    regions: list[dict[str, Any]],
    frames: dict[str, Any] | None,
    scale_min: float = 1.0,
    scale_max: float = 5.0,
    threshold: float | None = None,
    width: int = 640,
    height: int = 260,
) -> str:
    """Per-frame score of every region as lines; ED/ES frames as vertical markers."""
    series = [(r["id"], r.get("frame_scores") or []) for r in regions if r.get("frame_scores")]
    names = {r["id"]: str(r.get("name") or r["id"]) for r in regions}
    n = max((len(s) for _, s in series), default=0)
    left, right, top, bottom = 36, 150, 12, 28
    pw, ph = width - left - right, height - top - bottom
    parts = [
        f'<svg id="frame-plot" class="frameplot" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="per-frame region scores">'
        "<title>per-frame region scores</title>"
    ]

    def x(f: float) -> float:
        return left + (pw * (f - 1) / max(n - 1, 1))

    def y(v: float) -> float:
        return top + ph * (1 - (v - scale_min) / (scale_max - scale_min))

    parts.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#fafafa" stroke="#999"/>')
    for g in range(int(scale_min), int(scale_max) + 1):
        parts.append(
            f'<line x1="{left}" x2="{left + pw}" y1="{y(g):.1f}" y2="{y(g):.1f}" stroke="#e2e2e2"/>'
            f'<text x="{left - 6}" y="{y(g) + 4:.1f}" font-size="10" text-anchor="end">{g}</text>'
        )
    if threshold is not None:
        parts.append(
            f'<line x1="{left}" x2="{left + pw}" y1="{y(threshold):.1f}" y2="{y(threshold):.1f}" '
            f'stroke="#b00" stroke-dasharray="4 3"><title>strain threshold {threshold}</title></line>'
        )
    for kind, colour in (("ed", "#555"), ("es", "#aaa")):
        for f in (frames or {}).get(kind) or []:
            parts.append(
                f'<line class="{kind}" x1="{x(f):.1f}" x2="{x(f):.1f}" y1="{top}" y2="{top + ph}" '
                f'stroke="{colour}" stroke-dasharray="2 2"><title>{kind.upper()} frame {f}</title></line>'
            )
            parts.append(
                f'<text x="{x(f):.1f}" y="{top + ph + 11}" font-size="9" text-anchor="middle">'
                f"{kind.upper()}</text>"
            )
    for k, (rid, scores) in enumerate(series):
        colour = PLOT_COLOURS[k % len(PLOT_COLOURS)]
        pts = " ".join(f"{x(i + 1):.1f},{y(v):.1f}" for i, v in enumerate(scores) if v is not None)
        parts.append(
            f'<polyline class="series" data-region="{rid}" points="{pts}" fill="none" stroke="{colour}" '
            f'stroke-width="1.6"><title>{escape(names[rid])}</title></polyline>'
        )
        ly = top + 12 + k * 15
        parts.append(
            f'<line x1="{left + pw + 10}" x2="{left + pw + 28}" y1="{ly - 4}" y2="{ly - 4}" '
            f'stroke="{colour}" stroke-width="2"/><text x="{left + pw + 32}" y="{ly}" font-size="10">'
            f"{escape(names[rid][:24])}</text>"
        )
    parts.append(
        f'<text x="{left + pw / 2}" y="{height - 4}" font-size="10" text-anchor="middle">'
        f"frame (1..{n})</text>"
    )
    if not series:
        parts.append(
            f'<text x="{left + pw / 2}" y="{top + ph / 2}" text-anchor="middle" font-size="12">'
            "no per-frame scores</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def trend_chart(
    points: list[tuple[str, float | None, float]],
    scale_min: float,
    scale_max: float,
    width: int = 420,
    height: int = 120,
) -> str:
    """One source over time: mean grade as a line (left axis), share of rescans as bars (0-100 %).

    ``points`` are (day, mean grade or None, rescan share 0..1), oldest first.
    """
    left, right, top, bottom = 30, 34, 8, 20
    pw, ph = width - left - right, height - top - bottom
    n = len(points)
    step = pw / max(n, 1)
    parts = [
        f'<svg class="trendchart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="mean grade and share of rescans per day">'
        "<title>mean grade (line) and share of rescans (bars) per day</title>"
        f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#fafafa" stroke="#bbb"/>'
    ]
    for i, (day, _, share) in enumerate(points):
        h = ph * share
        parts.append(
            f'<rect class="rescan-bar" x="{left + i * step + step * 0.2:.1f}" y="{top + ph - h:.1f}" '
            f'width="{step * 0.6:.1f}" height="{h:.1f}" fill="#ED1B24" opacity="0.35">'
            f"<title>{escape(day)}: {share:.0%} rescans</title></rect>"
        )
    pts = []
    for i, (day, grade, _) in enumerate(points):
        if grade is None:
            continue
        x = left + i * step + step / 2
        y = top + ph * (1 - (grade - scale_min) / (scale_max - scale_min))
        pts.append(f"{x:.1f},{y:.1f}")
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{grade_colour(grade, scale_min)}" stroke="#333">'
            f"<title>{escape(day)}: mean grade {grade:.2f}</title></circle>"
        )
    if len(pts) > 1:
        parts.insert(
            -len(pts),
            f'<polyline class="grade-line" points="{" ".join(pts)}" fill="none" stroke="#1d2b3a" '
            'stroke-width="1.5"/>',
        )
    parts.append(
        f'<text x="{left - 4}" y="{top + 8}" font-size="9" text-anchor="end">{scale_max:g}</text>'
        f'<text x="{left - 4}" y="{top + ph}" font-size="9" text-anchor="end">{scale_min:g}</text>'
        f'<text x="{left + pw + 4}" y="{top + 8}" font-size="9">100%</text>'
        f'<text x="{left + pw + 4}" y="{top + ph}" font-size="9">0%</text>'
    )
    if points:
        parts.append(
            f'<text x="{left}" y="{height - 5}" font-size="9">{escape(points[0][0])}</text>'
            f'<text x="{left + pw}" y="{height - 5}" font-size="9" text-anchor="end">'
            f"{escape(points[-1][0])}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
