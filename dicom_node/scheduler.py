"""The node's periodic jobs on an APScheduler 3 ``BackgroundScheduler``.

Each job is a thin wrapper (``max_instances=1``, ``coalesce=True``) around one function that opens
its own database session(s):

- ``assemble``: :func:`dicom_node.assembly.assemble` every ``assembly.poll_seconds``; woken early by
  :meth:`NodeScheduler.wake_assembler` (the SCP's ``on_stored`` hook);
- ``dispatch``: :meth:`dicom_node.jobs.WorkerPool.dispatch`, woken when analyses are created or a
  worker becomes idle;
- ``deliver``: :func:`dicom_node.delivery.deliver_due`.

A job that raises is logged by APScheduler and runs again at its next interval.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from apscheduler.schedulers.background import BackgroundScheduler

from config.settings import Settings

from .assembly import assemble
from .outputs import recover_outputs
from .retention import purge_expired

if TYPE_CHECKING:
    from storage.db import Database
    from storage.filestore import FileStore

    from .jobs import WorkerPool

__all__ = ["NodeScheduler"]

log = logging.getLogger(__name__)
RECOVER_GRACE = timedelta(seconds=60)

_JOB_DEFAULTS = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}


class _SkipNoise(logging.Filter):
    """Drops APScheduler's "skipped: maximum number of running instances" warnings.

    With ``max_instances=1`` a wake-up that arrives while the job runs is skipped by design (the
    job runs once more afterwards), so the warning is noise, not a problem to act on.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances" not in record.getMessage()


def _quiet_skips() -> None:
    logger = logging.getLogger("apscheduler.scheduler")
    if not any(isinstance(f, _SkipNoise) for f in logger.filters):
        logger.addFilter(_SkipNoise())


class NodeScheduler:
    """Assembly, dispatch and delivery on a background scheduler.

    Parameters
    ----------
    db, store, settings
        The node's database, file store and settings.
    pool
        A started :class:`dicom_node.jobs.WorkerPool` (or None: nothing is dispatched).
    known_analyzers
        Registered analyzer names (routes naming others give skipped analyses).
    """

    def __init__(
        self,
        db: Database,
        store: FileStore,
        settings: Settings,
        pool: WorkerPool | None = None,
        known_analyzers: Collection[str] | None = None,
    ) -> None:
        self.db = db
        self.store = store
        self.settings = settings
        self.pool = pool
        self.known = known_analyzers
        self.backpressure = False
        _quiet_skips()
        self._sched = BackgroundScheduler(timezone=UTC, job_defaults=_JOB_DEFAULTS)
        self._guard = threading.Lock()
        self._running: set[str] = set()
        self._again: set[str] = set()

    def start(self) -> None:
        """Add the jobs and start the scheduler thread."""
        poll = self.settings.assembly.poll_seconds
        self._sched.add_job(self._job, "interval", seconds=poll, id="assemble", args=("assemble",))
        self._sched.add_job(self._job, "interval", seconds=poll, id="dispatch", args=("dispatch",))
        self._sched.add_job(self._job, "interval", seconds=max(poll, 1.0), id="deliver", args=("deliver",))
        self._sched.add_job(self._job, "interval", seconds=60, id="recover", args=("recover",))
        # Retention: once at start-up, then hourly (pixel data purged, results and outputs kept).
        self._sched.add_job(self._job, "interval", hours=1, id="retention", args=("retention",),
                            next_run_time=datetime.now(UTC))
        self._sched.start()

    def shutdown(self, wait: bool = True) -> None:
        """Stop scheduling; with ``wait`` the jobs running now finish first."""
        if self._sched.running:
            self._sched.shutdown(wait=wait)

    # -- waking ------------------------------------------------------------------------------
    def wake(self, job_id: str) -> None:
        """Run ``job_id`` as soon as possible (once more after the current run if it is running)."""
        with self._guard:
            if job_id in self._running:
                self._again.add(job_id)
                return
        if not self._sched.running:
            return
        try:
            self._sched.modify_job(job_id, next_run_time=datetime.now(UTC))
        except LookupError:  # JobLookupError during shutdown
            pass

    def wake_assembler(self, _instance_id: int | None = None) -> None:
        """``on_stored`` hook for the SCP: look for READY units now."""
        self.wake("assemble")

    def wake_dispatcher(self) -> None:
        """Hook for the worker pool: a worker became idle."""
        self.wake("dispatch")

    # -- the jobs ------------------------------------------------------------------------------
    def _job(self, job_id: str) -> None:
        with self._guard:
            self._running.add(job_id)
            self._again.discard(job_id)
        try:
            getattr(self, f"_{job_id}")()
        finally:
            with self._guard:
                self._running.discard(job_id)
                again = job_id in self._again
                self._again.discard(job_id)
            if again:
                self.wake(job_id)

    def _assemble(self) -> None:
        result = assemble(self.db, self.settings, known_analyzers=self.known)
        if result.backpressure != self.backpressure:
            self.backpressure = result.backpressure
            if result.backpressure:
                log.warning(
                    "backpressure: %d or more analyses pending; new units wait (instances are still stored)",
                    self.settings.workers.max_pending,
                )
            else:
                log.info("backpressure released")
        if result.created:
            self.wake("dispatch")

    def _recover(self) -> None:
        # DONE analyses whose outputs failed (e.g. a full disk): retried once they are a minute old.
        recover_outputs(self.db, self.store, self.settings, finished_before=datetime.now(UTC) - RECOVER_GRACE)

    def _retention(self) -> None:
        purged = purge_expired(self.db, self.store, self.settings)
        if purged:
            log.info("retention: pixel data of %d instances purged (results kept)", purged)

    def _dispatch(self) -> None:
        if self.pool is not None:
            self.pool.dispatch()

    def _deliver(self) -> None:
        from . import delivery

        delivery.deliver_due(self.db, self.store, self.settings)
