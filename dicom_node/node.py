"""The node: composition of storage, the Store SCP, the scheduler and the worker pool.

Start-up order matters for durability: the database is migrated, the spool is cleaned (partial
files of a crash disappear), RUNNING analyses left by a crash return to PENDING, the workers start,
and only then are associations accepted. Shutdown runs the other way: stop accepting
associations, stop the scheduler (its running job finishes), let running analyses finish (or
return them to PENDING), dispose the database.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from analyzers.base import BUILTIN_ANALYZERS, load_registry
from config.settings import Settings
from storage.reconcile import ORPHANS, quarantine_unrecorded
from storage.schema import utcnow

from .jobs import WorkerPool, reset_running
from .outputs import recover_outputs
from .routing import validate_routes
from .scheduler import NodeScheduler

__all__ = ["Node", "NodeError", "STATE_FILE", "configure_logging", "read_node_state", "recover_outputs"]

log = logging.getLogger(__name__)

#: Written to ``data_dir`` while the node runs; read by ``cardiac-qa status``.
STATE_FILE = "node-state.json"

_QUIET = ("highdicom",)


class NodeError(Exception):
    """The node cannot start (for example another node already uses this ``data_dir``)."""

    code = "node_error"


def configure_logging(settings: Settings) -> None:
    """Configure logging once per process (the node and each worker).

    Delegates to :func:`dicom_node.logging_setup.configure_logging` (the one place handlers are
    set up) and additionally limits highdicom to warnings: it logs source UIDs at INFO, and UIDs
    belong at DEBUG only.
    """
    from .logging_setup import configure_logging as _configure

    _configure(settings)
    for name in _QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().level))


def read_node_state(settings: Settings) -> dict[str, Any] | None:
    """The running node's state file, or None when no node is running for this ``data_dir``."""
    path = Path(settings.storage.data_dir) / STATE_FILE
    try:
        state = json.loads(path.read_text())
        os.kill(int(state["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return state


class Node:
    """One Cardiac QA node.

    Parameters
    ----------
    settings
        Node settings; nothing is read from globals.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db: Any = None
        self.store: Any = None
        self.scp: Any = None
        self.dashboard: Any = None
        self.pool: WorkerPool | None = None
        self.scheduler: NodeScheduler | None = None
        self.registry_errors: dict[str, str] = {}
        self._stop = threading.Event()

    def start(self) -> None:
        """Open storage, recover from a crash, start workers, scheduler and the SCP (non-blocking)."""
        from storage.db import open_database
        from storage.filestore import FileStore

        from .scp import StoreSCP

        s = self.settings
        other = read_node_state(s)
        if other is not None and other.get("pid") != os.getpid():
            raise NodeError(
                f"another node (pid {other['pid']}) is running with data_dir {s.storage.data_dir}; "
                "stop it first or give this node its own data_dir"
            )
        self.db = open_database(s)
        try:
            self._start_services(FileStore(Path(s.storage.data_dir)), StoreSCP)
        except BaseException:
            self.stop(grace_seconds=0)
            raise

    def _start_services(self, store: Any, scp_class: Any) -> None:
        s = self.settings
        self.store = store
        removed = self.store.clean_spool()
        if removed:
            log.warning("removed %d partial files left in the spool by an interrupted write", removed)
        orphans = quarantine_unrecorded(self.db, self.store)
        if orphans:
            log.warning("moved %d stored files without a database row to %s/ (see the audit log)",
                        len(orphans), ORPHANS)
        reset_running(self.db)
        recover_outputs(self.db, self.store, s)
        registry, self.registry_errors = load_registry(s.analyzers.plugins)
        for path, message in self.registry_errors.items():
            log.error("analyzer %s disabled: %s", path, message)
        known = set(registry) | set(BUILTIN_ANALYZERS)
        for problem in validate_routes(s.routes, known):
            log.warning("%s", problem)
        self.scheduler = NodeScheduler(self.db, self.store, s, known_analyzers=known)
        self.pool = WorkerPool(s, self.db, on_idle=self.scheduler.wake_dispatcher)
        self.scheduler.pool = self.pool
        self.pool.start()
        self.scp = scp_class(s, self.db, self.store, on_stored=self.scheduler.wake_assembler)
        self.scp.start()
        self.scheduler.start()
        if s.dashboard.enabled:
            from .web import DashboardServer

            self.dashboard = DashboardServer(s, self.db, self.store).start()
        self._write_state(sorted(registry))
        log.info(
            "node %s listening on %s:%d; %d worker process(es); analyzers: %s",
            s.node.ae_title,
            s.node.bind_address,
            s.node.port,
            s.workers.processes,
            ", ".join(sorted(registry)) or "none",
        )

    def stop(self, grace_seconds: float = 30.0) -> None:
        """Clean shutdown (idempotent): SCP, dashboard, scheduler, workers, database."""
        if self.db is None:
            return
        if self.scp is not None:
            self.scp.stop()
            self.scp = None
        if self.dashboard is not None:
            self.dashboard.stop()
            self.dashboard = None
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=True)
            self.scheduler = None
        if self.pool is not None:
            self.pool.stop(grace_seconds)
            self.pool = None
        state = read_node_state(self.settings)
        if state is not None and state.get("pid") == os.getpid():
            (Path(self.settings.storage.data_dir) / STATE_FILE).unlink(missing_ok=True)
        self.db.dispose()
        self.db = None
        log.info("node stopped")

    def request_stop(self) -> None:
        """Ask :meth:`run_forever` to return (thread- and signal-safe)."""
        self._stop.set()

    def run_forever(self) -> None:
        """Start, run until SIGTERM/SIGINT (or :meth:`request_stop`), then stop cleanly."""

        def _on_signal(signum: int, _frame: FrameType | None) -> None:
            if self._stop.is_set():
                return
            log.info("%s received: shutting down", signal.Signals(signum).name)
            self._stop.set()

        previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.start()
            while not self._stop.wait(1.0):
                pass
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _write_state(self, analyzers: list[str]) -> None:
        state = {
            "pid": os.getpid(),
            "started_at": utcnow().isoformat(),
            "ae_title": self.settings.node.ae_title,
            "port": self.settings.node.port,
            "worker_processes": self.settings.workers.processes,
            "analyzers": analyzers,
            "analyzer_errors": self.registry_errors,
        }
        path = Path(self.settings.storage.data_dir) / STATE_FILE
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # data_dir files are private (docs/reliability.md)
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(state, indent=2))
        os.replace(tmp, path)
