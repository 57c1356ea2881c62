"""``cardiac-qa demo`` end to end (a smaller run of ``make demo``), and its embedded PACS."""

from __future__ import annotations

import json
import os
import re
import socket
import warnings
from pathlib import Path

import pytest
from pydicom import dcmread
from pynetdicom import AE

from config.settings import Settings
from dicom_node.cli.main import main
from dicom_node.demo import EmbeddedPacs
from dicom_node.demo.inputs import make_short_loop
from dicom_node.demo.sender import SendError, send_files
from dicom_node.demo.summary import format_table
from dicom_node.web import create_app
from dicom_node.web.sample import draw_frames, write_image
from storage.db import Database
from storage.filestore import FileStore

SR_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.88.33",
    "1.2.840.10008.5.1.4.1.1.88.34",
    "1.2.840.10008.5.1.4.1.1.88.22",
}
SC_CLASSES = {"1.2.840.10008.5.1.4.1.1.7", "1.2.840.10008.5.1.4.1.1.7.4"}


def _port_closed(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.slow
def test_demo_small_run_delivers_every_sr_and_sc(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo-out"
    code = main(["demo", "--out", str(out), "--echo", "1", "--mr", "1", "--no-progress", "--timeout", "150"])
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr + stdout
    assert "Traceback" not in stderr
    # the table: one echo loop, the short (not assessable) loop, one MR series
    table = stdout[stdout.index("study") :]
    assert re.search(r"echo-regional\s+\d\.\d \w", table)
    assert re.search(r"mr-wholeheart\s+\d\.\d \w", table)
    assert "not assessable" in table
    delivered = re.findall(r"(\d+)/(\d+)\s*$", table, flags=re.M)
    assert len(delivered) == 3 and all(a == b and int(a) > 0 for a, b in delivered)
    # what the embedded PACS received: SRs and SCs
    classes = [str(dcmread(p, stop_before_pixels=True).SOPClassUID) for p in (out / "pacs").glob("*.dcm")]
    assert sum(c in SR_CLASSES for c in classes) == 3
    assert any(c in SC_CLASSES for c in classes)
    pngs = list((out / "overlays").glob("*.png"))
    assert pngs and all(p.read_bytes()[:4] == b"\x89PNG" for p in pngs)
    html = (out / "summary.html").read_text()
    assert html.count("<img") >= len(pngs) // 2 and "not assessable" in html
    node_port = int(re.search(r"node CARDIAC_QA listening on 127\.0\.0\.1:(\d+)", stdout).group(1))
    pacs_port = int(re.search(r"DEMO_PACS listening on 127\.0\.0\.1:(\d+)", stdout).group(1))
    assert _port_closed(node_port) and _port_closed(pacs_port)  # shut down cleanly
    _dashboard_renders_real_outputs(out / "var")


def _dashboard_renders_real_outputs(data_dir: Path) -> None:
    """The dashboard over the demo's database: every page and picture of real SR/SC outputs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    settings = Settings(storage={"data_dir": data_dir})
    db = Database(settings.storage.effective_database_url())
    try:
        client = TestClient(create_app(settings, db, FileStore(data_dir)))
        html = client.get("/").text
        ids = [int(i) for i in re.findall(r'<tr class="row[^"]*" data-id="(\d+)"', html)]
        assert len(ids) == 3
        for aid in ids:
            assert client.get(f"/analyses/{aid}").status_code == 200
            assert client.get(f"/analyses/{aid}/thumb.png").content[:4] == b"\x89PNG"
        pictures = re.findall(
            r'src="(/analyses/\d+/(?:cine\.gif|outputs/\d+\.png))"',
            "".join(client.get(f"/analyses/{aid}").text for aid in ids),
        )
        assert pictures and all(client.get(p).status_code == 200 for p in pictures)
    finally:
        db.dispose()


def test_embedded_pacs_echo_store_and_index(tmp_path: Path) -> None:
    src = tmp_path / "in" / "sc.dcm"
    write_image(src, draw_frames(3, [3.0] * 6), "1.2.840.10008.5.1.4.1.1.7.4", rgb=True)
    uid = str(dcmread(src, stop_before_pixels=True).SOPInstanceUID)
    with EmbeddedPacs(tmp_path / "pacs", ae_title="TEST_PACS") as pacs:
        ae = AE(ae_title="ECHOER")
        ae.add_requested_context("1.2.840.10008.1.1")
        assoc = ae.associate("127.0.0.1", pacs.port, ae_title="TEST_PACS")
        assert assoc.is_established and assoc.send_c_echo().Status == 0
        assoc.release()
        assert send_files("127.0.0.1", pacs.port, "TEST_PACS", [src], calling_aet="MOD") == 1
        assert pacs.has({uid})
        [obj] = pacs.received
        assert obj.calling_aet == "MOD" and obj.path.name == "00001.dcm"  # no UID in the file name
        assert dcmread(obj.path).NumberOfFrames == 3
        port = pacs.port
    assert _port_closed(port)
    with pytest.raises(SendError, match="rejected or could not be made"):
        send_files("127.0.0.1", port, "TEST_PACS", [src])


def test_short_loop_is_a_new_valid_series(tmp_path: Path) -> None:
    src = tmp_path / "us.dcm"
    write_image(src, draw_frames(12, [3.0] * 6), "1.2.840.10008.5.1.4.1.1.3.1", rgb=False)
    dst = make_short_loop(src, tmp_path / "short.dcm")
    a, b = dcmread(src), dcmread(dst)
    assert b.NumberOfFrames == 4 and b.pixel_array.shape[0] == 4
    assert a.SOPInstanceUID != b.SOPInstanceUID and a.get("SeriesInstanceUID") != b.SeriesInstanceUID


def test_empty_table() -> None:
    assert "(no analyses)" in format_table([])


def test_demo_refuses_an_out_folder_with_a_running_node(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "var" / "node-state.json"
    state.parent.mkdir(parents=True)
    state.write_text(json.dumps({"pid": os.getpid()}))
    code = main(["demo", "--out", str(tmp_path), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1 and "still running" in err
    assert state.is_file()  # nothing of the running node was removed
