"""Serving the dashboard from inside the node: uvicorn in a background thread."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import uvicorn

from config.settings import Settings

from .app import create_app

__all__ = ["DashboardServer", "DashboardError"]

log = logging.getLogger(__name__)


class DashboardError(Exception):
    """The dashboard could not start (port in use, bad address)."""

    code = "dashboard_failed"


class DashboardServer:
    """The read-only dashboard on ``dashboard.bind_address:dashboard.port`` in a daemon thread.

    uvicorn's own access log is off (it would log query strings, where a ``?token=`` may be);
    :data:`dicom_node.web.app.ACCESS_LOGGER` logs method, path (internal ids only) and status.
    """

    def __init__(self, settings: Settings, db: Any, store: Any | None = None) -> None:
        self.settings = settings
        self.app = create_app(settings, db, store)
        cfg = uvicorn.Config(
            self.app,
            host=settings.dashboard.bind_address,
            port=settings.dashboard.port,
            log_config=None,
            access_log=False,
            lifespan="off",
            server_header=False,
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(cfg)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (the configured one; the real one when configured as 0)."""
        for srv in getattr(self._server, "servers", []) or []:
            for sock in srv.sockets:
                return int(sock.getsockname()[1])
        return self.settings.dashboard.port

    @property
    def url(self) -> str:
        return f"http://{self.settings.dashboard.bind_address}:{self.port}/"

    def start(self, timeout_s: float = 10.0) -> DashboardServer:
        """Start serving; return once the socket listens.

        Raises
        ------
        DashboardError
            When uvicorn does not come up within ``timeout_s`` (port in use, bad address).
        """
        self._thread = threading.Thread(target=self._run, name="dashboard", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise DashboardError(
                    f"dashboard could not listen on {self.settings.dashboard.bind_address}:"
                    f"{self.settings.dashboard.port} (port in use or address not available)"
                )
            time.sleep(0.02)
        log.info("dashboard listening on port %d", self.port)
        return self

    def _run(self) -> None:
        try:
            self._server.run()
        except SystemExit:  # uvicorn exits on a bind failure; start() reports it
            log.error("dashboard stopped: could not listen on port %d", self.settings.dashboard.port)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop serving and join the thread."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
