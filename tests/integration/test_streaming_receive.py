"""``node.streaming_receive``: the node streams received datasets into its spool and adopts them."""

from __future__ import annotations

import tempfile
from pathlib import Path

from pynetdicom import _config

from config.settings import Settings
from dicom_node.node import Node
from dicom_node.scu import send_files
from storage.schema import Instance
from tests.support.dicom_files import us_multiframe, write


def test_streaming_receive_stores_through_the_spool(tmp_path: Path, port: int, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(_config, "STORE_RECV_CHUNKED_DATASET", False)  # both restored after the test
    monkeypatch.setattr(tempfile, "tempdir", None)
    settings = Settings(
        node={"port": port, "streaming_receive": True},
        storage={"data_dir": str(tmp_path / "data")},
        analyzers={"plugins": ["tests.plugins.analyzers:CountingAnalyzer"]},
    )
    node = Node(settings)
    node.start()
    try:
        assert _config.STORE_RECV_CHUNKED_DATASET is True
        assert Path(tempfile.gettempdir()) == node.store.spool_dir
        files = [write(us_multiframe(frames=4, seed=i), tmp_path / f"in/{i}.dcm") for i in range(3)]
        results = send_files("127.0.0.1", port, files, calling_aet="TESTSCU", called_aet="CARDIAC_QA")
        assert [r.status for r in results] == [0, 0, 0]
        with node.db.session() as s:
            assert s.query(Instance).count() == 3
        assert list(node.store.spool_dir.iterdir()) == []  # every streamed file was adopted
    finally:
        node.stop()
