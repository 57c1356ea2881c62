"""The database as the queue: claims, crash recovery, the runner and a real worker process.

Every test runs on SQLite and PostgreSQL (``db_url``); jobs are invoked directly, never by
sleeping on a scheduler.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from analyzers.base import QualityResult
from config.settings import Settings, load_settings
from dicom_node.assembly import assemble
from dicom_node.jobs import (
    WorkerPool,
    build_worker_context,
    claim_analysis,
    claim_next,
    reset_running,
    run_analysis,
)
from storage.db import Database
from storage.filestore import FileStore
from storage.schema import Analysis, AnalysisState, Instance, Series, SeriesState, Study
from tests.plugins.analyzers import CALLS_ENV, read_calls
from tests.plugins.serve import wait_for
from tests.support.dicom_files import mr_slices, us_multiframe

PLUGINS = [
    "tests.plugins.analyzers:EchoCountingAnalyzer",
    "tests.plugins.analyzers:MrCountingAnalyzer",
    "tests.plugins.analyzers:MissingPackAnalyzer",
    "tests.plugins.analyzers:FailingAnalyzer",
    "tests.plugins.analyzers:CrashingAnalyzer",
]


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    database.migrate()
    yield database
    database.dispose()


def make_settings(tmp_path: Path, db_url: str, plugins: list[str] = PLUGINS, **extra: object) -> Settings:
    return load_settings(
        None,
        storage={"data_dir": tmp_path / "data", "database_url": db_url},
        analyzers={"plugins": plugins},
        **{"workers": {"providers": "cpu"}, **extra},
    )


def store_dataset(db: Database, store: FileStore, ds: object) -> int:
    """Store one dataset's Part-10 bytes and record it as the SCP would."""
    from io import BytesIO

    buf = BytesIO()
    ds.save_as(buf, enforce_file_format=True)  # type: ignore[attr-defined]
    stored = store.write_atomic(buf.getvalue())
    with db.session() as s:
        study = s.scalars(select(Study).where(Study.study_instance_uid == ds.StudyInstanceUID)).first()
        if study is None:
            study = Study(study_instance_uid=ds.StudyInstanceUID)
            s.add(study)
            s.flush()
        series = s.scalars(select(Series).where(Series.series_instance_uid == ds.SeriesInstanceUID)).first()
        if series is None:
            series = Series(study_id=study.id, series_instance_uid=ds.SeriesInstanceUID, modality=ds.Modality,
                            series_description=ds.get("SeriesDescription"))
            s.add(series)
            s.flush()
        series.state = SeriesState.RECEIVING
        inst = Instance(
            series_id=series.id, sop_instance_uid=ds.SOPInstanceUID, sop_class_uid=ds.SOPClassUID,
            file_path=stored.rel_path, size=stored.size, sha256=stored.sha256,
            transfer_syntax_uid=ds.file_meta.TransferSyntaxUID,
            number_of_frames=int(ds.get("NumberOfFrames", 1) or 1) if "NumberOfFrames" in ds else None,
        )
        s.add(inst)
        s.flush()
        return inst.id


def pending_ids(db: Database, n: int, analyzer: str = "echo-regional") -> list[int]:
    """``n`` pending analyses (rows only, no files) for the claim tests."""
    with db.session() as s:
        study = Study(study_instance_uid=f"1.2.3.{os.getpid()}.{time.monotonic_ns()}")
        s.add(study)
        s.flush()
        series = Series(study_id=study.id, series_instance_uid=study.study_instance_uid + ".1", modality="US")
        s.add(series)
        s.flush()
        rows = [
            Analysis(analysis_uid=f"2.25.{i}{time.monotonic_ns()}", series_id=series.id, unit_kind="series",
                     analyzer=analyzer)
            for i in range(n)
        ]
        s.add_all(rows)
        s.flush()
        return [r.id for r in rows]


