"""Access control and privacy: AE titles, (mutual) TLS, the dashboard token, file modes, sentinel PHI.

Retention is in ``test_retention.py``.
"""

from __future__ import annotations

import logging
import ssl
import stat
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from pydantic import ValidationError
from pynetdicom import AE
from sqlalchemy import select
from starlette.testclient import TestClient

from config.settings import Settings
from dicom_node.node import Node, configure_logging
from dicom_node.scp import StoreSCP
from dicom_node.scu import SendError, send_files
from dicom_node.web import create_app
from storage.db import Database
from storage.filestore import FileStore
from storage.schema import Analysis, AnalysisState, AuditEvent, Delivery, Study
from tests.plugins.serve import PLUGINS
from tests.reliability.harness import (
    SENTINELS,
    Pacs,
    assert_no_phi,
    counts,
    free_port,
    send_timed,
    stamp_phi,
    wait_until,
)
from tests.support.dicom_files import US_MULTIFRAME, us_multiframe, write, write_raw_part10

AET = "CARDIAC_QA"


@pytest.fixture
def scp_node(tmp_path: Path, port: int) -> Iterator[object]:
    """``make(**node_section)`` → a started in-process StoreSCP (stopped afterwards)."""
    started: list[SimpleNamespace] = []

    def make(**node: object) -> SimpleNamespace:
        settings = Settings(node={"port": port, "ae_title": AET, **node}, storage={"data_dir": str(tmp_path / "data")})
        store = FileStore(tmp_path / "data")
        db = Database(settings.storage.effective_database_url())
        db.migrate()
        scp = StoreSCP(settings, db, store)
        scp.start()
        n = SimpleNamespace(settings=settings, db=db, store=store, scp=scp, port=port)
        started.append(n)
        return n

    yield make
    for n in started:
        n.scp.stop()
        n.db.dispose()


# -- AE titles -----------------------------------------------------------------------------------------
def _associate(port: int, calling: str, called: str) -> bool:
    ae = AE(ae_title=calling)
    ae.add_requested_context(US_MULTIFRAME)
    ae.acse_timeout = ae.network_timeout = 10
    assoc = ae.associate("127.0.0.1", port, ae_title=called)
    try:
        return bool(assoc.is_established)
    finally:
        if assoc.is_established:
            assoc.release()


def test_calling_ae_allow_list_and_called_ae_check(scp_node) -> None:  # noqa: ANN001
    node = scp_node(allowed_calling_aets=["ECHO_LAB1"], require_called_aet=True)
    assert _associate(node.port, "ECHO_LAB1", AET)
    assert not _associate(node.port, "INTRUDER", AET), "a calling AE not on the allow-list was accepted"
    assert not _associate(node.port, "ECHO_LAB1", "SOMEONE_ELSE"), "a wrong called AE was accepted"
    results = send_timed(node.port, [stamp_phi(us_multiframe(frames=2))], calling_aet="INTRUDER")
    assert [status for _, status, _ in results] == [-1], "an instance from a rejected AE got a status"
    with node.db.session() as s:
        rejected = s.scalars(select(AuditEvent).where(AuditEvent.kind == "association.rejected")).all()
    assert len(rejected) == 3 and {a.calling_aet for a in rejected} == {"INTRUDER", "ECHO_LAB1"}


# -- TLS -----------------------------------------------------------------------------------------------
def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def _ca(d: Path, name: str) -> tuple[Path, Path]:
    key, cert = d / f"{name}.key", d / f"{name}.pem"
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
             "-subj", f"/CN={name}", "-days", "2", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return key, cert


def _leaf(d: Path, name: str, ca: tuple[Path, Path], ext: str) -> tuple[Path, Path]:
    key, csr, cert, extfile = d / f"{name}.key", d / f"{name}.csr", d / f"{name}.pem", d / f"{name}.ext"
    extfile.write_text(ext + "\n")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={name}")
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca[1]), "-CAkey", str(ca[0]), "-CAcreateserial",
             "-out", str(cert), "-days", "2", "-extfile", str(extfile))
    return key, cert


