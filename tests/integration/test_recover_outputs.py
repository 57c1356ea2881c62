"""Finished analyses without outputs get them later: at start-up and from the scheduler's minute job."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, update

from dicom_node.outputs import recover_outputs
from dicom_node.reports import examples as ex
from storage.filestore import FileStore
from storage.schema import Analysis, Output
from tests.integration.test_delivery import db, node_settings, seed_analysis  # noqa: F401 — fixture


def _outputs_of(database, analysis_id: int) -> int:  # noqa: ANN001
    with database.session() as s:
        return s.scalar(select(func.count()).select_from(Output).where(Output.analysis_id == analysis_id))


def test_recovery_respects_the_grace_window_and_skips_what_is_never_built(tmp_path: Path, db, db_url) -> None:  # noqa: ANN001, F811
    settings = node_settings(tmp_path, db_url, 1, reports={"not_assessable_sr": False})
    store = FileStore(settings.storage.data_dir)
    src = ex.echo_source(frames=4)
    done = seed_analysis(db, store, ex.echo_result(src), [src])
    other = ex.echo_source(frames=4)
    skipped = seed_analysis(db, store, ex.not_assessable_result(other), [other])
    now = datetime.now(UTC)
    with db.session() as s:
        s.execute(update(Analysis).values(finished_at=now))

    # Just finished: a worker may still be building its own outputs, so the pass leaves it alone.
    assert recover_outputs(db, store, settings, finished_before=now - timedelta(seconds=60)) == 0
    assert _outputs_of(db, done) == 0
    # A minute later it is recovered; the not-assessable one is never built with not_assessable_sr off.
    assert recover_outputs(db, store, settings, finished_before=now + timedelta(seconds=1)) == 1
    assert _outputs_of(db, done) == 3 and _outputs_of(db, skipped) == 0
    assert recover_outputs(db, store, settings) == 0  # nothing left to do
