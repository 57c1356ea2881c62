"""Streaming receive (the default) in a real node, next to another SCP in the same process."""

from __future__ import annotations

import tempfile
from pathlib import Path

from pynetdicom import _config

from config.settings import Settings
from dicom_node.demo.pacs import EmbeddedPacs
from dicom_node.node import Node
from dicom_node.scu import send_files
from storage.schema import Instance
from tests.support.dicom_files import dataset_bytes, us_multiframe, write


def test_node_streams_into_its_spool_and_another_scp_still_works(tmp_path: Path, port: int, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # where pynetdicom's own files go
    (tmp_path / "tmp").mkdir()
    settings = Settings(
        node={"port": port},
        storage={"data_dir": str(tmp_path / "data")},
        analyzers={"plugins": ["tests.plugins.analyzers:CountingAnalyzer"]},
    )
    assert settings.node.streaming_receive is True
    node = Node(settings)
    node.start()
    try:
        assert _config.STORE_RECV_CHUNKED_DATASET is True
        files = [write(us_multiframe(frames=4, seed=i), tmp_path / f"in/{i}.dcm") for i in range(3)]
        results = send_files("127.0.0.1", port, files, calling_aet="TESTSCU", called_aet="CARDIAC_QA")
        assert [r.status for r in results] == [0, 0, 0]
        with node.db.session() as s:
            assert s.query(Instance).count() == 3
        assert list(node.store.spool_dir.iterdir()) == []  # every streamed file was moved in

        # An SCP of the same process that the node does not own gets pynetdicom's temporary
        # files, and received_bytes() gives it the Part-10 stream exactly as sent.
        with EmbeddedPacs(tmp_path / "pacs") as pacs:
            (result,) = send_files("127.0.0.1", pacs.port, files[:1], calling_aet="TESTSCU", called_aet="DEMO_PACS")
            assert result.status == 0
            (received,) = pacs.received
            assert dataset_bytes(received.path.read_bytes()) == dataset_bytes(files[0].read_bytes())
        assert list((tmp_path / "tmp").iterdir()) == []  # pynetdicom removed its file
    finally:
        node.stop()
    assert _config.STORE_RECV_CHUNKED_DATASET is False
