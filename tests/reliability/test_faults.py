"""Faults: backpressure, SIGKILL during analysis and delivery, PACS down, disk full, database gone, bad pack.

The SIGKILL-during-ingest case belongs to ``tests/integration/test_crash.py`` (not repeated here).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy import select

from config.settings import Settings
from dicom_node.scp import StoreSCP
from storage.db import Database
from storage.filestore import FileStore
from storage.schema import Analysis, AnalysisState, AuditEvent, Delivery, Instance
from tests.plugins.analyzers import read_calls
from tests.reliability.harness import (
    GATE_ENV,
    STARTED_ENV,
    Pacs,
    RelServe,
    counts,
    send_timed,
    stamp_phi,
    wait_until,
)
from tests.reliability.plugins import PACK_NAME
from tests.support.dicom_files import mr_slices, new_uid, us_multiframe

GATED = ("tests.reliability.plugins:GatedEchoAnalyzer", "tests.plugins.analyzers:MrCountingAnalyzer")
PACKED = ("tests.reliability.plugins:PackedEchoAnalyzer", "tests.plugins.analyzers:MrCountingAnalyzer")
AET = "CARDIAC_QA"


def _pacs_destination(pacs: Pacs) -> list[dict[str, object]]:
    return [{"name": "pacs", "ae_title": pacs.ae_title, "host": "127.0.0.1", "port": pacs.port}]


def _loops(n: int, seed: int = 0) -> list:  # noqa: ANN401 — pydicom datasets
    return [stamp_phi(us_multiframe(frames=8, rows=48, columns=64, seed=seed + i, study_uid=new_uid()))
            for i in range(n)]


def _all_ok(results: list[tuple[str, int, float]]) -> bool:
    return bool(results) and all(status == 0x0000 for _, status, _ in results)


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a live (not zombie) process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"


def _delivered_everything(db: Database, units: int) -> bool:
    c = counts(db)
    live = c["live_analyses"]
    return (
        len(live) == units
        and all(a.state == AnalysisState.DONE for a in live)
        and bool(c["outputs"])
        and c["deliveries"].get("delivered", 0) == len(c["outputs"])
    )


# -- backpressure, then SIGKILL while an analysis runs ---------------------------------------------
def test_backpressure_then_sigkill_during_analysis(tmp_path: Path, port: int, pacs: Pacs) -> None:
    gate, started = tmp_path / "gate", tmp_path / "started.txt"
    pacs.start()
    node = RelServe(
        tmp_path, port, processes=1, plugins=GATED,
        extra={"workers": {"max_pending": 2},
               "delivery": {"backoff_seconds": 0.5, "backoff_max_seconds": 1.0, "max_attempts": 50}},
        destinations=_pacs_destination(pacs),
        env={GATE_ENV: str(gate), STARTED_ENV: str(started)},
    )
    first, late = _loops(4, seed=10), _loops(3, seed=20)
    db = None
    try:
        node.start()
        assert _all_ok(send_timed(port, first))
        db = node.db()
        # one analysis is held RUNNING in the worker, the rest pile up PENDING: backpressure
        wait_until(lambda: started.exists() and started.read_text().count("\n") == 1, 60, "the first analysis")
        status = wait_until(lambda: (st := node.cli_json("status")) and st["backpressure"] and st, 30,
                            "status to report backpressure")
        assert status["queue"]["running"] == 1 and status["queue"]["pending"] >= status["max_pending"] == 2
        # past max_pending the node still accepts and stores; analysis of the new units waits
        assert _all_ok(send_timed(port, late)), "ingest refused under backpressure"
        late_uids = {str(ds.SOPInstanceUID) for ds in late}
        wait_until(lambda: late_uids <= set(counts(db)["instances"]), 10, "the late instances to be stored")
        for _ in range(3):  # several assembly passes (poll 0.2 s) and the status stays the same
            st = node.cli_json("status")
            assert st["backpressure"] is True
        with db.session() as s:
            late_ids = select(Instance.id).where(Instance.sop_instance_uid.in_(late_uids))
            waiting = s.scalar(select(sa.func.count()).select_from(Analysis).where(Analysis.instance_id.in_(late_ids)))
        assert waiting == 0, "analysis of the late units did not wait"
        # SIGKILL the node while the analysis is running, open the gate, restart
        node.kill()
        (worker_pid,) = {int(line.split()[1]) for line in started.read_text().splitlines()}
        wait_until(lambda: not _alive(worker_pid), 10, "the orphaned worker to exit")
        gate.touch()
        node.start()
        wait_until(lambda: _delivered_everything(db, 7), 120, "all 7 loops analysed and delivered")
        c = counts(db)
        assert sorted(c["instances"]) == sorted(str(ds.SOPInstanceUID) for ds in first + late)
        starts = Counter(line.split()[0] for line in started.read_text().splitlines())
        assert sorted(starts.values()) == [1] * 6 + [2], "only the killed analysis may run twice"
        finished = Counter(tuple(call["sop_instance_uids"]) for call in read_calls(node.calls))
        assert len(finished) == 7 and set(finished.values()) == {1}, "a unit was analysed twice to the end"
        assert pacs.uids() == set(c["outputs"]) and set(pacs.received.values()) == {1}
        assert node.cli_json("status")["backpressure"] is False
    finally:
        if db is not None:
            db.dispose()
        node.kill_group()


# -- PACS down, then up; SIGKILL while a delivery is in flight ---------------------------------------
def test_pacs_down_then_up_and_sigkill_during_delivery(tmp_path: Path, port: int, pacs: Pacs) -> None:
    node = RelServe(
        tmp_path, port, processes=1,
        extra={"delivery": {"backoff_seconds": 0.3, "backoff_max_seconds": 1.0, "max_attempts": 100},
               "node": {"network_timeout": 5.0, "acse_timeout": 5.0, "dimse_timeout": 10.0}},
        destinations=_pacs_destination(pacs),
    )
    loops = _loops(2, seed=30)
    db = None
    try:
        node.start()
        assert _all_ok(send_timed(port, loops))
        db = node.db()

        def retried() -> bool:
            rows = counts(db)["delivery_rows"]
            return bool(rows) and all(d.attempts >= 2 and d.state.value == "pending" and d.last_error for d in rows)

        wait_until(retried, 60, "deliveries to fail and be retried while the PACS is down")
        pacs.hold()
        pacs.start()
        assert pacs.holding.wait(30), "the node did not retry after the PACS came back"
        node.kill()  # a C-STORE is in flight: the PACS got the object, the node never saw the status
        held = set(pacs.received)
        pacs.release()
        node.start()
        wait_until(lambda: _delivered_everything(db, 2), 90, "all outputs delivered after the restart")
        c = counts(db)
        assert sorted(c["instances"]) == sorted(str(ds.SOPInstanceUID) for ds in loops)
        assert pacs.uids() == set(c["outputs"]), "an output is missing at the PACS"
        resent = {uid for uid, n in pacs.received.items() if n > 1}
        assert resent <= held, "only the object in flight at the kill may be sent again"
        for uid in resent:  # a resend is the same object (same UID, same bytes)
            assert pacs.first[uid] == pacs.objects[uid]
        with db.session() as s:
            assert all(d.state.value == "delivered" for d in s.scalars(select(Delivery)))
    finally:
        if db is not None:
            db.dispose()
        node.kill_group()


# -- a pack whose sha256 does not match ---------------------------------------------------------------
def _tiny_pack(directory: Path, weight: float) -> Path:
    """A valid model pack (``Flatten → MatMul``, N×1×8×8 → N×8) built with onnx.helper."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    directory.mkdir(parents=True)
    w = numpy_helper.from_array(np.full((64, 8), weight, dtype=np.float32), name="W")
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["input"], ["flat"]), helper.make_node("MatMul", ["flat", "W"], ["output"])],
        "cqa-rel",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 8, 8])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 8])],
        [w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, directory / "model.onnx")
    manifest = {
        "name": PACK_NAME,
        "version": "1.0.0",
        "task": "echo-regional-quality",
        "input": {"shape": ["N", 1, 8, 8]},
        "output": {"shape": ["N", 8], "meaning": "test pack for the reliability suite"},
        "sha256": hashlib.sha256((directory / "model.onnx").read_bytes()).hexdigest(),
    }
    (directory / "manifest.json").write_text(json.dumps(manifest))
    return directory


