"""End to end: a real ``cardiac-qa serve`` process receives US and MR over C-STORE and analyses them.

The test analyzers (``tests.plugins.analyzers``) replace ``echo-regional`` and ``mr-wholeheart`` by
name; the MR stability window is 1.5 s; every wait is bounded polling.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from dicom_node.cli.main import main
from storage.db import Database
from storage.schema import Analysis, AnalysisState, Series, SeriesState, as_utc
from tests.plugins.analyzers import read_calls
from tests.plugins.serve import ServeProcess, send_datasets, wait_for
from tests.support.dicom_files import PHI_ID, PHI_NAME, mr_slices, us_multiframe


def _analyses(db: Database, series_uid: str) -> list[Analysis]:
    with db.session() as s:
        series = s.scalars(select(Series).where(Series.series_instance_uid == series_uid)).one()
        return list(s.scalars(select(Analysis).where(Analysis.series_id == series.id).order_by(Analysis.id)))


def _series(db: Database, series_uid: str) -> Series:
    with db.session() as s:
        return s.scalars(select(Series).where(Series.series_instance_uid == series_uid)).one()


def test_serve_receives_routes_and_analyses(tmp_path: Path, port: int, capsys: pytest.CaptureFixture[str]) -> None:
    node = ServeProcess(tmp_path, port, stable_seconds=1.5)
    node.start()
    db = None
    try:
        us = [us_multiframe(frames=8, seed=i) for i in range(2)]
        mr = mr_slices(n=6)
        statuses = send_datasets(port, us + mr)
        assert set(statuses.values()) == {0x0000}
        db = Database(f"sqlite:///{node.data_dir / 'cardiac_qa.sqlite3'}")
        us_uid, mr_uid = str(us[0].SeriesInstanceUID), str(mr[0].SeriesInstanceUID)

        def us_done() -> bool:
            rows = _analyses(db, us[0].SeriesInstanceUID) + _analyses(db, us[1].SeriesInstanceUID)
            return len(rows) == 2 and all(a.state == AnalysisState.DONE for a in rows)

        wait_for(us_done, 60, "both echo loops to be analysed")
        mr_done = wait_for(
            lambda: [a for a in _analyses(db, mr_uid) if a.state == AnalysisState.DONE], 60, "the MR series"
        )
        (analysis,) = mr_done
        series = _series(db, mr_uid)
        # READY only once no instance arrived for the window
        assert as_utc(analysis.created_at) - as_utc(series.last_received_at) >= timedelta(seconds=1.5)
        assert analysis.unit_kind == "series" and series.state == SeriesState.DONE
        calls = read_calls(node.calls)
        assert sorted(c["analyzer"] for c in calls) == ["echo-regional", "echo-regional", "mr-wholeheart"]
        assert len(next(c for c in calls if c["kind"] == "series")["sop_instance_uids"]) == 6
        assert node.proc is not None and node.proc.pid not in {c["pid"] for c in calls}  # worker processes

        listing = {r["series_instance_uid"]: r for r in node.cli_json("studies")}
        assert listing[mr_uid]["instances"] == 6 and listing[mr_uid]["state"] == "done"
        assert [a["state"] for a in listing[us_uid]["analyses"]] == ["done"]
        table = node.cli_here("studies")
        assert mr_uid in table and "done:1" in table
        status = node.cli_json("status")
        assert status["node"]["running"] and status["queue"]["done"] == 3 and not status["backpressure"]
        assert status["workers"]["processes"] == 1
        second = node.cli("serve", check=False)  # same data_dir: refused, the first node is untouched
        assert second.returncode == 1 and "another node" in second.stderr

        # forcing a re-analysis supersedes the first one
        forced = node.cli_json("studies", "--analyze", mr_uid)["analyses"]
        assert len(forced) == 1
        wait_for(lambda: _analyses(db, mr_uid)[-1].state == AnalysisState.DONE, 60, "the forced analysis")
        old, new = _analyses(db, mr_uid)
        assert old.superseded and new.supersedes_id == old.id and new.id == forced[0]
        capsys.readouterr()
        assert main(["studies", "--analyze", "1.2.3.4.5.6.7.8.9", "--config", str(node.config)]) == 1
        err = capsys.readouterr().err
        assert err.startswith("error: ") and len(err.strip().splitlines()) == 1  # one-line error

        assert node.terminate() == 0
        assert not (node.data_dir / "node-state.json").exists()
        log = node.logs()
        assert "node stopped" in log
        assert PHI_NAME not in log and PHI_ID not in log
    finally:
        if db is not None:
            db.dispose()
        node.kill_group()
