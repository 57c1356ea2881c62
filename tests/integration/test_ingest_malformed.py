"""Malformed input over the network: a failure status, an audit row, and the node keeps serving."""

from __future__ import annotations

import os
import threading
from io import BytesIO
from pathlib import Path

from config.settings import Settings
from dicom_node.scp import StoreSCP
from dicom_node.scu import send_files
from storage.db import Database
from storage.filestore import FileStore
from storage.schema import AuditEvent, Instance
from tests.support.dicom_files import dataset_bytes, new_uid, us_multiframe, write, write_raw_part10

AET = "CARDIAC_QA"


def _encoded(ds) -> bytes:  # noqa: ANN001
    buf = BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return dataset_bytes(buf.getvalue())


def test_malformed_inputs_are_refused_and_node_keeps_serving(tmp_path: Path, port: int) -> None:
    settings = Settings(
        node={"port": port, "ae_title": AET, "max_associations": 4},
        storage={"data_dir": str(tmp_path / "data")},
        limits={"max_pixels_per_instance": 50_000_000},
    )
    store = FileStore(tmp_path / "data")
    db = Database(settings.storage.effective_database_url())
    db.migrate()
    scp = StoreSCP(settings, db, store)
    scp.start()
    try:
        full = us_multiframe(frames=4)
        truncated = write_raw_part10(
            tmp_path / "truncated.dcm", _encoded(full)[:-100], sop_instance=full.SOPInstanceUID
        )
        junk = write_raw_part10(tmp_path / "junk.dcm", os.urandom(2000))
        no_study = us_multiframe(frames=1)
        del no_study.StudyInstanceUID
        absurd = us_multiframe(frames=1)
        absurd.Rows, absurd.Columns, absurd.NumberOfFrames = 65535, 65535, 9999
        bad = [
            truncated,
            junk,
            write(no_study, tmp_path / "nostudy.dcm"),
            write(absurd, tmp_path / "absurd.dcm"),
        ]

        # a well-behaved modality keeps sending on its own association meanwhile
        good_results: list[int | None] = []
        series = new_uid()

        def good_sender() -> None:
            paths = [
                write(us_multiframe(frames=2, seed=i, series_uid=series), tmp_path / f"g{i}.dcm")
                for i in range(8)
            ]
            good_results.extend(r.status for r in send_files("127.0.0.1", port, paths, called_aet=AET))

        t = threading.Thread(target=good_sender)
        t.start()
        statuses = [r.status for r in send_files("127.0.0.1", port, bad, called_aet=AET)]
        t.join()
        assert statuses == [0xC210, 0xC210, 0xC210, 0xA700]
        assert good_results == [0] * 8
        # and a following association still works
        after = write(us_multiframe(frames=1, seed=99), tmp_path / "after.dcm")
        assert [r.status for r in send_files("127.0.0.1", port, [after], called_aet=AET)] == [0]

        with db.session() as s:
            audits = s.query(AuditEvent).filter_by(kind="store.rejected").order_by(AuditEvent.id).all()
            assert sorted(a.status for a in audits) == [0xA700, 0xC210, 0xC210, 0xC210]
            assert all(a.calling_aet == "CARDIAC_QA_SCU" for a in audits)
            assert s.query(Instance).count() == 9
            recorded = {i.file_path for i in s.query(Instance)}
        on_disk = {str(p.relative_to(store.root)) for p in (store.root / "instances").rglob("*.dcm")}
        assert on_disk == recorded  # no file of a refused instance survives
        assert list(store.spool_dir.iterdir()) == []
    finally:
        scp.stop()
        db.dispose()