def test_tampered_pack_disables_its_analyzer_and_ingest_continues(tmp_path: Path, port: int) -> None:
    from models.runtime import verify_pack

    node = RelServe(tmp_path, port, processes=1, plugins=PACKED, stable_seconds=0.5)
    pack = _tiny_pack(node.data_dir / "packs" / PACK_NAME, weight=0.5)
    verify_pack(pack)  # the untampered pack is valid
    replacement = _tiny_pack(tmp_path / "other" / PACK_NAME, weight=0.25)
    (pack / "model.onnx").write_bytes((replacement / "model.onnx").read_bytes())  # manifest unchanged
    loop, series = _loops(1, seed=40), [stamp_phi(ds) for ds in mr_slices(n=3, seed=41)]
    db = None
    try:
        node.start()
        assert _all_ok(send_timed(port, loop + series)), "ingest must continue with a bad pack"
        db = node.db()

        def settled() -> list[Analysis] | None:
            live = counts(db)["live_analyses"]
            done = len(live) == 2 and all(a.state in (AnalysisState.DONE, AnalysisState.FAILED) for a in live)
            return live if done else None

        by_analyzer = {a.analyzer: a for a in wait_until(settled, 60, "both analyses to end")}
        echo, mr = by_analyzer["echo-regional"], by_analyzer["mr-wholeheart"]
        assert echo.state == AnalysisState.FAILED and echo.error_code == "pack_invalid"
        assert "sha256" in (echo.error_message or "") and PACK_NAME in (echo.error_message or "")
        assert mr.state == AnalysisState.DONE, "the other analyzer must keep working"
        status = node.cli_json("status")
        disabled = {d["analyzer"]: d["reason"] for d in status["disabled_analyzers"]}
        assert "sha256" in disabled.get("echo-regional", ""), status["disabled_analyzers"]
        assert [p["pack"] for p in status["invalid_packs"]] == [PACK_NAME]
        log = node.logs()
        assert "model pack disabled" in log and "does not match the manifest" in log, "no clear start-up error"
    finally:
        if db is not None:
            db.dispose()
        node.kill_group()


