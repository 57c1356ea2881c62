"""Delivery to real peers: Orthanc (REST API shows the objects) and DCMTK storescp, loopback only.

The peers start once per module. Includes the fault path against a real storescp: destination
down when the results are ready, retries with back-off, node restart, destination up, exactly one
object per SOP Instance UID at the destination.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydicom import dcmread
from sqlalchemy import select

from dicom_node.delivery import deliver_due
from dicom_node.outputs import produce_outputs
from dicom_node.reports import examples as ex
from storage.db import Database
from storage.filestore import FileStore
from storage.schema import DeliveryState, Output
from tests.conftest import free_port
from tests.integration.test_delivery import _deliveries, node_settings, seed_analysis
from tests.interop.peers import (
    LOOPBACK_HEX,
    listening_addresses,
    loopback_shim,
    orthanc_get,
    start_orthanc,
    start_storescp,
)

pytestmark = pytest.mark.interop
T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def shim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return loopback_shim(tmp_path_factory.mktemp("shim"))


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory: pytest.TempPathFactory, shim: Path) -> Iterator[tuple[int, int]]:
    dicom_port, http_port = free_port(), free_port()
    peer = start_orthanc(tmp_path_factory.mktemp("orthanc"), dicom_port, http_port, shim)
    yield dicom_port, http_port
    peer.stop()


def _settings(tmp_path: Path, destinations: list[dict], **delivery: object):  # noqa: ANN202
    base = node_settings(tmp_path, f"sqlite:///{tmp_path / 'node.sqlite3'}", 1, delivery=delivery)
    return base.model_copy(update={"destinations": tuple(type(base.destinations[0])(**d) for d in destinations)})


def test_delivers_to_orthanc_and_storescp(tmp_path: Path, shim: Path, orthanc: tuple[int, int]) -> None:
    dicom_port, http_port = orthanc
    scp_port = free_port()
    storescp = start_storescp(tmp_path / "storescp", scp_port, shim)
    try:
        for port in (dicom_port, http_port, scp_port):
            assert listening_addresses(port) and listening_addresses(port) <= LOOPBACK_HEX
        settings = _settings(tmp_path, [
            {"name": "orthanc", "ae_title": "ORTHANC", "host": "127.0.0.1", "port": dicom_port},
            {"name": "dcmtk", "ae_title": "STORESCP", "host": "127.0.0.1", "port": scp_port},
        ])
        db = Database(settings.storage.effective_database_url())
        db.migrate()
        store = FileStore(settings.storage.data_dir)
        echo = ex.echo_source("A2C", frames=5)
        mr = ex.mr_sources(slices=10, size=32)
        echo_id = seed_analysis(db, store, ex.echo_result(echo, "A2C"), [echo])
        mr_id = seed_analysis(db, store, ex.mr_result(mr), mr)
        produce_outputs(db, store, settings, echo_id)
        produce_outputs(db, store, settings, mr_id)
        assert deliver_due(db, store, settings) == 16  # (3 echo + 5 MR outputs) x 2 destinations
        assert {r.state for r in _deliveries(db)} == {DeliveryState.DELIVERED}
        with db.session() as s:
            outputs = {o.sop_instance_uid: o for o in s.scalars(select(Output))}
        db.dispose()

        seen = {}
        for oid in orthanc_get(http_port, "/instances"):
            tags = orthanc_get(http_port, f"/instances/{oid}/simplified-tags")
            seen[tags["SOPInstanceUID"]] = tags["StudyInstanceUID"]
        assert set(outputs) <= set(seen)
        source_of = {echo_id: echo, mr_id: mr[0]}
        study_of = {o.sop_instance_uid: source_of[o.analysis_id] for o in outputs.values()}
        assert echo.StudyInstanceUID != mr[0].StudyInstanceUID
        assert all(seen[u] == study_of[u].StudyInstanceUID for u in outputs)

        files = list((tmp_path / "storescp" / "received").iterdir())
        received = {dcmread(f).SOPInstanceUID: dcmread(f).StudyInstanceUID for f in files}
        assert set(received) == set(outputs) and len(files) == len(outputs)
        assert all(received[u] == study_of[u].StudyInstanceUID for u in outputs)
    finally:
        storescp.stop()


def test_storescp_down_then_up_across_a_restart(tmp_path: Path, shim: Path) -> None:
    port = free_port()
    settings = _settings(tmp_path, [{"name": "dcmtk", "ae_title": "STORESCP", "host": "127.0.0.1", "port": port}],
                         max_attempts=5, backoff_seconds=2.0, backoff_max_seconds=3.0)
    db = Database(settings.storage.effective_database_url())
    db.migrate()
    store = FileStore(settings.storage.data_dir)
    src = ex.echo_source("ALAX", frames=4)
    produce_outputs(db, store, settings, seed_analysis(db, store, ex.echo_result(src, "ALAX"), [src]))
    assert deliver_due(db, store, settings, now=T0) == 3
    assert deliver_due(db, store, settings, now=T0 + timedelta(seconds=1)) == 0
    assert deliver_due(db, store, settings, now=T0 + timedelta(seconds=2)) == 3
    rows = _deliveries(db)
    assert {(r.state, r.attempts) for r in rows} == {(DeliveryState.PENDING, 2)}
    db.dispose()

    db = Database(settings.storage.effective_database_url())  # restart
    store = FileStore(settings.storage.data_dir)
    assert deliver_due(db, store, settings, now=T0 + timedelta(seconds=4.5)) == 0  # capped at 3 s: due at 5 s
    peer = start_storescp(tmp_path / "storescp", port, shim)
    try:
        assert deliver_due(db, store, settings, now=T0 + timedelta(seconds=5)) == 3
        assert deliver_due(db, store, settings, now=T0 + timedelta(days=1)) == 0
    finally:
        peer.stop()
    assert {r.state for r in _deliveries(db)} == {DeliveryState.DELIVERED}
    with db.session() as s:
        uids = set(s.scalars(select(Output.sop_instance_uid)))
    db.dispose()
    files = list((tmp_path / "storescp" / "received").iterdir())
    assert Counter(dcmread(f).SOPInstanceUID for f in files) == Counter(dict.fromkeys(uids, 1))
