"""Start-up reconciliation: a file renamed into the store whose row was never committed."""

from __future__ import annotations

import os
import time
from pathlib import Path

from sqlalchemy import select

from config.settings import Settings
from dicom_node.node import Node
from dicom_node.scu import send_files
from storage.db import Database
from storage.filestore import FileStore
from storage.reconcile import ORPHANS, quarantine_unrecorded, unrecorded_files
from storage.schema import AuditEvent, Instance
from tests.support.dicom_files import us_multiframe, write


def test_unrecorded_files_are_quarantined_at_start_up(tmp_path: Path, port: int) -> None:
    data = tmp_path / "data"
    settings = Settings(node={"port": port}, storage={"data_dir": str(data)},
                        analyzers={"plugins": ["tests.plugins.analyzers:CountingAnalyzer"]})
    node = Node(settings)
    node.start()
    try:
        files = [write(us_multiframe(frames=2, seed=i), tmp_path / f"in/{i}.dcm") for i in range(2)]
        assert [r.status for r in send_files("127.0.0.1", port, files, called_aet="CARDIAC_QA")] == [0, 0]
    finally:
        node.stop()
    store, db = FileStore(data), Database(settings.storage.effective_database_url())
    try:
        # what a crash between the rename and the commit leaves: complete files, no rows
        lost = [store.write_atomic(files[0].read_bytes()), store.write_atomic(b"an output", kind="outputs")]
        old = store.write_atomic(b"written long before the newest row")
        past = time.time() - 3600
        os.utime(store.path(old.rel_path), (past, past))
        assert sorted(unrecorded_files(db, store)) == sorted(s.rel_path for s in lost)  # the old one is not looked at
        with db.session() as s:
            recorded = sorted(s.scalars(select(Instance.file_path)))
    finally:
        db.dispose()
    node = Node(settings)
    node.start()  # reconciles before it listens
    try:
        for stored in lost:
            assert not store.path(stored.rel_path).exists()
        moved = sorted(p.relative_to(data).as_posix() for p in (data / ORPHANS).rglob("*.dcm"))
        assert moved == sorted(f"{ORPHANS}/{s.rel_path.split('/')[0]}/{Path(s.rel_path).name}" for s in lost)
        assert all(store.path(rel).exists() for rel in recorded)  # recorded files untouched
        with node.db.session() as s:
            (audit,) = s.scalars(select(AuditEvent).where(AuditEvent.kind == "store.orphans")).all()
        assert audit.message.startswith("2 stored file(s) without a database row")
    finally:
        node.stop()
    db = Database(settings.storage.effective_database_url())
    try:
        assert quarantine_unrecorded(db, FileStore(data)) == []  # nothing left to move
    finally:
        db.dispose()
