"""Hostile input over real associations: a failure status or stored-then-not-assessable, never a crash.

Hypothesis builds C-STORE data sets from hand-encoded elements (explicit VR little endian, PS3.5
7.1.2) with bogus Rows x Columns x Frames, wrong VRs, pixel data shorter than declared, huge
declared lengths, deeply nested sequences, truncation and flipped bytes, or plain non-DICOM bytes,
and sends each over a real association (pynetdicom streams the bytes of a Part-10 file as they
are). A well-behaved sender on a second association must keep getting 0x0000 within a bound the
whole time. Whatever the node accepts must be readable by the echo analyzer's decoder or give its
``DecodeError`` (which the analyzer reports as ``assessable: false``).
"""

from __future__ import annotations

import os
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.uid import JPEGBaseline8Bit
from sqlalchemy import select

from analyzers.echo.decode import DecodeError, decode_frames
from config.settings import Settings
from dicom_node.scp import StoreSCP
from dicom_node.scu import send_files
from storage.db import Database
from storage.filestore import FileStore
from storage.schema import AuditEvent, Instance
from tests.reliability.harness import percentile, send_timed, stamp_phi
from tests.support.dicom_files import US_MULTIFRAME, us_multiframe, write, write_raw_part10

AET = "CARDIAC_QA"
MAX_PIXELS = 4_000_000  # a small budget so that bogus headers also exercise the budget check
OK_STATUSES = {0x0000, 0xA700, 0xC210}
GOOD_BOUND_S = 10.0  # a concurrent well-behaved C-STORE must never take longer than this


@pytest.fixture
def node(tmp_path: Path, port: int) -> Iterator[SimpleNamespace]:
    settings_ = Settings(node={"port": port, "ae_title": AET, "max_associations": 8},
                         storage={"data_dir": str(tmp_path / "data")},
                         limits={"max_pixels_per_instance": MAX_PIXELS})
    store = FileStore(tmp_path / "data")
    db = Database(settings_.storage.effective_database_url())
    db.migrate()
    scp = StoreSCP(settings_, db, store)
    scp.start()
    try:
        yield SimpleNamespace(settings=settings_, db=db, store=store, scp=scp, port=port, tmp=tmp_path)
    finally:
        scp.stop()
        db.dispose()


# -- hand encoding --------------------------------------------------------------------------------
_LONG = {"OB", "OW", "SQ", "UN", "UT", "UC", "UR", "OD", "OF", "OL", "OV"}


def _el(tag: int, vr: str, value: bytes, length: int | None = None) -> bytes:
    group, elem = tag >> 16, tag & 0xFFFF
    n = len(value) if length is None else length
    if vr in _LONG:
        return struct.pack("<HH2sHI", group, elem, vr.encode("latin-1"), 0, n) + value
    return struct.pack("<HH2sH", group, elem, vr.encode("latin-1"), n & 0xFFFF) + value


def _text(s: str) -> bytes:
    b = s.encode("ascii")
    return b + (b" " if len(b) % 2 else b"")


def _uid(s: str) -> bytes:
    b = s.encode("ascii")
    return b + (b"\0" if len(b) % 2 else b"")


def _nested(depth: int) -> bytes:
    """A private sequence nested ``depth`` times, all with undefined lengths."""
    inner = _el(0x00291011, "LO", _text("x"))
    for _ in range(depth):
        item = struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF) + inner + struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
        inner = _el(0x00291010, "SQ", b"", 0xFFFFFFFF) + item + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    return inner


_UIDS = st.integers(10**37, 10**38 - 1)


