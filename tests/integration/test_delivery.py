"""Outputs and their delivery: rows, idempotence, re-analysis, back-off, restart, failure, outbox CLI.

Every test runs on SQLite and PostgreSQL (``db_url``). The destination is an in-process
pynetdicom storage SCP on loopback; ``deliver_due`` is called directly with explicit times.
"""

from __future__ import annotations

import io
import json
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydicom import dcmread
from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.sop_class import ComprehensiveSRStorage  # noqa: F401 — registry import
from sqlalchemy import select

from analyzers.base.result import QualityResult
from config.settings import Settings, load_settings
from dicom_node.cli.main import cli
from dicom_node.delivery import deliver_due
from dicom_node.outputs import produce_outputs
from dicom_node.reports import examples as ex
from storage.db import Database
from storage.filestore import FileStore
from storage.schema import Analysis, AnalysisState, Delivery, DeliveryState, Instance, Output, Series, Study
from tests.conftest import free_port

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


class CountingSCP:
    """A storage SCP on 127.0.0.1 counting the SOP Instance UIDs it receives."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.received: Counter[str] = Counter()
        self.series: set[str] = set()
        self.studies: set[str] = set()
        self.associations = 0
        self._lock = threading.Lock()
        self.server = None

    def _on_store(self, event: evt.Event) -> int:
        ds = event.dataset
        with self._lock:
            self.received[str(ds.SOPInstanceUID)] += 1
            self.studies.add(str(ds.StudyInstanceUID))
        return 0x0000

    def _on_accept(self, event: evt.Event) -> None:
        with self._lock:
            self.associations += 1

    def start(self) -> None:
        ae = AE(ae_title="PACS")
        for cls in ("1.2.840.10008.5.1.4.1.1.88.34", "1.2.840.10008.5.1.4.1.1.7.4"):
            ae.add_supported_context(cls, ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2", "1.2.840.10008.1.2.4.50"])
        self.server = ae.start_server(("127.0.0.1", self.port), block=False,
                                      evt_handlers=[(evt.EVT_C_STORE, self._on_store),
                                                    (evt.EVT_ACCEPTED, self._on_accept)])

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server = None


def node_settings(tmp_path: Path, db_url: str, port: int, **extra: object) -> Settings:
    delivery = {"max_attempts": 5, "backoff_seconds": 1.0, "backoff_max_seconds": 4.0}
    delivery.update(extra.pop("delivery", {}))  # type: ignore[arg-type]
    return load_settings(
        None,
        storage={"data_dir": tmp_path / "data", "database_url": db_url},
        destinations=[{"name": "pacs", "ae_title": "PACS", "host": "127.0.0.1", "port": port}],
        delivery=delivery,
        **extra,
    )


def seed_analysis(db: Database, store: FileStore, result: QualityResult, sources: list[Dataset]) -> int:
    """Store the sources and a DONE analysis with ``result`` as the node would; return its id."""
    with db.session() as s:
        study = s.scalars(select(Study).where(Study.study_instance_uid == result.study_instance_uid)).first()
        if study is None:
            study = Study(study_instance_uid=result.study_instance_uid)
            s.add(study)
            s.flush()
        series = s.scalars(select(Series).where(Series.series_instance_uid == result.series_instance_uid)).first()
        if series is None:
            series = Series(study_id=study.id, series_instance_uid=result.series_instance_uid,
                            modality=result.modality)
            s.add(series)
            s.flush()
        instance_id = None
        for ds in sources:
            known = s.scalars(select(Instance).where(Instance.sop_instance_uid == ds.SOPInstanceUID)).first()
            if known is None:
                buf = io.BytesIO()
                ds.save_as(buf, enforce_file_format=True)
                sf = store.write_atomic(buf.getvalue())
                known = Instance(series_id=series.id, sop_instance_uid=ds.SOPInstanceUID, sop_class_uid=ds.SOPClassUID,
                                 file_path=sf.rel_path, size=sf.size, sha256=sf.sha256,
                                 transfer_syntax_uid=str(ds.file_meta.TransferSyntaxUID))
                s.add(known)
                s.flush()
            instance_id = known.id
        row = Analysis(analysis_uid=result.analysis_uid, series_id=series.id,
                       instance_id=instance_id if result.modality == "US" else None,
                       unit_kind="instance" if result.modality == "US" else "series", analyzer=result.analyzer,
                       analyzer_version=result.analyzer_version, state=AnalysisState.DONE,
                       result_json=result.to_json(), assessable=result.assessable)
        s.add(row)
        s.flush()
        return row.id


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    database.migrate()
    yield database
    database.dispose()


@pytest.fixture
def scp() -> Iterator[CountingSCP]:
    peer = CountingSCP(free_port())
    yield peer
    peer.stop()


def _deliveries(db: Database) -> list[Delivery]:
    with db.session() as s:
        return list(s.scalars(select(Delivery).order_by(Delivery.id)))


def test_outputs_are_stored_once_with_a_delivery_each(tmp_path: Path, db: Database, db_url: str) -> None:
    settings = node_settings(tmp_path, db_url, 1, delivery={"outbox_dir": str(tmp_path / "outbox")})
    store = FileStore(settings.storage.data_dir)
    src = ex.echo_source(frames=6)
    aid = seed_analysis(db, store, ex.echo_result(src), [src])
    ids = produce_outputs(db, store, settings, aid)
    assert len(ids) == 3
    assert produce_outputs(db, store, settings, aid) == []  # idempotent
    with db.session() as s:
        outs = list(s.scalars(select(Output).order_by(Output.id)))
        assert [o.kind for o in outs] == ["sr", "sc-cine", "sc-summary"]
        for o in outs:
            ds = dcmread(store.path(o.file_path))
            assert ds.SOPInstanceUID == o.sop_instance_uid and ds.StudyInstanceUID == src.StudyInstanceUID
    assert [(d.destination, d.state) for d in _deliveries(db)] == [("pacs", DeliveryState.PENDING)] * 3
    assert len(list((tmp_path / "outbox").glob("*.dcm"))) == 3


def test_reanalysis_gets_new_uids_and_lists_the_previous_sr(tmp_path: Path, db: Database, db_url: str) -> None:
    settings = node_settings(tmp_path, db_url, 1)
    store = FileStore(settings.storage.data_dir)
    src = ex.echo_source(frames=4)
    first = seed_analysis(db, store, ex.echo_result(src), [src])
    produce_outputs(db, store, settings, first)
    second = seed_analysis(db, store, ex.echo_result(src, analysis_uid=ex.uid("again")), [src])
    produce_outputs(db, store, settings, second)
    with db.session() as s:
        srs = list(s.scalars(select(Output).where(Output.kind == "sr").order_by(Output.id)))
        assert len(srs) == 2 and srs[0].sop_instance_uid != srs[1].sop_instance_uid
        new = dcmread(store.path(srs[1].file_path))
    ref = new.PredecessorDocumentsSequence[0].ReferencedSeriesSequence[0].ReferencedSOPSequence[0]
    assert ref.ReferencedSOPInstanceUID == srs[0].sop_instance_uid


def test_destination_down_then_up_after_restart(tmp_path: Path, db: Database, db_url: str,
                                                scp: CountingSCP) -> None:
    settings = node_settings(tmp_path, db_url, scp.port)
    store = FileStore(settings.storage.data_dir)
    src = ex.echo_source(frames=4)
    produce_outputs(db, store, settings, seed_analysis(db, store, ex.echo_result(src), [src]))

    assert deliver_due(db, store, settings, now=T0) == 3  # destination down
    rows = _deliveries(db)
    assert {(r.state, r.attempts) for r in rows} == {(DeliveryState.PENDING, 1)}
    assert all("cannot connect" in r.last_error for r in rows)
    assert deliver_due(db, store, settings, now=T0 + timedelta(seconds=0.5)) == 0  # back-off: 1 s

    db.dispose()  # node restart: new Database and FileStore on the same data_dir
    db2, store2 = Database(db_url), FileStore(settings.storage.data_dir)
    try:
        assert deliver_due(db2, store2, settings, now=T0 + timedelta(seconds=1)) == 3
        assert deliver_due(db2, store2, settings, now=T0 + timedelta(seconds=2.5)) == 0  # then 2 s
        scp.start()
        assert deliver_due(db2, store2, settings, now=T0 + timedelta(seconds=3)) == 3
        assert deliver_due(db2, store2, settings, now=T0 + timedelta(hours=1)) == 0
        rows = _deliveries(db2)
        assert {(r.state, r.attempts, r.last_error) for r in rows} == {(DeliveryState.DELIVERED, 3, None)}
        with db2.session() as s:
            uids = set(s.scalars(select(Output.sop_instance_uid)))
        assert dict(scp.received) == dict.fromkeys(uids, 1)  # exactly one object per SOP Instance UID
        assert scp.associations == 1  # the three objects for one destination share an association
        assert scp.studies == {src.StudyInstanceUID}
    finally:
        db2.dispose()


def test_gives_up_after_max_attempts_and_outbox_retries(tmp_path: Path, db: Database, db_url: str,
                                                        scp: CountingSCP) -> None:
    settings = node_settings(tmp_path, db_url, scp.port, delivery={"max_attempts": 2})
    store = FileStore(settings.storage.data_dir)
    src = ex.echo_source(frames=3)
    produce_outputs(db, store, settings, seed_analysis(db, store, ex.not_assessable_result(src), [src]))
    deliver_due(db, store, settings, now=T0)
    deliver_due(db, store, settings, now=T0 + timedelta(seconds=1))
    rows = _deliveries(db)
    assert {(r.state, r.attempts) for r in rows} == {(DeliveryState.FAILED, 2)} and len(rows) == 2
    assert deliver_due(db, store, settings, now=T0 + timedelta(days=1)) == 0

    config = tmp_path / "node.toml"
    config.write_text(
        f'[storage]\ndata_dir = "{settings.storage.data_dir}"\ndatabase_url = "{db_url}"\n'
        f'[[destinations]]\nname = "pacs"\nae_title = "PACS"\nhost = "127.0.0.1"\nport = {scp.port}\n'
    )
    runner = CliRunner()
    out = runner.invoke(cli, ["outbox", "--config", str(config), "--json", "--failed"])
    assert out.exit_code == 0, out.output
    listed = json.loads(out.output)
    assert len(listed) == 2 and all("cannot connect" in r["last_error"] for r in listed)
    table = runner.invoke(cli, ["outbox", "--config", str(config)])
    assert "failed" in table.output and "cannot connect" in table.output
    retry = runner.invoke(cli, ["outbox", "--config", str(config), "--retry", str(listed[0]["id"])])
    assert retry.exit_code == 0 and "1 delivery" in retry.output
    assert runner.invoke(cli, ["outbox", "--config", str(config), "--retry", "all"]).exit_code == 0
    assert runner.invoke(cli, ["outbox", "--config", str(config), "--retry", "999"]).exit_code == 1
    scp.start()
    assert deliver_due(db, store, settings) == 2
    assert {r.state for r in _deliveries(db)} == {DeliveryState.DELIVERED}
    assert sum(scp.received.values()) == 2


@pytest.mark.filterwarnings("ignore:Invalid value for VR")
def test_no_patient_data_reaches_the_log(tmp_path: Path, db: Database, db_url: str,
                                         caplog: pytest.LogCaptureFixture) -> None:
    import logging

    settings = node_settings(tmp_path, db_url, free_port())  # nobody listens: errors are logged too
    store = FileStore(settings.storage.data_dir)
    src = ex.echo_source(frames=3, malformed=True)
    aid = seed_analysis(db, store, ex.echo_result(src), [src])
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        produce_outputs(db, store, settings, aid)
        deliver_due(db, store, settings, now=T0)
    text = caplog.text
    assert text  # something was logged
    for phi in ("Müller", "O'Brien", "0042", "19xx0101", "42 years", str(src.StudyInstanceUID)):
        assert phi not in text, phi
