"""The C-STORE handler against a real database (SQLite and PostgreSQL), without the network."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path
from types import SimpleNamespace

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset

from dicom_node.scp import StoreHandler, StoreStatus
from dicom_node.scp.header import dataset_offset
from storage.db import Database
from storage.filestore import FileStore
from storage.schema import AuditEvent, Instance, Series, SeriesState, Study
from tests.support.dicom_files import PHI_ID, PHI_NAME, mr_slices, us_multiframe


class FakeEvent:
    """The parts of a pynetdicom C-STORE event the handler uses."""

    def __init__(self, data: bytes, aet: str = "TESTSCU") -> None:
        self._data = data
        self.assoc = SimpleNamespace(requestor=SimpleNamespace(ae_title=aet))

    def encoded_dataset(self) -> bytes:
        return self._data


def encode(ds: Dataset) -> bytes:
    buf = BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _env(url: str, tmp_path: Path) -> SimpleNamespace:
    db = Database(url)
    db.migrate()
    store = FileStore(tmp_path / "data")
    woken: list[int] = []
    handler = StoreHandler(db, store, max_pixels=10_000_000, on_stored=woken.append)
    return SimpleNamespace(db=db, store=store, handler=handler, woken=woken)


@pytest.fixture
def env(db_url: str, tmp_path: Path):  # noqa: ANN201
    """Handler over SQLite and over PostgreSQL."""
    e = _env(db_url, tmp_path)
    yield e
    e.db.dispose()


@pytest.fixture
def sqlite_env(tmp_path: Path):  # noqa: ANN201
    """Handler over SQLite only (the refusal paths do not depend on the backend)."""
    e = _env(f"sqlite:///{tmp_path / 'node.sqlite3'}", tmp_path)
    yield e
    e.db.dispose()


def _files(store: FileStore) -> list[Path]:
    return [p for p in (store.root / "instances").rglob("*") if p.is_file()]


def test_store_records_everything(env: SimpleNamespace) -> None:
    ds = us_multiframe(frames=4, rgb=True)
    data = encode(ds)
    assert env.handler(FakeEvent(data, aet="ECHO1")) == StoreStatus.SUCCESS
    with env.db.session() as s:
        inst = s.query(Instance).one()
        series = s.get(Series, inst.series_id)
        study = s.get(Study, series.study_id)
        assert (inst.sop_instance_uid, inst.sop_class_uid) == (ds.SOPInstanceUID, ds.SOPClassUID)
        assert (inst.version, inst.is_current, inst.calling_aet) == (1, True, "ECHO1")
        assert (inst.number_of_frames, inst.rows, inst.columns) == (4, 48, 64)
        assert inst.image_type == "ORIGINAL\\PRIMARY\\CARDIAC" and inst.instance_number == 1
        assert inst.transfer_syntax_uid == "1.2.840.10008.1.2.1" and inst.size == len(data)
        assert series.state == SeriesState.RECEIVING and series.calling_aet == "ECHO1"
        assert (series.modality, series.manufacturer, series.station_name) == (
            "US",
            "CQA Test",
            "TESTSTATION",
        )
        assert series.series_number == 1 and series.manufacturer_model_name == "Fixture"
        assert (study.patient_name, study.patient_id) == (PHI_NAME, PHI_ID)
        assert env.store.path(inst.file_path).read_bytes() == data  # exactly what arrived
        assert env.woken == [inst.id]


def test_duplicate_is_noop_and_changed_content_is_new_version(env: SimpleNamespace) -> None:
    ds = us_multiframe(frames=2)
    assert env.handler(FakeEvent(encode(ds))) == 0
    assert env.handler(FakeEvent(encode(ds))) == 0
    assert len(_files(env.store)) == 1 and len(env.woken) == 1
    ds.SeriesDescription = "changed"
    assert env.handler(FakeEvent(encode(ds))) == 0
    with env.db.session() as s:
        rows = s.query(Instance).order_by(Instance.version).all()
        assert [(r.version, r.is_current) for r in rows] == [(1, False), (2, True)]
        audit = s.query(AuditEvent).filter_by(kind="instance.new_version").one()
        assert audit.sop_instance_uid == ds.SOPInstanceUID
    assert len(_files(env.store)) == 2 and len(env.woken) == 2


def test_arrival_reopens_a_done_series(env: SimpleNamespace) -> None:
    slices = mr_slices(2)
    env.handler(FakeEvent(encode(slices[0])))
    with env.db.session() as s:
        series = s.query(Series).one()
        series.state = SeriesState.DONE
        before = series.last_received_at
    env.handler(FakeEvent(encode(slices[1])))
    with env.db.session() as s:
        series = s.query(Series).one()
        assert series.state == SeriesState.RECEIVING and series.last_received_at >= before
        assert s.query(Instance).count() == 2 and s.query(Study).count() == 1


@pytest.mark.parametrize(
    "missing", ["SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID", "SOPClassUID"]
)
def test_missing_uid_is_c210_with_audit_and_nothing_stored(sqlite_env: SimpleNamespace, missing: str) -> None:
    env = sqlite_env
    ds = us_multiframe(frames=1)
    full = encode(ds)
    delattr(ds, missing)
    body = DicomBytesIO()
    body.is_little_endian, body.is_implicit_VR = True, False
    write_dataset(body, ds)
    data = full[: dataset_offset(full)] + body.getvalue()  # valid file meta, data set without the UID
    assert env.handler(FakeEvent(data)) == StoreStatus.CANNOT_UNDERSTAND
    assert _files(env.store) == [] and list(env.store.spool_dir.iterdir()) == []
    with env.db.session() as s:
        audit = s.query(AuditEvent).one()
        assert audit.status == 0xC210 and missing in audit.message
        assert s.query(Instance).count() == 0


def test_pixel_budget_is_a700(env: SimpleNamespace) -> None:
    ds = us_multiframe(frames=1)
    ds.Rows, ds.Columns, ds.NumberOfFrames = 60000, 60000, 1000  # header only; pixels stay small
    assert env.handler(FakeEvent(encode(ds))) == StoreStatus.OUT_OF_RESOURCES
    assert _files(env.store) == []
    with env.db.session() as s:
        assert s.query(AuditEvent).one().status == 0xA700


def test_database_failure_is_a700_and_removes_the_file(env: SimpleNamespace, monkeypatch) -> None:  # noqa: ANN001
    import sqlalchemy.exc

    import dicom_node.scp.handler as handler_mod

    def broken(*_a, **_k):  # noqa: ANN002, ANN003, ANN202
        raise sqlalchemy.exc.OperationalError("INSERT", {}, Exception("disk I/O error"))

    monkeypatch.setattr(handler_mod, "record_instance", broken)
    assert env.handler(FakeEvent(encode(us_multiframe(frames=1)))) == StoreStatus.OUT_OF_RESOURCES
    assert _files(env.store) == [] and list(env.store.spool_dir.iterdir()) == []


def test_disk_failure_is_a700(env: SimpleNamespace, monkeypatch) -> None:  # noqa: ANN001
    def full(*_a, **_k):  # noqa: ANN002, ANN003, ANN202
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(env.store, "write_atomic", full)
    assert env.handler(FakeEvent(encode(us_multiframe(frames=1)))) == StoreStatus.OUT_OF_RESOURCES
    with env.db.session() as s:
        assert "ENOSPC" in s.query(AuditEvent).one().message


def test_stored_file_reads_back_identically(env: SimpleNamespace) -> None:
    ds = mr_slices(1)[0]
    env.handler(FakeEvent(encode(ds)))
    with env.db.session() as s:
        path = env.store.path(s.query(Instance).one().file_path)
    back = dcmread(path)
    assert back == ds and back.PixelData == ds.PixelData
