"""Issue 3: DCMTK ``storescu`` can send every file the generators write (to a real ``storescp``)."""

from __future__ import annotations

import subprocess
from collections import defaultdict
from pathlib import Path

import pydicom

from models.synthetic.echo import generate_studies as echo_studies
from models.synthetic.mr import generate_studies as mr_studies
from tests.conftest import free_port
from tests.interop.peers import loopback_shim, start_storescp

# storescu proposes one transfer-syntax family per run ("send each transfer syntax it has").
STORESCU_FLAG = {
    "1.2.840.10008.1.2.1": "-x=",
    "1.2.840.10008.1.2": "-xi",
    "1.2.840.10008.1.2.4.50": "-xy",
    "1.2.840.10008.1.2.4.51": "-xx",
    "1.2.840.10008.1.2.4.70": "-xs",
    "1.2.840.10008.1.2.5": "-xr",
    "1.2.840.10008.1.2.4.80": "-xt",
    "1.2.840.10008.1.2.4.90": "-xv",
}


def test_storescu_sends_every_generated_file(tmp_path: Path) -> None:
    data = tmp_path / "data"
    echo_studies(data / "e", n=7, seed=11, small=True)  # 7 covers every encoding + Doppler + 2-frame
    mr_studies(data / "m", n=9, seed=11, small=True)  # one series of each kind, awkward ones too
    groups: dict[str, list[str]] = defaultdict(list)
    for f in sorted(data.rglob("*.dcm")):
        ts = str(pydicom.dcmread(f, stop_before_pixels=True).file_meta.TransferSyntaxUID)
        groups[ts].append(str(f))
    assert set(groups) <= set(STORESCU_FLAG), f"no storescu flag for {set(groups) - set(STORESCU_FLAG)}"

    port = free_port()
    (tmp_path / "shim").mkdir()
    peer = start_storescp(tmp_path / "scp", port, loopback_shim(tmp_path / "shim"))
    try:
        sent = 0
        for ts, files in groups.items():
            r = subprocess.run(
                ["storescu", "-v", "-R", STORESCU_FLAG[ts], "-aec", "STORESCP", "127.0.0.1", str(port), *files],
                capture_output=True, text=True, timeout=120,
            )
            log = r.stdout + r.stderr
            # storescu may exit 0 even when a store failed: judge from its log.
            assert "E:" not in log, log[-2000:]
            assert log.count("Received Store Response (Success)") == len(files), (ts, log[-2000:])
            sent += len(files)
    finally:
        peer.stop()
    received = list((tmp_path / "scp" / "received").iterdir())
    assert len(received) == sent == sum(len(v) for v in groups.values())
