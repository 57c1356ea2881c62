"""Assembly with an explicit ``now`` (no sleeping), on SQLite and PostgreSQL (``db_url``)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from pydicom.uid import EnhancedMRImageStorage, MRImageStorage, UltrasoundMultiFrameImageStorage
from sqlalchemy import select

from config.settings import Route, load_settings
from dicom_node.assembly import AssemblyError, assemble, force_series, unit_kind_for
from storage.db import Database
from storage.schema import Analysis, AnalysisState, Instance, Series, SeriesState, Study

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
KNOWN = {"echo-regional", "mr-wholeheart"}
_uids = itertools.count(1)


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    database.migrate()
    yield database
    database.dispose()


@pytest.fixture
def settings(tmp_path):  # noqa: ANN001, ANN201
    return load_settings(None, storage={"data_dir": tmp_path}, assembly={"series_stable_seconds": 30.0})


def _uid() -> str:
    return f"1.2.3.{next(_uids)}"


def add_series(db: Database, modality: str, at: datetime, description: str = "") -> int:
    with db.session() as s:
        study = Study(study_instance_uid=_uid())
        s.add(study)
        s.flush()
        series = Series(
            study_id=study.id,
            series_instance_uid=_uid(),
            modality=modality,
            series_description=description,
            state=SeriesState.RECEIVING,
            first_received_at=at,
            last_received_at=at,
        )
        s.add(series)
        s.flush()
        return series.id


def add_instance(
    db: Database, series_id: int, sop_class: str, at: datetime, frames: int | None = None, sop_uid: str | None = None
) -> int:
    """What the SCP does per stored instance: instance row, series RECEIVING, last_received_at."""
    with db.session() as s:
        version = 1
        if sop_uid is not None:
            for old in s.scalars(select(Instance).where(Instance.sop_instance_uid == sop_uid)):
                old.is_current = False
                version = max(version, old.version + 1)
        inst = Instance(
            series_id=series_id,
            sop_instance_uid=sop_uid or _uid(),
            sop_class_uid=sop_class,
            version=version,
            is_current=True,
            file_path="instances/x.dcm",
            size=1,
            sha256="0" * 64,
            transfer_syntax_uid="1.2.840.10008.1.2.1",
            number_of_frames=frames,
            image_type="ORIGINAL\\PRIMARY",
            received_at=at,
        )
        s.add(inst)
        series = s.get(Series, series_id)
        series.state = SeriesState.RECEIVING
        series.last_received_at = at
        s.flush()
        return inst.id


def analyses(db: Database, series_id: int) -> list[Analysis]:
    with db.session() as s:
        return list(s.scalars(select(Analysis).where(Analysis.series_id == series_id).order_by(Analysis.id)))


def series_state(db: Database, series_id: int) -> SeriesState:
    with db.session() as s:
        return s.get(Series, series_id).state


US = str(UltrasoundMultiFrameImageStorage)
MR = str(MRImageStorage)


def test_unit_kinds() -> None:
    assert unit_kind_for("US", US, 40) == "instance"
    assert unit_kind_for("US", "1.2.840.10008.5.1.4.1.1.6.1", None) == "instance"
    assert unit_kind_for("MR", str(EnhancedMRImageStorage), 100) == "instance"
    assert unit_kind_for("MR", MR, None) == "series"


def test_us_instance_is_ready_at_once_one_analysis_each(db: Database, settings) -> None:  # noqa: ANN001
    sid = add_series(db, "US", T0)
    i1 = add_instance(db, sid, US, T0, frames=40)
    result = assemble(db, settings, T0, KNOWN)
    rows = analyses(db, sid)
    assert [(a.instance_id, a.unit_kind, a.analyzer, a.state) for a in rows] == [
        (i1, "instance", "echo-regional", AnalysisState.PENDING)
    ]
    assert rows[0].analysis_uid.startswith("2.25.") and result.created == [rows[0].id]
    assert series_state(db, sid) == SeriesState.DONE
    # a second loop of the same series: one more analysis, the first is untouched
    i2 = add_instance(db, sid, US, T0 + timedelta(seconds=1), frames=40)
    assemble(db, settings, T0 + timedelta(seconds=1), KNOWN)
    rows = analyses(db, sid)
    assert [a.instance_id for a in rows] == [i1, i2] and not any(a.superseded for a in rows)
    assert assemble(db, settings, T0 + timedelta(seconds=2), KNOWN).created == []  # idempotent


def test_mr_series_waits_for_the_stability_window(db: Database, settings) -> None:  # noqa: ANN001
    sid = add_series(db, "MR", T0)
    for k in range(5):
        add_instance(db, sid, MR, T0 + timedelta(seconds=k))
    last = T0 + timedelta(seconds=4)
    assert assemble(db, settings, last + timedelta(seconds=29.9), KNOWN).waiting == [sid]
    assert analyses(db, sid) == [] and series_state(db, sid) == SeriesState.RECEIVING
    assemble(db, settings, last + timedelta(seconds=30), KNOWN)
    (row,) = analyses(db, sid)
    assert (row.unit_kind, row.instance_id, row.analyzer) == ("series", None, "mr-wholeheart")
    assert series_state(db, sid) == SeriesState.DONE


def test_late_instance_reopens_and_the_new_analysis_supersedes(db: Database, settings) -> None:  # noqa: ANN001
    sid = add_series(db, "MR", T0)
    add_instance(db, sid, MR, T0)
    assemble(db, settings, T0 + timedelta(seconds=31), KNOWN)
    (first,) = analyses(db, sid)
    with db.session() as s:  # the first analysis ran meanwhile
        s.get(Analysis, first.id).state = AnalysisState.DONE
    late = T0 + timedelta(seconds=60)
    add_instance(db, sid, MR, late)
    assert series_state(db, sid) == SeriesState.RECEIVING
    assemble(db, settings, late + timedelta(seconds=10), KNOWN)
    assert len(analyses(db, sid)) == 1  # still inside the window
    assemble(db, settings, late + timedelta(seconds=30), KNOWN)
    old, new = analyses(db, sid)
    assert old.superseded and old.state == AnalysisState.DONE
    assert new.supersedes_id == old.id and not new.superseded and new.state == AnalysisState.PENDING


def test_superseded_pending_analysis_is_skipped(db: Database, settings) -> None:  # noqa: ANN001
    sid = add_series(db, "US", T0)
    add_instance(db, sid, US, T0, frames=10, sop_uid="1.2.99.1")
    assemble(db, settings, T0, KNOWN)
    add_instance(db, sid, US, T0 + timedelta(seconds=5), frames=12, sop_uid="1.2.99.1")  # new version
    assemble(db, settings, T0 + timedelta(seconds=5), KNOWN)
    old, new = analyses(db, sid)
    assert old.superseded and old.state == AnalysisState.SKIPPED and old.error_code == "superseded"
    assert new.supersedes_id == old.id and new.state == AnalysisState.PENDING


def test_multiframe_mr_is_ready_at_once(db: Database, settings) -> None:  # noqa: ANN001
    sid = add_series(db, "MR", T0)
    iid = add_instance(db, sid, str(EnhancedMRImageStorage), T0, frames=60)
    assemble(db, settings, T0, KNOWN)
    (row,) = analyses(db, sid)
    assert (row.unit_kind, row.instance_id, row.analyzer) == ("instance", iid, "mr-wholeheart")


def test_route_none_creates_no_analysis_and_unknown_analyzer_is_skipped(db: Database, tmp_path) -> None:  # noqa: ANN001
    routes = [
        Route(modality="US", series_description="doppler", analyzer="none"),
        Route(modality="US", analyzer="no-such-analyzer"),
    ]
    settings = load_settings(None, storage={"data_dir": tmp_path}, routes=routes)
    s1 = add_series(db, "US", T0, "Doppler")
    add_instance(db, s1, US, T0, frames=10)
    s2 = add_series(db, "US", T0, "A4C")
    add_instance(db, s2, US, T0, frames=10)
    s3 = add_series(db, "CT", T0)
    add_instance(db, s3, "1.2.840.10008.5.1.4.1.1.2", T0)
    assemble(db, settings, T0 + timedelta(seconds=31), KNOWN)
    assert analyses(db, s1) == [] and analyses(db, s3) == []
    assert series_state(db, s1) == series_state(db, s3) == SeriesState.DONE
    (skipped,) = analyses(db, s2)
    assert skipped.state == AnalysisState.SKIPPED and skipped.error_code == "analyzer_unknown"
    assert "no-such-analyzer" in skipped.error_message


def test_force_series_ignores_the_window_and_supersedes(db: Database, settings) -> None:  # noqa: ANN001
    sid = add_series(db, "MR", T0)
    add_instance(db, sid, MR, T0)
    with db.session() as s:
        uid = s.get(Series, sid).series_instance_uid
    (first,) = force_series(db, settings, uid, T0, KNOWN)
    assert series_state(db, sid) == SeriesState.DONE
    (second,) = force_series(db, settings, uid, T0, KNOWN)
    old, new = analyses(db, sid)
    assert (old.id, new.id) == (first, second) and old.superseded and new.supersedes_id == first
    with pytest.raises(AssemblyError):
        force_series(db, settings, "9.9.9", T0, KNOWN)


def test_backpressure_holds_new_units_but_keeps_their_instances(db: Database, tmp_path) -> None:  # noqa: ANN001
    settings = load_settings(None, storage={"data_dir": tmp_path}, workers={"max_pending": 2})
    sid = add_series(db, "US", T0)
    for _ in range(3):
        add_instance(db, sid, US, T0, frames=10)
    assemble(db, settings, T0, KNOWN)
    assert len(analyses(db, sid)) == 3  # the units of one series are not split; the next one waits
    s2 = add_series(db, "US", T0)
    add_instance(db, s2, US, T0, frames=10)
    result = assemble(db, settings, T0, KNOWN)
    assert result.backpressure and analyses(db, s2) == []
    assert series_state(db, s2) == SeriesState.RECEIVING
    with db.session() as s:
        for a in s.scalars(select(Analysis)):
            a.state = AnalysisState.SKIPPED
    assert not assemble(db, settings, T0, KNOWN).backpressure
    assert len(analyses(db, s2)) == 1


def test_backpressure_is_checked_before_each_series(db: Database, tmp_path) -> None:  # noqa: ANN001
    """One pass over many ready series stops at max_pending instead of overshooting."""
    settings = load_settings(None, storage={"data_dir": tmp_path}, workers={"max_pending": 2})
    series = [add_series(db, "US", T0 + timedelta(seconds=i)) for i in range(4)]
    for i, sid in enumerate(series):
        add_instance(db, sid, US, T0 + timedelta(seconds=i), frames=10)
    result = assemble(db, settings, T0 + timedelta(seconds=5), KNOWN)
    assert result.backpressure and len(result.created) == 2
    assert [len(analyses(db, sid)) for sid in series] == [1, 1, 0, 0]  # oldest first
    assert [series_state(db, sid) for sid in series[2:]] == [SeriesState.RECEIVING] * 2

