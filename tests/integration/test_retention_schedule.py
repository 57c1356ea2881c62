"""The node runs the retention purge by itself: once at start-up, then hourly."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import update

from config.settings import Settings
from dicom_node.node import Node
from dicom_node.scu import send_files
from storage.schema import Instance, utcnow
from tests.support.dicom_files import mr_slices, write


def _settings(tmp_path: Path, port: int) -> Settings:
    return Settings(
        node={"port": port},
        storage={"data_dir": str(tmp_path / "data"), "retention_days": 30},
        analyzers={"plugins": ["tests.plugins.analyzers:CountingAnalyzer"]},
        routes=[{"modality": "MR", "analyzer": "none"}],  # stored, not analysed: only retention acts
    )


def test_node_purges_expired_pixel_data_at_start_up(tmp_path: Path, port: int) -> None:
    files = [write(ds, tmp_path / f"in/{i}.dcm") for i, ds in enumerate(mr_slices(2))]
    node = Node(_settings(tmp_path, port))
    node.start()
    try:
        assert [r.status for r in send_files("127.0.0.1", port, files, called_aet="CARDIAC_QA")] == [0, 0]
        with node.db.session() as s:  # one instance is 31 days old, the other is fresh
            first = s.query(Instance).order_by(Instance.id).first()
            s.execute(update(Instance).where(Instance.id == first.id)
                      .values(received_at=utcnow() - timedelta(days=31)))
    finally:
        node.stop()

    node = Node(_settings(tmp_path, port))
    node.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with node.db.session() as s:
                rows = s.query(Instance).order_by(Instance.id).all()
                purged = [r.purged_at is not None for r in rows]
                paths = [node.store.root / r.file_path for r in rows]
            if purged[0]:
                break
            time.sleep(0.2)
        assert purged == [True, False]
        assert not paths[0].exists() and paths[1].exists()
    finally:
        node.stop()