def test_mutual_tls_with_a_test_ca(scp_node, tmp_path: Path) -> None:  # noqa: ANN001
    """PS3.15 B.1: server and client certificates from a CA made here; anything else is refused."""
    ca = _ca(tmp_path, "test-ca")
    rogue_ca = _ca(tmp_path, "rogue-ca")
    server = _leaf(tmp_path, "server", ca, "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth")
    client = _leaf(tmp_path, "client", ca, "extendedKeyUsage=clientAuth")
    rogue = _leaf(tmp_path, "rogue", rogue_ca, "extendedKeyUsage=clientAuth")
    node = scp_node(tls_cert=str(server[1]), tls_key=str(server[0]), tls_ca=str(ca[1]))
    path = write(stamp_phi(us_multiframe(frames=2)), tmp_path / "a.dcm")

    def ctx(trust: Path, cert: tuple[Path, Path] | None) -> ssl.SSLContext:
        c = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(trust))
        if cert is not None:
            c.load_cert_chain(str(cert[1]), str(cert[0]))
        return c

    def send(context: ssl.SSLContext | None) -> list[int | None]:
        return [r.status for r in send_files("127.0.0.1", node.port, [path], called_aet=AET, ssl_context=context,
                                             acse_timeout=5, network_timeout=5)]

    assert send(ctx(ca[1], client)) == [0x0000]
    for name, context in [("no client certificate", ctx(ca[1], None)),
                          ("a certificate from another CA", ctx(ca[1], rogue)),
                          ("plain TCP", None),
                          ("a client that cannot verify the server", ctx(rogue_ca[1], client))]:
        with pytest.raises(SendError):
            send(context)
            pytest.fail(f"accepted {name}")


