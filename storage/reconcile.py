"""Start-up reconciliation: files the store holds but no row names (a crash between rename and commit).

A C-STORE renames its fsynced file into ``instances/`` and then commits its row; a worker does the
same for ``outputs/``. A crash between the two leaves a complete file that nothing refers to (the
sender got no success and resends). :func:`quarantine_unrecorded` moves such files into
``data_dir/orphans/<kind>/`` — kept, not deleted, for an administrator to look at — and writes
one audit row.

Only files written since the newest row minus ``window`` can be such leftovers, so only the
fan-out folders changed since then are listed: start-up stays fast on a large store.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from .db import Database
from .filestore import KINDS, FileStore
from .schema import AuditEvent, Instance, Output, as_utc

__all__ = ["ORPHANS", "quarantine_unrecorded", "unrecorded_files"]

ORPHANS = "orphans"
_BATCH = 500


def _cutoff(db: Database, window: timedelta) -> float:
    with db.session() as s:
        newest = [as_utc(s.scalar(select(func.max(Instance.received_at)))),
                  as_utc(s.scalar(select(func.max(Output.created_at))))]
    known = [t for t in newest if t is not None]
    return (max(known) - window).timestamp() if known else 0.0


def _recent_files(store: FileStore, cutoff: float) -> list[str]:
    found: list[str] = []
    for kind in KINDS:
        for top in sorted((store.root / kind).iterdir()):
            if not top.is_dir():
                continue
            for leaf in sorted(top.iterdir()):
                if not leaf.is_dir() or leaf.stat().st_mtime < cutoff:  # a rename into it updates it
                    continue
                found += [
                    f"{kind}/{top.name}/{leaf.name}/{f.name}"
                    for f in sorted(leaf.iterdir())
                    if f.suffix == ".dcm" and f.stat().st_mtime >= cutoff
                ]
    return found


def unrecorded_files(db: Database, store: FileStore, window: timedelta = timedelta(minutes=10)) -> list[str]:
    """Relative paths of recent store files that no instance or output row names."""
    candidates = _recent_files(store, _cutoff(db, window))
    recorded: set[str] = set()
    with db.session() as s:
        for start in range(0, len(candidates), _BATCH):
            batch = candidates[start : start + _BATCH]
            for model in (Instance, Output):
                recorded.update(s.scalars(select(model.file_path).where(model.file_path.in_(batch))))
    return [c for c in candidates if c not in recorded]


def quarantine_unrecorded(db: Database, store: FileStore, window: timedelta = timedelta(minutes=10)) -> list[Path]:
    """Move unrecorded files to ``orphans/<kind>/`` and audit it; return their new paths.

    Call at start-up, before the SCP and the workers run (nothing may be between rename and
    commit then).
    """
    moved: list[Path] = []
    for rel in unrecorded_files(db, store, window):
        kind, name = rel.split("/", 1)[0], Path(rel).name
        target = store.root / ORPHANS / kind / name
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.replace(store.path(rel), target)
        moved.append(target)
    if moved:
        with db.session() as s:
            s.add(AuditEvent(
                kind="store.orphans", severity="warning",
                message=f"{len(moved)} stored file(s) without a database row (a crash between rename and "
                        f"commit; never acknowledged) moved to {ORPHANS}/",
            ))
    return moved
