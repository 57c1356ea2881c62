"""Interop with real DCMTK peers: storescu and echoscu → the node's StoreSCP on loopback.

``storescu`` exits 0 even when a store failed, so success is judged from its ``-v`` log: one
"Received Store Response (Success)" per file and no error line. storescu cannot decompress
while sending and proposes uncompressed syntaxes unless told, so each compressed transfer syntax
is sent with its own option (``-xy`` JPEG baseline, ``-xr`` RLE).
"""

from __future__ import annotations

import hashlib
import random
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from pydicom import dcmread

from config.settings import Settings
from dicom_node.scp import StoreSCP
from storage.db import Database
from storage.filestore import FileStore
from storage.schema import AuditEvent, Instance, Series
from tests.support.dicom_files import enhanced_mr, mr_slices, us_multiframe, write

pytestmark = pytest.mark.interop

AET, MODALITY = "CARDIAC_QA", "MODALITY1"


def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} (DCMTK) is required for the interop tests: apt-get install dcmtk"
    return path


@pytest.fixture
def node(tmp_path: Path, port: int):  # noqa: ANN201
    settings = Settings(
        node={"port": port, "ae_title": AET, "allowed_calling_aets": (MODALITY,)},
        storage={"data_dir": str(tmp_path / "data")},
    )
    store = FileStore(tmp_path / "data")
    db = Database(settings.storage.effective_database_url())
    db.migrate()
    scp = StoreSCP(settings, db, store)
    scp.start()
    yield SimpleNamespace(db=db, store=store, port=port)
    scp.stop()
    db.dispose()


def storescu(node: SimpleNamespace, files: list[Path], *options: str, aet: str = MODALITY) -> str:
    cmd = [_tool("storescu"), "-v", "-aet", aet, "-aec", AET, *options, "127.0.0.1", str(node.port)]
    proc = subprocess.run([*cmd, *map(str, files)], capture_output=True, text=True, timeout=120)
    return proc.stdout + proc.stderr


def assert_all_stored(log: str, files: list[Path]) -> None:
    assert log.count("Received Store Response (Success)") == len(files), log[-2000:]
    assert not [line for line in log.splitlines() if line.startswith(("E:", "F:"))], log[-2000:]


def assert_identical(node: SimpleNamespace, files: list[Path]) -> None:
    """Every sent file is stored and recorded, element by element, pixel data byte for byte."""
    with node.db.session() as s:
        rows = {i.sop_instance_uid: i for i in s.query(Instance).filter_by(is_current=True)}
    for path in files:
        sent = dcmread(path)
        row = rows[sent.SOPInstanceUID]
        stored_path = node.store.path(row.file_path)
        data = stored_path.read_bytes()
        assert row.size == len(data) and row.sha256 == hashlib.sha256(data).hexdigest()
        assert row.transfer_syntax_uid == sent.file_meta.TransferSyntaxUID
        stored = dcmread(stored_path)
        assert stored.file_meta.TransferSyntaxUID == sent.file_meta.TransferSyntaxUID
        assert [e.tag for e in stored] == [e.tag for e in sent]
        for elem in sent:
            assert stored[elem.tag] == elem, f"{elem.keyword or elem.tag} differs"
        assert stored.PixelData == sent.PixelData  # byte for byte (fragments included)


def test_us_multiframe_uncompressed_jpeg_baseline_and_rle(node: SimpleNamespace, tmp_path: Path) -> None:
    raw = write(us_multiframe(frames=10, rows=120, columns=160, rgb=True, seed=1), tmp_path / "us_raw.dcm")
    mono = write(us_multiframe(frames=10, rows=120, columns=160, seed=2), tmp_path / "us_mono.dcm")
    # compressed copies of other instances (a compressed copy keeps its source's SOP Instance UID)
    rgb_src = write(us_multiframe(frames=10, rows=120, columns=160, rgb=True, seed=5), tmp_path / "src1.dcm")
    mono_src = write(us_multiframe(frames=10, rows=120, columns=160, seed=6), tmp_path / "src2.dcm")
    jpeg, rle = tmp_path / "us_jpeg.dcm", tmp_path / "us_rle.dcm"
    subprocess.run([_tool("dcmcjpeg"), "+eb", str(rgb_src), str(jpeg)], check=True, timeout=60)
    subprocess.run([_tool("dcmcrle"), str(mono_src), str(rle)], check=True, timeout=60)
    assert dcmread(jpeg).file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.50"
    assert dcmread(rle).file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.5"
    assert_all_stored(storescu(node, [raw, mono]), [raw, mono])
    assert_all_stored(storescu(node, [jpeg], "-xy"), [jpeg])
    assert_all_stored(storescu(node, [rle], "-xr"), [rle])
    assert_identical(node, [raw, mono, jpeg, rle])
    with node.db.session() as s:
        assert {r.number_of_frames for r in s.query(Instance)} == {10}
        assert {r.calling_aet for r in s.query(Instance)} == {MODALITY}


def test_classic_mr_series_in_shuffled_order_and_enhanced_mr(node: SimpleNamespace, tmp_path: Path) -> None:
    slices = mr_slices(100, rows=16, columns=16, seed=3)
    files = [write(ds, tmp_path / f"mr/{i:03d}.dcm") for i, ds in enumerate(slices)]
    random.Random(7).shuffle(files)
    enhanced = write(enhanced_mr(frames=12, seed=4), tmp_path / "enhanced.dcm")
    assert_all_stored(storescu(node, [*files, enhanced]), [*files, enhanced])
    assert_identical(node, [*files, enhanced])
    with node.db.session() as s:
        series = {x.series_instance_uid: x for x in s.query(Series)}
        classic = series[slices[0].SeriesInstanceUID]
        assert s.query(Instance).filter_by(series_id=classic.id).count() == 100
        assert classic.modality == "MR" and classic.manufacturer == "CQA Test"
        assert (
            s.query(Instance)
            .filter_by(sop_instance_uid=dcmread(enhanced).SOPInstanceUID)
            .one()
            .number_of_frames
            == 12
        )


def test_echoscu_and_calling_ae_allow_list(node: SimpleNamespace, tmp_path: Path) -> None:
    ok = subprocess.run(
        [_tool("echoscu"), "-v", "-aet", MODALITY, "-aec", AET, "127.0.0.1", str(node.port)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0 and "Received Echo Response (Success)" in ok.stdout + ok.stderr
    bad = subprocess.run(
        [_tool("echoscu"), "-v", "-aet", "INTRUDER", "-aec", AET, "127.0.0.1", str(node.port)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode != 0 and "Association Rejected" in bad.stdout + bad.stderr
    path = write(us_multiframe(frames=2), tmp_path / "x.dcm")
    log = storescu(node, [path], aet="INTRUDER")
    assert "Association Rejected" in log and "Received Store Response" not in log
    with node.db.session() as s:
        assert s.query(Instance).count() == 0
        assert s.query(AuditEvent).filter_by(kind="association.rejected", calling_aet="INTRUDER").count() == 2