# -- dashboard ---------------------------------------------------------------------------------------
def test_dashboard_needs_the_token_off_loopback(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ValidationError, match="token is required"):
        Settings(dashboard={"enabled": True, "bind_address": "0.0.0.0"})
    token = "tok-" + "7" * 40
    settings = Settings(storage={"data_dir": str(tmp_path / "data")},
                        dashboard={"enabled": True, "bind_address": "0.0.0.0", "token": token})
    store = FileStore(tmp_path / "data")
    db = Database(settings.storage.effective_database_url())
    db.migrate()
    with db.session() as s:
        s.add(Study(study_instance_uid="2.25.1", patient_name="SENTINEL^PHI^ZZTOP", patient_id="PHI-SENTINEL-4711"))
    paths = ["/", "/?flagged=1", "/analyses/1", "/analyses/1/thumb.png", "/analyses/1/outputs/1.png",
             "/trends", "/static/style.css", "/analyses"]
    caplog.set_level(logging.DEBUG)
    try:
        client = TestClient(create_app(settings, db, store), base_url="http://10.1.2.3")
        for p in paths:
            r = client.get(p, follow_redirects=False)
            assert r.status_code == 401, f"{p} answered {r.status_code} without the token"
            assert client.get(p, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert client.get("/trends", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert client.get(f"/?token={token}").status_code == 200  # once; then the cookie
        assert client.get("/trends").status_code == 200
    finally:
        db.dispose()
    access = [r.getMessage() for r in caplog.records if r.name == "dicom_node.web.access"]
    assert len(access) >= 2 * len(paths)
    # the node's loggers only: httpx (the test's own client) logs the URLs it requests
    text = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith(("httpx", "httpcore")))
    assert token not in text and "token=" not in text, "the token reached a log"
    assert_no_phi(text, "the dashboard log")


# -- the node as a whole: file modes and sentinel PHI in every log -------------------------------------
def _modes(root: Path) -> list[str]:
    bad = []
    for p in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(p.lstat().st_mode)
        want = 0o700 if p.is_dir() else 0o600
        if mode & ~want:
            bad.append(f"{oct(mode)} {p.relative_to(root)}")
    return bad


def test_node_keeps_data_private_and_no_phi_reaches_any_log(
    tmp_path: Path, port: int, pacs: Pacs, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """In-process node at DEBUG (workers log to the same stderr): ingest, analysis, outputs, delivery,
    a refused C-STORE, a rejected association and dashboard requests; then every log line, audit
    message, error column and the access log is searched for the sentinel patient, and every file
    under ``data_dir`` must be 0600 and every directory 0700."""
    pacs.start()
    token = "dash-" + "9" * 40
    settings = Settings(
        node={"port": port, "ae_title": AET},
        storage={"data_dir": str(tmp_path / "data")},
        assembly={"series_stable_seconds": 0.5, "poll_seconds": 0.2},
        workers={"processes": 1, "providers": "cpu"},
        analyzers={"plugins": list(PLUGINS)},
        logging={"level": "DEBUG"},
        dashboard={"enabled": True, "port": free_port(), "token": token},
        delivery={"backoff_seconds": 0.5, "backoff_max_seconds": 1.0},
        destinations=[{"name": "pacs", "ae_title": pacs.ae_title, "host": "127.0.0.1", "port": pacs.port}],
    )
    caplog.set_level(logging.DEBUG)
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    quiet = {n: logging.getLogger(n).level for n in ("pynetdicom", "apscheduler", "alembic", "highdicom")}
    configure_logging(settings)  # as serve does: a stderr handler at DEBUG (capfd sees workers' too)
    node = Node(settings)
    node.start()
    db = node.db
    try:
        loops = [stamp_phi(us_multiframe(frames=8, rows=48, columns=64, seed=70 + i)) for i in range(2)]
        assert [s for _, s, _ in send_timed(port, loops)] == [0x0000, 0x0000]
        bad = write_raw_part10(tmp_path / "bad.dcm", b"\x08\x00\x20\x00DA\x08\x00" + b"19010203" + b"junk" * 9)
        assert send_files("127.0.0.1", port, [bad], called_aet=AET)[0].status == 0xC210
        assert [s for _, s, _ in send_timed(port, loops[:1], called_aet="NOT_THE_NODE")] == [-1]

        def delivered() -> bool:
            c = counts(db)
            return bool(c["outputs"]) and c["deliveries"].get("delivered", 0) == len(c["outputs"])

        wait_until(delivered, 90, "outputs delivered")
        with db.session() as s:
            aid = s.scalars(select(Analysis.id).where(Analysis.state == AnalysisState.DONE)).first()
        base = f"http://127.0.0.1:{node.dashboard.port}"
        for path in ("/", f"/analyses/{aid}", f"/analyses/{aid}/thumb.png", "/trends", f"/?token={token}"):
            req = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
            with urllib.request.urlopen(req, timeout=30) as r:  # noqa: S310 — loopback only
                assert r.status == 200
        running_modes = _modes(Path(settings.storage.data_dir))  # node-state.json etc. exist only now
    finally:
        node.stop(grace_seconds=5)
        root.handlers[:] = saved[0]  # the handler writes to the captured stderr, which closes after us
        root.setLevel(saved[1])
        for name, level in quiet.items():
            logging.getLogger(name).setLevel(level)
        logging.captureWarnings(False)
    out, err = capfd.readouterr()
    logs = out + err + "\n".join(r.getMessage() for r in caplog.records)
    assert "association accepted" in logs and "DEBUG" in logs, "the node's DEBUG log was not captured"
    assert_no_phi(logs, "the node's log (node, workers, dashboard access log)")
    assert token not in logs
    db = Database(settings.storage.effective_database_url())
    try:
        with db.session() as s:
            texts = [a.message for a in s.scalars(select(AuditEvent))]
            texts += [a.error_message or "" for a in s.scalars(select(Analysis))]
            texts += [d.last_error or "" for d in s.scalars(select(Delivery))]
    finally:
        db.dispose()
    assert any("0xC210" in t for t in texts)
    assert_no_phi("\n".join(texts), "audit / error messages")
    assert SENTINELS  # the sentinel list is not empty
    bad_modes = sorted(set(running_modes + _modes(Path(settings.storage.data_dir))))
    assert not bad_modes, "not private:\n" + "\n".join(bad_modes)
