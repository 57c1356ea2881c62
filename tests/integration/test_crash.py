"""Crash test: SIGKILL the node in the middle of a multi-file transfer, restart, nothing is lost.

Every instance the sender got 0x0000 for is present and intact after the restart (sha256 of the
file equals the row, the file parses), no partial file is visible (the spool is cleaned at
start-up), the sender's retry of the unacknowledged instances succeeds, and the pending jobs run
with the test analyzer loaded by import path.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from sqlalchemy import select

from storage.db import Database
from storage.schema import Analysis, AnalysisState, Instance
from tests.plugins.analyzers import read_calls
from tests.plugins.serve import ServeProcess, send_datasets, wait_for
from tests.support.dicom_files import new_uid, us_multiframe

N_FILES = 40
KILL_AFTER = 15


def test_sigkill_mid_transfer_loses_no_acknowledged_instance(tmp_path: Path, port: int) -> None:
    node = ServeProcess(tmp_path, port)
    study, series = new_uid(), new_uid()
    # ~0.5 MB each, so the kill lands while files are being written
    datasets = [us_multiframe(frames=16, rows=128, columns=256, seed=i, study_uid=study, series_uid=series)
                for i in range(N_FILES)]
    acked: list[Dataset] = []
    enough = threading.Event()

    def on_ack(ds: Dataset) -> None:
        acked.append(ds)
        if len(acked) >= KILL_AFTER:
            enough.set()

    db = None
    try:
        node.start()
        sender = threading.Thread(target=send_datasets, args=(port, datasets, on_ack), daemon=True)
        sender.start()
        assert enough.wait(60), "the transfer did not get going"
        node.kill()
        sender.join(60)
        assert not sender.is_alive()
        assert KILL_AFTER <= len(acked) < N_FILES, "the kill must land in the middle of the transfer"
        acked_uids = {str(ds.SOPInstanceUID) for ds in acked}

        node.start()
        assert not any((node.data_dir / "spool").iterdir()), "partial files left in the spool"
        db = Database(f"sqlite:///{node.data_dir / 'cardiac_qa.sqlite3'}")
        with db.session() as s:
            rows = {r.sop_instance_uid: (r.file_path, r.sha256, r.size) for r in s.scalars(select(Instance))}
        assert acked_uids <= set(rows)
        for uid in acked_uids:
            rel, sha, size = rows[uid]
            data = (node.data_dir / rel).read_bytes()
            assert len(data) == size and hashlib.sha256(data).hexdigest() == sha
            parsed = pydicom.dcmread(node.data_dir / rel)
            assert str(parsed.SOPInstanceUID) == uid and len(parsed.PixelData) == 16 * 128 * 256
        # whatever lies under instances/ is complete: it parses to the end, pixel data included
        for path in (node.data_dir / "instances").rglob("*"):
            if path.is_file():
                assert len(pydicom.dcmread(path).PixelData) == 16 * 128 * 256, f"partial file {path.name}"

        # the sender retries what it has no success status for
        retry = [ds for ds in datasets if str(ds.SOPInstanceUID) not in acked_uids]
        assert set(send_datasets(port, retry).values()) == {0x0000}

        def all_done() -> bool:
            with db.session() as s:
                live = [a for a in s.scalars(select(Analysis)) if not a.superseded]
            return len(live) == N_FILES and all(a.state == AnalysisState.DONE for a in live)

        wait_for(all_done, 90, "every instance to be analysed after the restart")
        with db.session() as s:
            assert len(list(s.scalars(select(Instance).where(Instance.is_current.is_(True))))) == N_FILES
        analysed = {u for c in read_calls(node.calls) for u in c["sop_instance_uids"]}
        assert analysed == {str(ds.SOPInstanceUID) for ds in datasets}
        assert node.terminate() == 0
    finally:
        if db is not None:
            db.dispose()
        node.kill_group()