@st.composite
def payloads(draw: st.DrawFn) -> tuple[str, bytes]:
    """(SOP Instance UID, encoded data set) — mostly DICOM-shaped, some plain garbage."""
    uid, study, series = (f"2.25.{draw(_UIDS)}" for _ in range(3))  # drawn: hypothesis must replay them
    if draw(st.integers(0, 9)) == 0:
        return uid, draw(st.binary(min_size=0, max_size=3000))
    dims = st.one_of(st.integers(0, 64), st.integers(0, 65535))
    rows, cols = draw(dims), draw(dims)
    frames = draw(st.sampled_from(["1", "2", "8", "0", "-3", "99999", "abc", "", "1e9"]))
    spp = draw(st.sampled_from([1, 3, 0, 65535]))
    rows_vr = draw(st.sampled_from(["US", "US", "US", "SS", "UL", "DS", "XX", "SQ"]))
    pixels = draw(st.binary(min_size=0, max_size=2048))
    parts = {
        0x00080016: _el(0x00080016, "UI", _uid(str(US_MULTIFRAME))),
        0x00080018: _el(0x00080018, "UI", _uid(uid)),
        0x00080060: _el(0x00080060, "CS", _text("US")),
        0x00100010: _el(0x00100010, "PN", _text("SENTINEL^PHI^ZZTOP")),
        0x00100020: _el(0x00100020, "LO", _text("PHI-SENTINEL-4711")),
        0x0020000D: _el(0x0020000D, "UI", _uid(study)),
        0x0020000E: _el(0x0020000E, "UI", _uid(series)),
        0x00280002: _el(0x00280002, "US", struct.pack("<H", spp)),
        0x00280004: _el(0x00280004, "CS", _text("MONOCHROME2")),
        0x00280008: _el(0x00280008, "IS", _text(frames)),
        0x00280010: _el(0x00280010, rows_vr, struct.pack("<H", rows)),
        0x00280011: _el(0x00280011, "US", struct.pack("<H", cols)),
        0x00280100: _el(0x00280100, "US", struct.pack("<H", 8)),
        0x00280101: _el(0x00280101, "US", struct.pack("<H", 8)),
        0x00280102: _el(0x00280102, "US", struct.pack("<H", 7)),
        0x00280103: _el(0x00280103, "US", struct.pack("<H", 0)),
        0x7FE00010: _el(0x7FE00010, "OB", pixels + (b"\0" if len(pixels) % 2 else b"")),
    }
    if draw(st.integers(0, 2)) == 0:
        parts[0x00291010] = _nested(draw(st.integers(1, 60)))
    if draw(st.integers(0, 5)) == 0:  # a huge declared length with few bytes behind it
        parts[0x00111010] = _el(0x00111010, "OB", b"\1\2\3\4", draw(st.sampled_from([0xFFFFFFF0, 0x7FFFFFFF, 1 << 30])))
    body = b"".join(parts[t] for t in sorted(parts))
    if draw(st.integers(0, 5)) == 0:  # truncated in transit
        body = body[: draw(st.integers(0, max(len(body) - 1, 0)))]
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 3]))):  # flipped bytes
        if body:
            i = draw(st.integers(0, len(body) - 1))
            body = body[:i] + bytes([body[i] ^ draw(st.integers(1, 255))]) + body[i + 1 :]
    return uid, body