def test_two_claimers_one_wins(db_url: str, db: Database) -> None:
    (aid,) = pending_ids(db, 1)
    other = Database(db_url)  # a second engine, as a second process would have
    try:
        barrier = threading.Barrier(2)
        wins: list[bool] = []

        def claim(database: Database, worker: str) -> None:
            barrier.wait()
            wins.append(claim_analysis(database, aid, worker))

        threads = [threading.Thread(target=claim, args=(d, w)) for d, w in ((db, "a"), (other, "b"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert sorted(wins) == [False, True]
        with db.session() as s:
            row = s.get(Analysis, aid)
            assert row.state == AnalysisState.RUNNING and row.attempts == 1 and row.worker in ("a", "b")
        assert not claim_analysis(db, aid, "c")  # conditional: a running job is never claimed again
    finally:
        other.dispose()


def test_concurrent_claim_next_never_double_claims(db_url: str, db: Database) -> None:
    ids = pending_ids(db, 12)
    other = Database(db_url)
    claimed: dict[str, list[int]] = {"a": [], "b": []}
    try:
        def drain(database: Database, worker: str) -> None:
            while (aid := claim_next(database, worker)) is not None:
                claimed[worker].append(aid)

        threads = [threading.Thread(target=drain, args=(d, w)) for d, w in ((db, "a"), (other, "b"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        other.dispose()
    assert sorted(claimed["a"] + claimed["b"]) == ids
    assert not set(claimed["a"]) & set(claimed["b"])
    assert claimed["a"] == sorted(claimed["a"]) and claimed["b"] == sorted(claimed["b"])  # oldest first


def test_running_jobs_return_to_pending_at_start_up(db: Database) -> None:
    a, b = pending_ids(db, 2)
    assert claim_analysis(db, a, "crashed-worker")
    assert reset_running(db) == 1
    with db.session() as s:
        row = s.get(Analysis, a)
        assert (row.state, row.worker, row.attempts) == (AnalysisState.PENDING, None, 1)
        assert s.get(Analysis, b).state == AnalysisState.PENDING
    assert claim_next(db, "w") == a  # claimed again, in order
    with db.session() as s:
        assert s.get(Analysis, a).attempts == 2


def test_runner_stores_results_and_errors(tmp_path: Path, db_url: str, db: Database,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from config.settings import Route

    calls = tmp_path / "calls.jsonl"
    monkeypatch.setenv(CALLS_ENV, str(calls))
    outputs_for: list[int] = []
    monkeypatch.setattr("dicom_node.outputs.produce_outputs",
                        lambda db, store, settings, analysis_id: outputs_for.append(analysis_id) or [])
    routes = [
        Route(modality="US", series_description="pack", analyzer="needs-pack"),
        Route(modality="US", series_description="fail", analyzer="failing"),
        Route(modality="US", series_description="gone", analyzer="unloadable"),
        Route(modality="US", analyzer="echo-regional"),
        Route(modality="MR", analyzer="mr-wholeheart"),
    ]
    settings = make_settings(tmp_path, db_url, routes=routes, assembly={"series_stable_seconds": 0.1})
    store = FileStore(settings.storage.data_dir)
    good = us_multiframe(frames=8)
    store_dataset(db, store, good)
    for desc in ("pack", "fail", "gone"):
        ds = us_multiframe(frames=2)
        ds.SeriesDescription = desc
        store_dataset(db, store, ds)
    for ds in mr_slices(n=4):
        store_dataset(db, store, ds)
    created = assemble(db, settings).created
    created += assemble(db, settings, now=datetime.now(UTC) + timedelta(seconds=1)).created  # MR window
    assert len(created) == 5
    ctx = build_worker_context(settings, db=db, store=store)
    assert "tests.plugins" not in " ".join(ctx.registry_errors)  # plugins loaded (built-ins may not)
    while (aid := claim_next(db, "test")) is not None:
        run_analysis(ctx, aid)
    with db.session() as s:
        rows = {a.analyzer: a for a in s.scalars(select(Analysis))}
    echo, mr = rows["echo-regional"], rows["mr-wholeheart"]
    assert echo.state == mr.state == AnalysisState.DONE
    result = QualityResult.from_json(echo.result_json)
    assert result.analysis_uid == echo.analysis_uid and result.frames.count == 8
    assert (echo.assessable, echo.global_score, echo.rescan_recommended) == (True, 3.0, False)
    assert echo.analyzer_version == "1.0.0" and len(echo.analysis_key) == 64
    assert len(QualityResult.from_json(mr.result_json).sop_instance_uids) == 4  # the series unit
    assert (rows["needs-pack"].state, rows["needs-pack"].error_code) == (AnalysisState.FAILED, "pack_invalid")
    assert "cqa-test-no-such-pack" in rows["needs-pack"].error_message
    assert (rows["failing"].state, rows["failing"].error_code) == (AnalysisState.FAILED, "analyzer_error")
    assert (rows["unloadable"].state, rows["unloadable"].error_code) == (
        AnalysisState.FAILED, "analyzer_unavailable")
    assert {c["analyzer"] for c in read_calls(calls)} == {"echo-regional", "mr-wholeheart"}
    assert sorted(outputs_for) == sorted([echo.id, mr.id])  # outputs are made for done analyses only


def test_worker_pool_runs_a_plugin_in_a_real_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One worker process (SQLite only: the claims above cover both databases); a worker that dies
    fails only its own analysis and the pool carries on with a new process."""
    from config.settings import Route

    db_url = f"sqlite:///{tmp_path / 'pool.sqlite3'}"
    db = Database(db_url)
    db.migrate()

    calls = tmp_path / "calls.jsonl"
    monkeypatch.setenv(CALLS_ENV, str(calls))
    routes = [
        Route(series_description="crash", analyzer="crashing"),
        Route(series_description="slow", analyzer="slow"),
        Route(modality="US", analyzer="echo-regional"),
    ]
    plugins = [f"tests.plugins.analyzers:{c}" for c in ("EchoCountingAnalyzer", "CrashingAnalyzer", "SlowAnalyzer")]
    settings = make_settings(tmp_path, db_url, plugins, workers={"processes": 1, "providers": "cpu"}, routes=routes)
    store = FileStore(settings.storage.data_dir)
    crash = us_multiframe(frames=2, rows=16, columns=16)
    crash.SeriesDescription = "crash"
    store_dataset(db, store, crash)  # first in the queue: kills its worker
    sops = []
    for i in range(2):
        ds = us_multiframe(frames=2, rows=16, columns=16, seed=i)
        sops.append(str(ds.SOPInstanceUID))
        store_dataset(db, store, ds)
    assert len(assemble(db, settings).created) == 3
    pool = WorkerPool(settings, db)
    pool.start()
    try:
        def settled() -> list[Analysis] | None:
            pool.dispatch()
            with db.session() as s:
                rows = list(s.scalars(select(Analysis).order_by(Analysis.id)))
            return rows if all(a.state in (AnalysisState.DONE, AnalysisState.FAILED) for a in rows) else None

        rows = wait_for(settled, 90, "the pool to run every analysis", 0.05)

        # shutdown while an analysis runs: after the grace period it returns to pending
        slow = us_multiframe(frames=2, rows=16, columns=16)
        slow.SeriesDescription = "slow"
        store_dataset(db, store, slow)
        (slow_id,) = assemble(db, settings).created
        wait_for(pool.dispatch, 30, "a free worker")  # the last job's future may still be settling
        wait_for(lambda: any(c["analyzer"] == "slow" for c in read_calls(calls)), 30, "the slow analysis")
        pool.stop(grace_seconds=0.5)
        with db.session() as s:
            row = s.get(Analysis, slow_id)
            assert (row.state, row.attempts, row.error_code) == (AnalysisState.PENDING, 1, None)
    finally:
        pool.stop(grace_seconds=10)
        db.dispose()
    assert [(a.state, a.error_code) for a in rows] == [
        (AnalysisState.FAILED, "worker_crashed"), (AnalysisState.DONE, None), (AnalysisState.DONE, None)
    ]
    recorded = [c for c in read_calls(calls) if c["analyzer"] != "slow"]
    assert {c["pid"] for c in recorded} != {os.getpid()} and len({c["pid"] for c in recorded}) == 1
    assert sorted(s for c in recorded for s in c["sop_instance_uids"]) == sorted(sops)
    assert {a.worker for a in rows[1:]} == {f"{os.uname().nodename[:40]}:{recorded[0]['pid']}"}


@pytest.mark.parametrize("analyzer", ["takeover", "takeover-failing"])
def test_a_stale_worker_cannot_finish_or_fail_a_job_claimed_again(
    tmp_path: Path, db: Database, db_url: str, analyzer: str
) -> None:
    """Fencing: reset and claimed again while the first worker runs → its outcome is dropped."""
    from config.settings import Route

    plugins = ["tests.plugins.analyzers:TakeoverAnalyzer", "tests.plugins.analyzers:TakeoverFailingAnalyzer"]
    settings = make_settings(tmp_path, db_url, plugins=plugins, routes=[Route(modality="US", analyzer=analyzer)])
    store = FileStore(settings.storage.data_dir)
    store_dataset(db, store, us_multiframe(frames=2))
    (aid,) = assemble(db, settings).created
    assert claim_analysis(db, aid, "old-node")
    ctx = build_worker_context(settings, db=db, store=store)
    assert run_analysis(ctx, aid) == AnalysisState.PENDING  # not DONE, not FAILED
    with db.session() as s:
        row = s.get(Analysis, aid)
        assert (row.state, row.attempts, row.worker) == (AnalysisState.RUNNING, 2, "new-node")
        assert row.result_json is None and row.error_code is None

