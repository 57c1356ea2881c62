"""The read-only QA dashboard (Starlette + Jinja2): list, analysis page, trends, pictures.

URLs carry internal integer ids only, never UIDs. Endpoints are plain functions (Starlette runs
them in its thread pool), each with one short database session. Authentication: when
``dashboard.token`` is set every request needs it (``Authorization: Bearer``, ``?token=`` once,
then an HttpOnly cookie); the settings refuse a non-loopback bind without a token.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Receive, Scope, Send

from config.settings import Settings
from storage.schema import Output

from .images import ImageError
from .pictures import Pictures
from .queries import get_row, list_with_regions, load_result, output_rows, trends
from .svg import frame_plot, grade_colour, octant_diagram, segment_diagram, trend_chart

__all__ = ["create_app", "ACCESS_LOGGER"]

HERE = Path(__file__).resolve().parent
ACCESS_LOGGER = "dicom_node.web.access"
COOKIE = "cqa_dashboard"
access_log = logging.getLogger(ACCESS_LOGGER)


class _Guard:
    """Token check and an access log line without query string (no tokens, no identifiers)."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token
        # The cookie holds a digest, not the token itself.
        self.cookie_value = hashlib.sha256(f"cqa-dashboard:{token}".encode()).hexdigest() if token else ""

    def _authorised(self, scope: Scope) -> tuple[bool, bool]:
        """(authorised, came with ?token= so a cookie should be set)."""
        if not self.token:
            return True, False
        req = Request(scope)
        header = req.headers.get("authorization", "")
        bearer = header[7:].strip() if header.lower().startswith("bearer ") else ""
        if bearer and hmac.compare_digest(bearer, self.token):
            return True, False
        cookie = req.cookies.get(COOKIE, "")
        if cookie and hmac.compare_digest(cookie, self.cookie_value):
            return True, False
        q = req.query_params.get("token", "")
        return (bool(q) and hmac.compare_digest(q, self.token)), True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.monotonic()
        status = {"code": 0}
        ok, via_query = self._authorised(scope)

        async def send_wrapped(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                if via_query and ok and self.token:
                    headers = list(message.get("headers", []))
                    cookie = f"{COOKIE}={self.cookie_value}; HttpOnly; SameSite=Strict; Path=/"
                    headers.append((b"set-cookie", cookie.encode("latin-1")))
                    message = dict(message, headers=headers)
            await send(message)

        try:
            if ok or scope.get("path") == "/healthz":
                await self.app(scope, receive, send_wrapped)
            else:
                resp = PlainTextResponse(
                    "token required", status_code=401, headers={"WWW-Authenticate": "Bearer"}
                )
                await resp(scope, receive, send_wrapped)
        finally:
            access_log.info(
                "%s %s %d %.0fms",
                scope.get("method"),
                scope.get("path"),
                status["code"],
                (time.monotonic() - t0) * 1000,
            )


def _since(days: str | None) -> datetime | None:
    try:
        n = int(days) if days else 0
    except ValueError:
        n = 0
    return datetime.now(UTC) - timedelta(days=n) if n > 0 else None


def create_app(settings: Settings, db: Any, store: Any | None = None) -> Starlette:
    """The dashboard ASGI app over ``db`` (``storage.db.Database``) and ``store`` (``FileStore``)."""
    data_dir = Path(settings.storage.data_dir)

    def resolve(rel: str) -> Path:
        return store.path(rel) if store is not None else data_dir / rel

    pictures = Pictures(resolve)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals.update(
        grade_colour=grade_colour, segment_diagram=segment_diagram, octant_diagram=octant_diagram
    )

    def index(request: Request) -> Response:
        flagged = request.query_params.get("flagged") == "1"
        try:
            page = max(int(request.query_params.get("page", "1")), 1)
        except ValueError:
            page = 1
        per_page = 40
        with db.session() as s:
            items = list_with_regions(s, flagged=flagged, limit=per_page + 1, offset=(page - 1) * per_page)
        return templates.TemplateResponse(
            request,
            "index.html",
            {
                "items": items[:per_page],
                "flagged": flagged,
                "page": page,
                "has_next": len(items) > per_page,
                "now": datetime.now(UTC),
            },
        )

    def analysis(request: Request) -> Response:
        aid = request.path_params["aid"]
        with db.session() as s:
            got = get_row(s, aid)
            if got is None:
                return _not_found(request, templates, f"analysis {aid}")
            row, a = got
            result = load_result(a) or {}
            outputs = output_rows(a)
        scale = result.get("scale") or {"min": 1, "max": 5}
        plot = None
        if result.get("modality") == "US" and result.get("regions"):
            plot = frame_plot(
                result["regions"],
                result.get("frames"),
                scale["min"],
                scale["max"],
                threshold=settings.echo.strain_min_score,
            )
        return templates.TemplateResponse(
            request,
            "analysis.html",
            {
                "row": row,
                "result": result,
                "outputs": outputs,
                "plot": plot,
                "scale": scale,
                "has_cine": any(o.kind == "sc-cine" for o in outputs) or row.modality == "US",
                "mr_images": [o for o in outputs if o.kind == "sc-mr"],
            },
        )

    def picture(request: Request) -> Response:
        aid, kind = request.path_params["aid"], request.path_params["kind"]
        with db.session() as s:
            got = get_row(s, aid)
            if got is None:
                return PlainTextResponse("not found", status_code=404)
            try:
                if kind == "thumb.png":
                    data, media = pictures.thumbnail(s, got[1]), "image/png"
                elif kind == "cine.gif":
                    data, media = pictures.cine(s, got[1]), "image/gif"
                else:
                    return PlainTextResponse("not found", status_code=404)
            except ImageError as exc:
                return PlainTextResponse(f"no picture: {exc}", status_code=404)
        return Response(data, media_type=media, headers={"Cache-Control": "private, max-age=60"})

    def output_picture(request: Request) -> Response:
        aid, oid = request.path_params["aid"], request.path_params["oid"]
        with db.session() as s:
            out = s.get(Output, oid)
            if out is None or out.analysis_id != aid or out.kind == "sr":
                return PlainTextResponse("not found", status_code=404)
            try:
                data = pictures.output_png(out)
            except ImageError as exc:
                return PlainTextResponse(f"no picture: {exc}", status_code=404)
        return Response(data, media_type="image/png", headers={"Cache-Control": "private, max-age=60"})

    def trends_page(request: Request) -> Response:
        by = "aet" if request.query_params.get("by") == "aet" else "station"
        days = request.query_params.get("days", "30")
        with db.session() as s:
            buckets = trends(s, since=_since(days), by=by)
        sources: dict[str, list[Any]] = {}
        charts: dict[str, list[tuple[str, str]]] = {}
        for b in buckets:
            sources.setdefault(b.source, []).append(b)
        for source, items in sources.items():
            for analyzer in sorted({b.analyzer for b in items}):
                pts = [(b.day, b.mean_grade, b.rescan_share) for b in items if b.analyzer == analyzer]
                lo, hi = (0.0, 4.0) if analyzer == "mr-wholeheart" else (1.0, 5.0)
                charts.setdefault(source, []).append((analyzer, trend_chart(pts, lo, hi)))
        return templates.TemplateResponse(
            request, "trends.html", {"sources": sources, "charts": charts, "by": by, "days": days}
        )

    def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    def root_redirect(request: Request) -> Response:
        return RedirectResponse("/", status_code=307)

    routes = [
        Route("/", index),
        Route("/analyses", root_redirect),
        Route("/analyses/{aid:int}", analysis),
        Route("/analyses/{aid:int}/outputs/{oid:int}.png", output_picture),
        Route("/analyses/{aid:int}/{kind:str}", picture),
        Route("/trends", trends_page),
        Route("/healthz", healthz),
        Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    app = Starlette(routes=routes)
    app.add_middleware(_Guard, token=settings.dashboard.token)
    return app


def _not_found(request: Request, templates: Jinja2Templates, what: str) -> Response:
    return templates.TemplateResponse(
        request, "error.html", {"message": f"{what} not found"}, status_code=404
    )
