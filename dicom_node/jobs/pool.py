"""A bounded pool of analysis worker processes (multiprocessing *spawn* context).

The node's dispatcher claims at most as many PENDING analyses as there are idle workers and
submits their ids; each worker process builds its :class:`~.runner.WorkerContext` (database,
analyzer registry, model sessions) once in its initializer and then runs job after job. A worker
that dies takes only its current job down (FAILED, ``worker_crashed``) and the pool is rebuilt.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from typing import TYPE_CHECKING, Any

from config.settings import Settings
from storage.schema import AnalysisState

from .claim import claim_next, fail_running, release_running
from .runner import WorkerContext, build_worker_context, run_analysis, worker_name

if TYPE_CHECKING:
    from storage.db import Database

__all__ = ["WorkerPool"]

log = logging.getLogger(__name__)

# Process-wide by design: each worker process holds exactly one context, built once.
_CONTEXT: WorkerContext | None = None


def _watch_parent(parent_pid: int) -> None:
    # A worker must not outlive a node killed with SIGKILL (it would hold the database).
    while True:
        if os.getppid() != parent_pid:
            os._exit(0)
        time.sleep(0.5)


def _init_worker(settings_data: dict[str, Any], parent_pid: int) -> None:
    global _CONTEXT
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the node decides
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True, name="parent-watch").start()
    settings = Settings.model_validate(settings_data)
    from ..node import configure_logging

    configure_logging(settings)
    _CONTEXT = build_worker_context(settings)
    log.info(
        "worker %s ready: analyzers %s, packs %s",
        _CONTEXT.worker,
        ", ".join(sorted(_CONTEXT.registry)) or "none",
        ", ".join(sorted(_CONTEXT.models.packs)) or "none",
    )


def _run(analysis_id: int) -> tuple[int, str]:
    if _CONTEXT is None:
        raise RuntimeError("worker context missing (initializer did not run)")
    return analysis_id, run_analysis(_CONTEXT, analysis_id).value


class WorkerPool:
    """``workers.processes`` worker processes fed from the database queue.

    Parameters
    ----------
    settings
        Node settings (passed to the workers as plain data).
    db
        The node's ``Database`` (used from the dispatching thread only).
    on_idle
        Called (from a pool thread) whenever a job finishes, e.g. to wake the dispatcher.
    """

    def __init__(self, settings: Settings, db: Database, on_idle: Callable[[], None] | None = None) -> None:
        self.settings = settings
        self.db = db
        self.size = settings.workers.processes
        self.worker = worker_name()  # claims are made by the node; the worker records itself later
        self._on_idle = on_idle
        self._lock = threading.Lock()
        self._inflight: dict[Future[tuple[int, str]], int] = {}
        self._crashed: list[int] = []
        self._executor: ProcessPoolExecutor | None = None
        self._data = settings.model_dump(mode="json", by_alias=True)
        self._data["storage"]["data_dir"] = str(settings.storage.data_dir.resolve())
        self.completed = 0

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Start the worker processes (they build their contexts in the background)."""
        self._executor = ProcessPoolExecutor(
            max_workers=self.size,
            mp_context=get_context("spawn"),
            initializer=_init_worker,
            initargs=(self._data, os.getpid()),
        )
        # Spawn every worker now so model sessions are ready before the first job.
        for _ in range(self.size):
            self._executor.submit(int, 0)

    @property
    def busy(self) -> int:
        """Jobs currently submitted to the workers."""
        with self._lock:
            return len(self._inflight)

    def running_ids(self) -> list[int]:
        """Analysis ids currently in the workers' hands."""
        with self._lock:
            return sorted(self._inflight.values())

    def stop(self, grace_seconds: float = 30.0) -> None:
        """Let running jobs finish (up to ``grace_seconds``), return the rest to PENDING, stop."""
        executor, self._executor = self._executor, None
        if executor is None:
            return
        with self._lock:
            inflight = dict(self._inflight)
        if inflight:
            log.info("waiting up to %.0f s for %d running analyses", grace_seconds, len(inflight))
            wait(list(inflight), timeout=grace_seconds)
        unfinished = [aid for f, aid in inflight.items() if not f.done()]
        if unfinished:
            for proc in list(getattr(executor, "_processes", {}).values()):
                proc.terminate()
        executor.shutdown(wait=True, cancel_futures=True)
        returned = release_running(self.db, unfinished)
        if returned:
            log.warning("%d unfinished analyses returned to pending", returned)
        with self._lock:  # those we stopped on purpose did not crash
            self._crashed = [a for a in self._crashed if a not in unfinished]
        self._handle_crashed()

    # -- dispatching ---------------------------------------------------------------------------
    def dispatch(self) -> int:
        """Claim PENDING analyses for the idle workers (oldest first); return how many were submitted."""
        if self._executor is None:
            return 0
        self._handle_crashed()
        submitted = 0
        while self.busy < self.size:
            analysis_id = claim_next(self.db, self.worker)
            if analysis_id is None:
                break
            try:
                future = self._executor.submit(_run, analysis_id)
            except (BrokenProcessPool, RuntimeError):
                release_running(self.db, [analysis_id])
                self._rebuild()
                break
            with self._lock:
                self._inflight[future] = analysis_id
            future.add_done_callback(self._done)
            submitted += 1
        return submitted

    def _done(self, future: Future[tuple[int, str]]) -> None:
        with self._lock:
            analysis_id = self._inflight.pop(future, None)
            if analysis_id is not None and not future.cancelled() and future.exception() is not None:
                self._crashed.append(analysis_id)
            self.completed += 1
        if self._on_idle is not None:
            self._on_idle()

    def _handle_crashed(self) -> None:
        with self._lock:
            crashed, self._crashed = self._crashed, []
        for analysis_id in crashed:
            fail_running(
                self.db,
                analysis_id,
                "worker_crashed",
                "the worker process died while running this analysis (out of memory or a native crash?)",
            )
            log.error("analysis %d: worker crashed (%s)", analysis_id, AnalysisState.FAILED.value)
        if crashed:
            self._rebuild()

    def _rebuild(self) -> None:
        old = self._executor
        if old is None:
            return
        log.warning("rebuilding the worker pool")
        old.shutdown(wait=False, cancel_futures=True)
        self.start()
