"""Retention: purge the pixel data of old instances, keep every row, result and output.

``storage.retention_days`` (ARCHITECTURE.md §7): an instance received more than that many days
ago has its stored Part-10 file deleted and ``Instance.purged_at`` set. The instance, series and
study rows stay (the SRs keep referencing the originals, which the PACS holds), and so do the
analyses (``result_json``), the output objects under ``outputs/`` and their delivery rows.
``retention_days = 0`` disables purging (keep forever).

Instances whose unit is still waiting for or undergoing analysis (an analysis PENDING or RUNNING
on that instance or on its series) are left alone until the analysis ends.

Crash safety: the file is removed first and the row marked afterwards, so an interruption leaves
at most a row whose file is already gone; the next pass removes nothing more and marks it (a
missing file is not an error). The other order could leave an orphan file nothing refers to.

The scheduler wires it as one interval job::

    self._sched.add_job(purge_expired, "interval", hours=1, id="retention",
                        args=(self.db, self.store, self.settings))
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from config.settings import Settings
from storage.schema import Analysis, AnalysisState, Instance, utcnow

if TYPE_CHECKING:
    from storage.db import Database
    from storage.filestore import FileStore

__all__ = ["purge_expired", "BATCH"]

log = logging.getLogger(__name__)

#: Instances handled per database round trip (keeps SQLite write locks short).
BATCH = 500

_ACTIVE = (AnalysisState.PENDING, AnalysisState.RUNNING)


def _candidates(db: Database, cutoff: datetime, after_id: int) -> list[tuple[int, str]]:
    """(id, file_path) of unpurged instances received before ``cutoff`` and not being analysed."""
    busy_instances = select(Analysis.instance_id).where(
        Analysis.state.in_(_ACTIVE), Analysis.instance_id.is_not(None)
    )
    busy_series = select(Analysis.series_id).where(Analysis.state.in_(_ACTIVE), Analysis.unit_kind == "series")
    with db.session() as session:
        rows = session.execute(
            select(Instance.id, Instance.file_path)
            .where(
                Instance.id > after_id,
                Instance.purged_at.is_(None),
                Instance.received_at < cutoff,
                ~Instance.id.in_(busy_instances),
                ~Instance.series_id.in_(busy_series),
            )
            .order_by(Instance.id)
            .limit(BATCH)
        ).all()
    return [(int(r.id), str(r.file_path)) for r in rows]


def purge_expired(db: Database, store: FileStore, settings: Settings, now: datetime | None = None) -> int:
    """Delete the stored files of instances older than ``storage.retention_days``.

    Parameters
    ----------
    db : storage.db.Database
    store : storage.filestore.FileStore
    settings : config.settings.Settings
        Uses ``storage.retention_days`` (0: never purge).
    now : datetime, optional
        The time the age is measured against (UTC); default: the current time.

    Returns
    -------
    int
        How many instances were purged by this call (0 when nothing was due).
    """
    days = settings.storage.retention_days
    if days <= 0:
        return 0
    now = now or utcnow()
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    cutoff = now - timedelta(days=days)
    purged = 0
    after_id = 0
    while True:
        batch = _candidates(db, cutoff, after_id)
        if not batch:
            break
        after_id = batch[-1][0]
        done: list[int] = []
        for instance_id, rel_path in batch:
            try:
                store.remove(rel_path)
            except OSError as exc:  # keep going; this one is retried on the next pass
                log.error("retention: could not remove the file of instance %d: %s", instance_id,
                          type(exc).__name__)
                continue
            done.append(instance_id)
        if done:
            with db.session() as session:
                rc = session.execute(
                    update(Instance)
                    .where(Instance.id.in_(done), Instance.purged_at.is_(None))
                    .values(purged_at=now)
                    .execution_options(synchronize_session=False)
                )
                purged += int(rc.rowcount or 0)
    if purged:
        log.info("retention: pixel data of %d instance(s) older than %d days purged", purged, days)
    return purged