class GoodSender(threading.Thread):
    """Sends small valid loops on its own association(s) until stopped; records each latency."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.stop = threading.Event()
        self.results: list[tuple[str, int, float]] = []

    def run(self) -> None:
        seed = 0
        while not self.stop.is_set():
            batch = [stamp_phi(us_multiframe(frames=2, rows=16, columns=16, seed=seed + i)) for i in range(3)]
            seed += 3
            self.results += send_timed(self.port, batch, calling_aet="GOODMOD")


def test_hostile_payloads_get_a_failure_status_or_are_stored_and_never_stall_others(
    node: SimpleNamespace,
) -> None:
    good = GoodSender(node.port)
    good.start()
    seen: dict[int, int] = {}
    try:
        _run_examples(node, seen)
    finally:
        good.stop.set()
        good.join(60)
    assert not good.is_alive(), "the concurrent sender stalled"
    latencies = [secs for _, _, secs in good.results]
    assert len(good.results) >= 3 and all(status == 0x0000 for _, status, _ in good.results)
    assert max(latencies) < GOOD_BOUND_S, f"a concurrent C-STORE took {max(latencies):.1f} s"
    assert node.scp.running and not any(node.store.spool_dir.iterdir())
    assert seen.get(0xC210, 0) > 0 and seen.get(0x0000, 0) > 0, f"the strategy is one-sided: {seen}"
    print(f"\nhostile: statuses {dict(sorted(seen.items()))}; concurrent sender {len(latencies)} C-STOREs, "
          f"p95 {percentile(latencies, 0.95) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms")


def _run_examples(node: SimpleNamespace, seen: dict[int, int]) -> None:
    path = node.tmp / "hostile.dcm"

    @settings(max_examples=40, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(payloads())
    def one(payload: tuple[str, bytes]) -> None:
        uid, body = payload
        write_raw_part10(path, body, sop_instance=uid)
        (result,) = send_files("127.0.0.1", node.port, [path], called_aet=AET, acse_timeout=10,
                               dimse_timeout=20, network_timeout=20)
        assert result.status in OK_STATUSES, f"status {result.status!r} ({result.error})"
        seen[result.status] = seen.get(result.status, 0) + 1
        with node.db.session() as s:
            row = s.scalars(
                select(Instance).where(Instance.sop_instance_uid == uid, Instance.is_current.is_(True))
            ).first()
        if result.status != 0x0000:
            if row is not None:  # hypothesis may replay a UID: a refusal must not replace the stored one
                assert not node.store.path(row.file_path).read_bytes().endswith(body) or not body
            return
        assert row is not None, "acknowledged but not recorded"
        stored = node.store.path(row.file_path).read_bytes()
        assert stored.endswith(body), "stored bytes differ from what was sent"
        try:  # the analyzer's way in: decodes, or says why not (assessable: false)
            decode_frames(pydicom.dcmread(node.store.path(row.file_path)))
        except DecodeError:
            pass

    one()


def test_pixel_budget_refuses_a_decompression_bomb_at_ingest(node: SimpleNamespace) -> None:
    """Header declares 65535 x 65535 x 1000 samples; the JPEG data is 200 bytes → 0xA700, nothing stored."""
    jpeg = b"\xff\xd8" + os.urandom(196) + b"\xff\xd9"

    def compressed(rows: int, cols: int, frames: int) -> Dataset:
        ds = stamp_phi(us_multiframe(frames=1, rows=8, columns=8))
        ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
        ds.Rows, ds.Columns, ds.NumberOfFrames = rows, cols, frames
        ds.PixelData = encapsulate([jpeg] * min(frames, 4))
        ds["PixelData"].VR = "OB"
        ds.PhotometricInterpretation = "YBR_FULL_422"
        return ds

    bomb, modest = compressed(65535, 65535, 1000), compressed(64, 64, 4)
    paths = [write(bomb, node.tmp / "bomb.dcm"), write(modest, node.tmp / "modest.dcm")]
    statuses = [r.status for r in send_files("127.0.0.1", node.port, paths, called_aet=AET)]
    assert statuses == [0xA700, 0x0000], [hex(s or 0) for s in statuses]
    with node.db.session() as s:
        assert [r.sop_instance_uid for r in s.scalars(select(Instance))] == [str(modest.SOPInstanceUID)]
        (audit,) = s.scalars(select(AuditEvent).where(AuditEvent.status == 0xA700)).all()
    assert "pixel_budget_exceeded" in audit.message
    assert not any(node.store.spool_dir.iterdir())


def test_pixel_data_shorter_than_declared_is_stored_then_not_assessable(node: SimpleNamespace) -> None:
    """A well-formed element, but 1000 bytes where Rows x Columns x Frames says 24576: the header is
    fine, so the node stores it as sent; the echo analyzer's decoder then says why it cannot read it."""
    ds = stamp_phi(us_multiframe(frames=8, rows=48, columns=64, seed=99))
    ds.PixelData = bytes(ds.PixelData[:1000])
    path = write(ds, node.tmp / "short.dcm")
    assert [r.status for r in send_files("127.0.0.1", node.port, [path], called_aet=AET)] == [0x0000]
    with node.db.session() as s:
        (row,) = s.scalars(select(Instance)).all()
    assert node.store.path(row.file_path).read_bytes().endswith(path.read_bytes()[-1000:])
    with pytest.raises(DecodeError):
        decode_frames(pydicom.dcmread(node.store.path(row.file_path)))


def test_idle_connections_hold_a_slot_no_longer_than_the_acse_timeout(tmp_path: Path, port: int) -> None:
    """Connections that never send A-ASSOCIATE-RQ (a slowloris) fill ``max_associations``; the node
    must drop them within ``node.acse_timeout`` (the ARTIM timer, PS3.8 9.1.5) and accept again."""
    acse = 2.0
    settings_ = Settings(node={"port": port, "ae_title": AET, "max_associations": 2, "acse_timeout": acse},
                         storage={"data_dir": str(tmp_path / "data")})
    db = Database(settings_.storage.effective_database_url())
    store = FileStore(tmp_path / "data")
    db.migrate()
    scp = StoreSCP(settings_, db, store)
    scp.start()
    idle = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(2)]
    try:
        time.sleep(0.3)
        loop = stamp_phi(us_multiframe(frames=2, rows=16, columns=16))
        assert [s for _, s, _ in send_timed(port, [loop])] == [-1], "the slots were not taken (test broken)"
        t0 = time.monotonic()
        for sock in idle:
            assert sock.recv(16) == b"", "the node sent data to a peer that never asked for an association"
        dropped_after = time.monotonic() - t0
        assert dropped_after < acse + 1.5, f"idle connections held for {dropped_after:.1f} s"
        assert [s for _, s, _ in send_timed(port, [loop])] == [0x0000]
        print(f"\nidle: 2 idle connections dropped {dropped_after:.1f} s after the rejected association "
              f"(acse_timeout {acse:.0f} s); accepted again")
    finally:
        for sock in idle:
            sock.close()
        scp.stop()
        db.dispose()