# -- disk full --------------------------------------------------------------------------------------
@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """An 8 MiB tmpfs mounted under ``tmp_path`` (root only), unmounted afterwards."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", str(mnt)], check=True, timeout=30)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False, timeout=30)


def _fill(mnt: Path, leave: int) -> Path:
    """Fill the file system, then free ``leave`` bytes; return the filler file."""
    filler = mnt / "filler"
    chunk = b"\0" * 65536
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(chunk)
                f.flush()
        except OSError:
            pass
    size = filler.stat().st_size
    os.truncate(filler, max(0, size - leave))
    return filler


def _files(root: Path, sub: str) -> list[Path]:
    return [p for p in (root / sub).rglob("*") if p.is_file()]


@pytest.mark.parametrize("streaming", [True, False], ids=["streaming", "in_memory"])
def test_disk_full_refuses_with_a700_leaves_no_partial_file_and_recovers(
    tmp_path: Path, port: int, small_fs: Path, streaming: bool
) -> None:
    """Streaming: the disk fills while the data set arrives; in memory: while it is written."""
    data_dir = small_fs / "data"
    settings = Settings(node={"port": port, "ae_title": AET, "streaming_receive": streaming},
                        storage={"data_dir": str(data_dir), "database_url": f"sqlite:///{tmp_path / 'db.sqlite3'}"})
    store = FileStore(data_dir)
    db = Database(settings.storage.effective_database_url())
    db.migrate()
    scp = StoreSCP(settings, db, store)
    scp.start()
    try:
        big = stamp_phi(us_multiframe(frames=40, rows=160, columns=256, seed=50))  # ~1.6 MB
        filler = _fill(small_fs, leave=512 * 1024)  # the write starts, then runs out of space
        ((_, status, _),) = send_timed(port, [big])
        assert status == 0xA700, f"disk full gave 0x{status:04X}"
        assert _files(data_dir, "instances") == [] and _files(data_dir, "spool") == [], "partial file left"
        with db.session() as s:
            assert s.scalar(select(sa.func.count()).select_from(Instance)) == 0
            audit = s.scalars(select(AuditEvent).where(AuditEvent.status == 0xA700)).all()
        assert audit and "ENOSPC" in audit[0].message
        filler.unlink()  # space returns: the same send succeeds
        ((_, status, _),) = send_timed(port, [big])
        assert status == 0x0000
        with db.session() as s:
            (row,) = s.scalars(select(Instance)).all()
        assert hashlib.sha256(store.path(row.file_path).read_bytes()).hexdigest() == row.sha256
        assert _files(data_dir, "spool") == []
    finally:
        scp.stop()
        db.dispose()


# -- database unavailable -------------------------------------------------------------------------------
def test_database_unavailable_gives_a_failure_status_not_success(tmp_path: Path, port: int, pg_url: str) -> None:
    name = sa.make_url(pg_url).database
    admin = sa.create_engine(os.environ["CARDIAC_QA_TEST_POSTGRES_URL"], isolation_level="AUTOCOMMIT")

    def allow(on: bool) -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {"true" if on else "false"}'))
            if not on:
                conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                             {"n": name})

    settings = Settings(node={"port": port, "ae_title": AET},
                        storage={"data_dir": str(tmp_path / "data"), "database_url": pg_url})
    store = FileStore(tmp_path / "data")
    db = Database(pg_url)
    db.migrate()
    scp = StoreSCP(settings, db, store)
    scp.start()
    try:
        a, b = _loops(2, seed=60)
        assert _all_ok(send_timed(port, [a]))
        allow(False)
        ((_, status, _),) = send_timed(port, [b])
        assert status == 0xA700, f"database down gave 0x{status:04X}"
        assert len(_files(tmp_path / "data", "instances")) == 1, "an unrecorded file outlived the failure"
        assert _files(tmp_path / "data", "spool") == []
        allow(True)
        assert _all_ok(send_timed(port, [b])), "the node did not recover when the database came back"
        with db.session() as s:
            stored = set(s.scalars(select(Instance.sop_instance_uid)))
        assert stored == {str(a.SOPInstanceUID), str(b.SOPInstanceUID)}
    finally:
        allow(True)
        scp.stop()
        db.dispose()
        admin.dispose()


# -- a crash after the result is committed and before the outputs are ----------------------------------
def test_crash_between_result_and_outputs_is_recovered_at_restart(
    tmp_path: Path, port: int, pacs: Pacs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The runner commits DONE + result, then builds the outputs: a SIGKILL in between must not leave
    an analysis without outputs for ever. The crash is reproduced exactly (the process "dies" with a
    BaseException raised where the outputs would be built), then a real node starts on that data."""
    from dicom_node.assembly import assemble
    from dicom_node.jobs import build_worker_context, claim_analysis, run_analysis

    pacs.start()
    node = RelServe(tmp_path, port, processes=1,
                    extra={"delivery": {"backoff_seconds": 0.5, "backoff_max_seconds": 1.0}},
                    destinations=_pacs_destination(pacs))
    settings = Settings(
        node={"port": port, "ae_title": AET},
        storage={"data_dir": str(node.data_dir)},
        analyzers={"plugins": list(node.plugins)},
        destinations=_pacs_destination(pacs),
    )
    store = FileStore(node.data_dir)
    db = Database(settings.storage.effective_database_url())
    db.migrate()
    scp = StoreSCP(settings, db, store)
    scp.start()
    try:
        assert _all_ok(send_timed(port, _loops(1, seed=90)))
    finally:
        scp.stop()
    try:
        (aid,) = assemble(db, settings, known_analyzers={"echo-regional", "mr-wholeheart"}).created
        assert claim_analysis(db, aid, "about-to-die")

        def die(*_a: object, **_k: object) -> None:
            raise SystemExit("killed")  # a BaseException: nothing after this point runs

        monkeypatch.setattr("dicom_node.outputs.produce_outputs", die)
        with pytest.raises(SystemExit):
            run_analysis(build_worker_context(settings, db, store), aid)
        c = counts(db)
        assert c["analyses"] == Counter({"done": 1}) and c["outputs"] == [], "the crash window was not hit"
    finally:
        db.dispose()
    db = node.db()
    try:
        node.start()
        wait_until(lambda: _delivered_everything(db, 1), 45, "the outputs of the DONE analysis after restart")
        assert pacs.uids() == set(counts(db)["outputs"])
    finally:
        db.dispose()
        node.kill_group()
