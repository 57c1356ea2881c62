"""Ingest over the network: pynetdicom SCU → StoreSCP on loopback, SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from pydicom import dcmread
from pydicom.uid import RLELossless
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage, Verification

from config.settings import Settings
from dicom_node.cli.main import main as cli_main
from dicom_node.scp import StoreSCP
from dicom_node.scu import SendError, send_files
from storage.db import Database
from storage.filestore import FileStore
from storage.schema import AuditEvent, Instance, Series
from tests.support.dicom_files import (
    PHI_ID,
    PHI_NAME,
    dataset_bytes,
    mr_slices,
    new_uid,
    us_multiframe,
    write,
)

AET = "CARDIAC_QA"


@pytest.fixture
def make_node(tmp_path: Path, port: int):  # noqa: ANN201
    started: list[SimpleNamespace] = []

    def _make(db_url: str | None = None, **node: object) -> SimpleNamespace:
        settings = Settings(
            node={"port": port, "ae_title": AET, **node},
            storage={"data_dir": str(tmp_path / "data")},
        )
        store = FileStore(tmp_path / "data")
        db = Database(db_url or settings.storage.effective_database_url())
        db.migrate()
        woken: list[int] = []
        scp = StoreSCP(settings, db, store, on_stored=woken.append)
        scp.start()
        n = SimpleNamespace(settings=settings, db=db, store=store, scp=scp, port=port, woken=woken)
        started.append(n)
        return n

    yield _make
    for n in started:
        n.scp.stop()
        n.db.dispose()


def _send(node: SimpleNamespace, paths: list[Path], **kw: object) -> list[int | None]:
    return [r.status for r in send_files("127.0.0.1", node.port, paths, called_aet=AET, **kw)]


def _stored_bytes(node: SimpleNamespace, sop_uid: str) -> bytes:
    with node.db.session() as s:
        inst = s.query(Instance).filter_by(sop_instance_uid=sop_uid, is_current=True).one()
        return node.store.path(inst.file_path).read_bytes()


@pytest.mark.parametrize("streaming", [True, False], ids=["streaming", "in_memory"])
def test_store_versions_and_duplicates(make_node, db_url: str, tmp_path: Path, streaming: bool) -> None:  # noqa: ANN001
    node = make_node(db_url, streaming_receive=streaming)
    us = us_multiframe(frames=6, rgb=True)
    rle = us_multiframe(frames=3, seed=2)
    rle.compress(RLELossless)
    slices = mr_slices(5)
    files = [write(us, tmp_path / "in/us.dcm"), write(rle, tmp_path / "in/rle.dcm")]
    files += [write(ds, tmp_path / f"in/mr{i}.dcm") for i, ds in enumerate(slices)]
    assert _send(node, files) == [0] * 7
    for path, ds in zip(files, [us, rle, *slices], strict=True):
        stored = _stored_bytes(node, ds.SOPInstanceUID)
        assert dataset_bytes(stored) == dataset_bytes(path.read_bytes())  # byte for byte as sent
    with node.db.session() as s:
        assert s.query(Instance).count() == 7 and s.query(Series).count() == 3
        assert (
            s.query(Instance).filter_by(sop_instance_uid=rle.SOPInstanceUID).one().transfer_syntax_uid
            == RLELossless
        )
    assert len(node.woken) == 7
    # duplicate: no-op; changed content: version 2
    assert _send(node, files[:1]) == [0]
    us.SeriesDescription = "edited"
    assert _send(node, [write(us, tmp_path / "in/us2.dcm")]) == [0]
    with node.db.session() as s:
        rows = (
            s.query(Instance).filter_by(sop_instance_uid=us.SOPInstanceUID).order_by(Instance.version).all()
        )
        assert [(r.version, r.is_current) for r in rows] == [(1, False), (2, True)]
        assert s.query(AuditEvent).filter_by(kind="instance.new_version").count() == 1
    assert len(node.woken) == 8
    assert list(node.store.spool_dir.iterdir()) == []  # every received file moved in or removed


def test_concurrent_associations_one_series(make_node, db_url: str, tmp_path: Path) -> None:  # noqa: ANN001
    """Six associations deliver one series at once: no "database is locked", no lost row."""
    node = make_node(db_url)
    series_uid, study_uid = new_uid(), new_uid()
    results: list[int | None] = []
    errors: list[BaseException] = []

    def sender(i: int) -> None:
        paths = [
            write(
                us_multiframe(frames=2, seed=i * 10 + j, series_uid=series_uid, study_uid=study_uid),
                tmp_path / f"c{i}/{j}.dcm",
            )
            for j in range(5)
        ]
        try:
            results.extend(_send(node, paths))
        except BaseException as exc:  # noqa: BLE001 — reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=sender, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and results == [0] * 30
    with node.db.session() as s:
        assert s.query(Instance).count() == 30 and s.query(Series).count() == 1
        assert s.query(AuditEvent).count() == 0


def test_echo_and_association_policy(make_node, tmp_path: Path) -> None:  # noqa: ANN001
    node = make_node(allowed_calling_aets=("MODALITY1",), accept_all_storage=False)
    ae = AE(ae_title="MODALITY1")
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", node.port, ae_title=AET)
    assert assoc.is_established
    assert assoc.send_c_echo().Status == 0
    assoc.release()
    # a calling AE not on the allow-list is rejected at association, with an audit row
    path = write(us_multiframe(frames=1), tmp_path / "a.dcm")
    with pytest.raises(SendError, match="rejected"):
        send_files("127.0.0.1", node.port, [path], calling_aet="INTRUDER", called_aet=AET)
    # require_called_aet: another called AE title is rejected too
    with pytest.raises(SendError, match="rejected"):
        send_files("127.0.0.1", node.port, [path], calling_aet="MODALITY1", called_aet="OTHER")
    with node.db.session() as s:
        rejected = s.query(AuditEvent).filter_by(kind="association.rejected").all()
        assert {r.calling_aet for r in rejected} == {"INTRUDER", "MODALITY1"}
    # accept_all_storage = false: CT is not accepted, US is
    ct = us_multiframe(frames=1)
    ct.SOPClassUID = ct.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ct_path = write(ct, tmp_path / "ct.dcm")
    results = send_files("127.0.0.1", node.port, [ct_path, path], calling_aet="MODALITY1", called_aet=AET)
    assert results[0].status is None and "did not accept" in (results[0].error or "")
    assert results[1].status == 0
    deadline = time.monotonic() + 5  # the acceptor's thread ends shortly after the release
    while node.scp.active_associations and time.monotonic() < deadline:
        time.sleep(0.02)
    assert node.scp.active_associations == 0


def test_accept_all_storage_stores_other_classes(make_node, tmp_path: Path) -> None:  # noqa: ANN001
    node = make_node()
    ct = us_multiframe(frames=1)
    ct.SOPClassUID = ct.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ct.Modality = "CT"
    assert _send(node, [write(ct, tmp_path / "ct.dcm")]) == [0]


def test_no_patient_data_or_uids_in_logs(make_node, tmp_path: Path, caplog) -> None:  # noqa: ANN001
    caplog.set_level(logging.DEBUG)
    node = make_node()
    ds = us_multiframe(frames=2)
    good = write(ds, tmp_path / "good.dcm")
    bad = us_multiframe(frames=1)
    del bad.StudyInstanceUID
    bad_path = write(bad, tmp_path / "bad.dcm")
    assert _send(node, [good, bad_path, good]) == [0, 0xC210, 0]
    text = caplog.text
    assert PHI_NAME not in text and PHI_ID not in text and "SENTINEL" not in text
    above_debug = [r.getMessage() for r in caplog.records if r.levelno > logging.DEBUG]
    assert not any(ds.SOPInstanceUID in m or bad.SOPInstanceUID in m for m in above_debug)
    assert any("0xC210" in m for m in above_debug)


def test_cli_send(make_node, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    node = make_node()
    good = write(us_multiframe(frames=1), tmp_path / "dir/good.dcm")
    assert cli_main(["send", "127.0.0.1", str(node.port), str(good.parent)]) == 0
    assert "1 of 1 file(s) stored" in capsys.readouterr().out
    junk = tmp_path / "dir/junk.bin"
    junk.write_bytes(b"not dicom")
    assert cli_main(["send", "127.0.0.1", str(node.port), str(good), str(junk)]) == 1
    out, err = capsys.readouterr()
    assert "FAILED" in out and err.strip().startswith("error:") and len(err.strip().splitlines()) == 1
    assert cli_main(["send", "127.0.0.1", str(node.port), str(good), "--called-aet", "WRONG"]) == 1
    assert "rejected" in capsys.readouterr().err
    with node.db.session() as s:
        rel_path = s.query(Instance).one().file_path
    assert dcmread(node.store.path(rel_path)).SOPInstanceUID == dcmread(good).SOPInstanceUID


def test_encoded_parts_equal_encoded_dataset(tmp_path: Path, port: int) -> None:
    """The zero-copy split the handler writes is exactly ``event.encoded_dataset()``."""
    from pynetdicom import evt
    from pynetdicom.sop_class import UltrasoundMultiFrameImageStorage

    from dicom_node.scp.handler import encoded_parts

    seen: list[bool] = []

    def handler(event) -> int:  # noqa: ANN001
        head, body = encoded_parts(event)
        try:
            seen.append(head + bytes(body) == event.encoded_dataset())
        finally:
            body.release()
        return 0

    ae = AE(AET)
    ae.add_supported_context(UltrasoundMultiFrameImageStorage)
    server = ae.start_server(("127.0.0.1", port), block=False, evt_handlers=[(evt.EVT_C_STORE, handler)])
    try:
        path = write(us_multiframe(frames=3), tmp_path / "x.dcm")
        assert [r.status for r in send_files("127.0.0.1", port, [path], called_aet=AET)] == [0]
    finally:
        server.shutdown()
    assert seen == [True]


def test_mutual_tls(make_node, tmp_path: Path) -> None:  # noqa: ANN001
    """PS3.15 B.1: TLS with the node's certificate; with ``tls_ca`` a client certificate is required."""
    import ssl
    import subprocess

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=localhost",
            "-days",
            "1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    node = make_node(tls_cert=str(cert), tls_key=str(key), tls_ca=str(cert))
    path = write(us_multiframe(frames=1), tmp_path / "a.dcm")

    def client(with_cert: bool) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(cert))
        if with_cert:
            ctx.load_cert_chain(str(cert), str(key))
        return ctx

    assert _send(node, [path], ssl_context=client(True)) == [0]
    with pytest.raises(SendError):
        _send(node, [path], ssl_context=client(False), acse_timeout=5, network_timeout=5)
    with pytest.raises(SendError):
        _send(node, [path], acse_timeout=5, network_timeout=5)  # plain TCP to a TLS port


