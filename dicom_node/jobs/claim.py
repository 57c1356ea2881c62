"""Claiming analyses from the database queue with conditional UPDATEs.

A claim is ``UPDATE analyses SET state='running' … WHERE id=:id AND state='pending'``; the claimer
owns the job only when exactly one row changed, so two claimers (threads, processes or nodes
sharing PostgreSQL) never both run it. Every transition follows
:data:`storage.schema.ANALYSIS_TRANSITIONS`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.schema import Analysis, AnalysisState, utcnow

if TYPE_CHECKING:
    from storage.db import Database

__all__ = ["claim_analysis", "claim_next", "fail_running", "release_running", "reset_running"]

log = logging.getLogger(__name__)

_CANDIDATES = 16  # ids looked at per claim attempt (others may take the first ones meanwhile)


def claim_analysis(db: Database, analysis_id: int, worker: str, now: datetime | None = None) -> bool:
    """Claim one PENDING analysis for ``worker``.

    Returns
    -------
    bool
        True when this call moved it to RUNNING (``attempts`` + 1, ``worker``, ``started_at``);
        False when it was not pending any more (someone else claimed it, or it was skipped).
    """
    with db.session() as session:
        return _claim(session, analysis_id, worker, now or utcnow())


def _claim(session: Session, analysis_id: int, worker: str, now: datetime) -> bool:
    rc = session.execute(
        update(Analysis)
        .where(Analysis.id == analysis_id, Analysis.state == AnalysisState.PENDING)
        .values(
            state=AnalysisState.RUNNING,
            attempts=Analysis.attempts + 1,
            worker=worker,
            started_at=now,
            finished_at=None,
            error_code=None,
            error_message=None,
        )
        .execution_options(synchronize_session=False)
    )
    return rc.rowcount == 1


def claim_next(db: Database, worker: str, now: datetime | None = None) -> int | None:
    """Claim the oldest PENDING analysis (lowest id first); None when the queue is empty."""
    now = now or utcnow()
    with db.session() as session:
        ids = list(
            session.scalars(
                select(Analysis.id)
                .where(Analysis.state == AnalysisState.PENDING)
                .order_by(Analysis.id)
                .limit(_CANDIDATES)
            )
        )
    for analysis_id in ids:
        with db.session() as session:
            if _claim(session, analysis_id, worker, now):
                return analysis_id
    return None


def reset_running(db: Database) -> int:
    """Return every RUNNING analysis to PENDING (start-up after a crash); return how many.

    Only call this when no worker of this database can be running (one node per database in
    version 1, ARCHITECTURE.md §9).
    """
    with db.session() as session:
        rc = session.execute(
            update(Analysis)
            .where(Analysis.state == AnalysisState.RUNNING)
            .values(state=AnalysisState.PENDING, worker=None, started_at=None)
            .execution_options(synchronize_session=False)
        )
    if rc.rowcount:
        log.warning("%d analyses left running by a previous run returned to pending", rc.rowcount)
    return int(rc.rowcount or 0)


def release_running(db: Database, analysis_ids: Iterable[int]) -> int:
    """RUNNING → PENDING for jobs this node claimed but will not finish (shutdown, lost worker)."""
    ids = list(analysis_ids)
    if not ids:
        return 0
    with db.session() as session:
        rc = session.execute(
            update(Analysis)
            .where(Analysis.id.in_(ids), Analysis.state == AnalysisState.RUNNING)
            .values(state=AnalysisState.PENDING, worker=None, started_at=None)
            .execution_options(synchronize_session=False)
        )
    return int(rc.rowcount or 0)


def fail_running(
    db: Database,
    analysis_id: int,
    code: str,
    message: str,
    now: datetime | None = None,
    attempt: int | None = None,
) -> bool:
    """RUNNING → FAILED with an error code and a message free of patient data.

    With ``attempt`` (the ``attempts`` value the caller's claim produced) nothing changes when
    the analysis was claimed again meanwhile: a stale worker cannot fail a new attempt.
    """
    fence = [] if attempt is None else [Analysis.attempts == attempt]
    with db.session() as session:
        rc = session.execute(
            update(Analysis)
            .where(Analysis.id == analysis_id, Analysis.state == AnalysisState.RUNNING, *fence)
            .values(
                state=AnalysisState.FAILED,
                error_code=code[:64],
                error_message=message,
                finished_at=now or utcnow(),
            )
            .execution_options(synchronize_session=False)
        )
    return rc.rowcount == 1
