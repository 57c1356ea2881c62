"""Delivery of stored outputs to the configured destinations (C-STORE with back-off).

:func:`deliver_due` is the one function the scheduler's ``deliver`` job calls (tests call it
directly with an explicit ``now``). Every pending delivery whose ``next_attempt_at`` has come is
sent; deliveries for the same destination share one association. After each attempt the row
records the outcome: delivered, or the error with the next attempt at ``now + backoff_seconds *
2**(attempts-1)`` capped at ``backoff_max_seconds``, or failed once ``max_attempts`` attempts were
made (``cardiac-qa outbox --retry`` puts it back). The database is the queue: a restart simply
finds the pending rows again. A C-STORE that succeeded at the peer but was not recorded here (crash
in between) is sent again; the SOP Instance UID is the same, so the peer keeps one object.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from config.settings import Settings
from storage.schema import Delivery, DeliveryState, Output, utcnow

__all__ = ["backoff_delay", "deliver_due", "retry_failed"]

log = logging.getLogger(__name__)


def backoff_delay(settings: Settings, attempts: int) -> timedelta:
    """Wait after the ``attempts``-th failed attempt: doubling from ``backoff_seconds``, capped."""
    d = settings.delivery
    seconds = min(d.backoff_seconds * (2 ** max(attempts - 1, 0)), d.backoff_max_seconds)
    return timedelta(seconds=seconds)


def deliver_due(db: Any, store: Any, settings: Settings, now: datetime | None = None) -> int:
    """Send every delivery due at ``now`` (default: the current time); return how many were attempted."""
    from dicom_node.scu.store import store_files

    now = now or utcnow()
    with db.session() as session:
        due = session.execute(
            select(Delivery.id, Delivery.destination, Delivery.attempts, Output.file_path)
            .join(Output, Delivery.output_id == Output.id)
            .where(Delivery.state == DeliveryState.PENDING, Delivery.next_attempt_at <= now)
            .order_by(Delivery.id)
        ).all()
    if not due:
        return 0
    by_dest: dict[str, list[Any]] = defaultdict(list)
    for row in due:
        by_dest[row.destination].append(row)
    destinations = {d.name: d for d in settings.destinations}
    results: list[tuple[Any, bool, str | None]] = []
    for name, rows in by_dest.items():
        dest = destinations.get(name)
        if dest is None:
            results += [(r, False, f"destination {name!r} is not configured") for r in rows]
            continue
        outcomes = store_files(dest, [Path(store.path(r.file_path)) for r in rows], settings)
        results += [(r, o.ok, o.error) for r, o in zip(rows, outcomes, strict=True)]
        ok = sum(o.ok for o in outcomes)
        log.info("delivery to %s: %d of %d stored", name, ok, len(rows))
    with db.session() as session:
        for r, ok, error in results:
            attempts = r.attempts + 1
            if ok:
                values: dict[str, Any] = {"state": DeliveryState.DELIVERED, "delivered_at": now, "last_error": None}
            elif attempts >= settings.delivery.max_attempts:
                values = {"state": DeliveryState.FAILED, "last_error": error}
            else:
                values = {"last_error": error, "next_attempt_at": now + backoff_delay(settings, attempts)}
            session.execute(
                update(Delivery)
                .where(Delivery.id == r.id, Delivery.state == DeliveryState.PENDING)
                .values(attempts=attempts, **values)
                .execution_options(synchronize_session=False)
            )
    return len(results)


def retry_failed(db: Any, delivery_id: int | None = None, now: datetime | None = None) -> int:
    """Put failed deliveries (one, or all when ``delivery_id`` is None) back to pending now."""
    query = update(Delivery).where(Delivery.state == DeliveryState.FAILED)
    if delivery_id is not None:
        query = query.where(Delivery.id == delivery_id)
    with db.session() as session:
        rc = session.execute(
            query.values(state=DeliveryState.PENDING, attempts=0, next_attempt_at=now or utcnow(), last_error=None)
            .execution_options(synchronize_session=False)
        )
        return int(rc.rowcount or 0)