def test_streaming_receive_moves_the_spooled_file_in(make_node, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """The default receive streams into the spool: same bytes, hash as recorded, nothing leaks."""
    import hashlib
    import tempfile

    from pynetdicom import _config

    from tests.support.dicom_files import write_raw_part10

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # pynetdicom's own temp files
    (tmp_path / "tmp").mkdir()
    node = make_node()
    assert node.scp.streaming and _config.STORE_RECV_CHUNKED_DATASET
    us = us_multiframe(frames=60, rows=240, columns=320, rgb=True)  # ~14 MB: hashed on a helper thread
    rle = us_multiframe(frames=2, seed=4)
    rle.compress(RLELossless)
    files = [write(us, tmp_path / "in/us.dcm"), write(rle, tmp_path / "in/rle.dcm")]
    truncated = write_raw_part10(tmp_path / "in/cut.dcm", dataset_bytes(files[0].read_bytes())[:-50])
    assert _send(node, [*files, files[0], truncated]) == [0, 0, 0, 0xC210]
    for path, ds in zip(files, [us, rle], strict=True):
        assert dataset_bytes(_stored_bytes(node, ds.SOPInstanceUID)) == dataset_bytes(path.read_bytes())
    with node.db.session() as s:
        assert s.query(Instance).count() == 2
        rows = {i.file_path: (i.sha256, i.size) for i in s.query(Instance)}
    for rel, (sha256, size) in rows.items():
        data = node.store.path(rel).read_bytes()
        assert (hashlib.sha256(data).hexdigest(), len(data)) == (sha256, size)
        assert node.store.path(rel).stat().st_mode & 0o777 == 0o600
    on_disk = {str(p.relative_to(node.store.root)) for p in (node.store.root / "instances").rglob("*.dcm")}
    assert on_disk == set(rows)
    assert list(node.store.spool_dir.iterdir()) == []  # the duplicate and the truncated one removed
    assert list((tmp_path / "tmp").iterdir()) == []  # nothing went through pynetdicom's temp files
    node.scp.stop()
    assert _config.STORE_RECV_CHUNKED_DATASET is False  # the last streaming SCP restores the switch


def test_max_associations(make_node, tmp_path: Path) -> None:  # noqa: ANN001
    node = make_node(max_associations=1)
    ae = AE(ae_title="HOLDER")
    ae.add_requested_context(Verification)
    held = ae.associate("127.0.0.1", node.port, ae_title=AET)
    assert held.is_established
    try:
        path = write(us_multiframe(frames=1), tmp_path / "a.dcm")
        with pytest.raises(SendError, match="rejected"):
            _send(node, [path])
    finally:
        held.release()
    deadline = time.monotonic() + 5
    while node.scp.active_associations and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _send(node, [path]) == [0]


def test_a_transfer_cut_off_by_an_abort_leaves_nothing_behind(make_node, tmp_path: Path) -> None:  # noqa: ANN001
    """The sender aborts halfway through a 20 MB data set: its partial spool file goes at once."""
    from io import BytesIO

    from pynetdicom.dimse_messages import C_STORE_RQ
    from pynetdicom.dimse_primitives import C_STORE

    node = make_node()
    ds = us_multiframe(frames=90, rows=240, columns=320, rgb=True)  # ~20 MB: hashed on a helper thread
    path = write(ds, tmp_path / "big.dcm")
    ae = AE(ae_title="TESTSCU")
    ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    assoc = ae.associate("127.0.0.1", node.port, ae_title=AET)
    assert assoc.is_established
    req = C_STORE()
    req.MessageID, req.Priority = 1, 2
    req.AffectedSOPClassUID, req.AffectedSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
    req.DataSet = BytesIO(dataset_bytes(path.read_bytes()))
    msg = C_STORE_RQ()
    msg.primitive_to_message(req)
    cx_id = assoc.accepted_contexts[0].context_id
    for i, pdata in enumerate(msg.encode_msg(cx_id, 131072)):
        assoc.dul.send_pdu(pdata)
        if i == 80:  # ~10 MB sent
            break
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any(
        p.stat().st_size > 5_000_000 for p in node.store.spool_dir.iterdir()
    ):
        time.sleep(0.02)
    assert any(p.stat().st_size > 5_000_000 for p in node.store.spool_dir.iterdir()), "nothing was streaming"
    assoc.abort()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(node.store.spool_dir.iterdir()):
        time.sleep(0.02)
    assert list(node.store.spool_dir.iterdir()) == []
    with node.db.session() as s:
        assert s.query(Instance).count() == 0
    assert _send(node, [path]) == [0]  # the sender's retry is stored whole
    assert dataset_bytes(_stored_bytes(node, ds.SOPInstanceUID)) == dataset_bytes(path.read_bytes())
