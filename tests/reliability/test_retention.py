"""Retention: pixel data purged after ``storage.retention_days``; rows, results and outputs kept."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update

from config.settings import Settings
from dicom_node.assembly import assemble
from dicom_node.jobs import build_worker_context, claim_analysis, run_analysis
from dicom_node.retention import purge_expired
from dicom_node.scp import StoreSCP
from dicom_node.units import UnitError, unit_files
from storage.db import Database
from storage.filestore import FileStore
from storage.schema import Analysis, AnalysisState, Instance, Output, utcnow
from tests.plugins.serve import PLUGINS
from tests.reliability.harness import send_timed, stamp_phi
from tests.support.dicom_files import us_multiframe


def test_retention_purges_pixel_data_and_keeps_results_and_outputs(tmp_path: Path, port: int) -> None:
    settings = Settings(
        node={"port": port, "ae_title": "CARDIAC_QA"},
        storage={"data_dir": str(tmp_path / "data"), "retention_days": 30},
        workers={"processes": 1, "providers": "cpu"},
        analyzers={"plugins": list(PLUGINS)},
    )
    store = FileStore(tmp_path / "data")
    db = Database(settings.storage.effective_database_url())
    db.migrate()
    scp = StoreSCP(settings, db, store)
    scp.start()
    try:
        loops = [stamp_phi(us_multiframe(frames=8, rows=32, columns=32, seed=80 + i)) for i in range(4)]
        assert [s for _, s, _ in send_timed(port, loops)] == [0x0000] * 4
    finally:
        scp.stop()
    try:
        created = assemble(db, settings, known_analyzers={"echo-regional", "mr-wholeheart"}).created
        assert len(created) == 4
        uids = [str(ds.SOPInstanceUID) for ds in loops]
        with db.session() as s:
            unit_of = {a.id: s.get(Instance, a.instance_id).sop_instance_uid for a in s.scalars(select(Analysis))}
        ctx = build_worker_context(settings, db, store)
        ran = [aid for aid in created if unit_of[aid] != uids[3]]
        for aid in ran:  # the fourth loop's analysis stays PENDING: its unit must not be purged under it
            assert claim_analysis(db, aid, "test")
            assert run_analysis(ctx, aid) == AnalysisState.DONE
        now = utcnow()
        with db.session() as s:  # three were received 31 days ago, plus the pending one; one is recent
            s.execute(update(Instance).where(Instance.sop_instance_uid.in_(uids[:2] + uids[3:]))
                      .values(received_at=now - timedelta(days=31)))
            before = {i.sop_instance_uid: i.file_path for i in s.scalars(select(Instance))}
            results = {a.id: a.result_json for a in s.scalars(select(Analysis))}
            outputs = {o.sop_instance_uid: o.file_path for o in s.scalars(select(Output))}
        assert outputs and all(results[a] for a in ran)

        assert purge_expired(db, store, settings.model_copy(update={"storage": settings.storage.model_copy(
            update={"retention_days": 0})}), now) == 0, "retention_days = 0 must keep everything"
        assert purge_expired(db, store, settings, now - timedelta(days=2)) == 0, "purged before its time"
        assert purge_expired(db, store, settings, now) == 2
        assert purge_expired(db, store, settings, now) == 0, "a second pass must find nothing"

        with db.session() as s:
            rows = {i.sop_instance_uid: i for i in s.scalars(select(Instance))}
            after_results = {a.id: a.result_json for a in s.scalars(select(Analysis))}
            after_outputs = {o.sop_instance_uid: o.file_path for o in s.scalars(select(Output))}
            by_instance = {a.instance_id: a.id for a in s.scalars(select(Analysis))}
        assert set(rows) == set(uids), "instance rows must stay"
        for uid in uids[:2]:
            assert rows[uid].purged_at is not None
            assert not store.path(before[uid]).exists(), "pixel data not removed"
        for uid in uids[2:]:  # recent, and old-but-pending
            assert rows[uid].purged_at is None and store.path(before[uid]).exists()
        assert after_results == results, "results must be kept"
        assert after_outputs == outputs and all(store.path(p).exists() for p in outputs.values())
        purged_analysis = by_instance[rows[uids[0]].id]
        try:  # a re-analysis of a purged unit says why instead of failing obscurely
            unit_files(db, purged_analysis)
            raise AssertionError("a purged unit was loadable")
        except UnitError as exc:
            assert exc.code == "unit_purged"
    finally:
        db.dispose()
