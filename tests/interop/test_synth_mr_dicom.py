"""Synthetic MR files against real tools: dicom3tools ``dciodvfy`` and DCMTK ``storescu``."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pydicom
import pytest

from models.synthetic.mr import generate_studies
from models.synthetic.mr.studies import CASES

pytestmark = pytest.mark.interop


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run `bash scripts/test-services` (make test installs it)")
    return path


@pytest.fixture(scope="module")
def studies(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    out = tmp_path_factory.mktemp("mr-interop")
    return out, generate_studies(out, n=len(CASES), seed=11, small=True)


def _files_to_check(out: Path, truth: list[dict]) -> list[Path]:
    """Every enhanced file, and per classic series two slices plus every localizer file."""
    files: list[Path] = []
    for e in truth:
        series = sorted((out / e["folder"]).glob("*.dcm"))
        files += series[:2]
        if e["awkward"] == "localizer":
            files += [p for p in series[2:] if "LOCALIZER" in pydicom.dcmread(p, stop_before_pixels=True).ImageType]
    return files


def test_dciodvfy_reports_no_errors(studies: tuple[Path, list[dict]]) -> None:
    out, truth = studies
    dciodvfy = _tool("dciodvfy")
    files = _files_to_check(out, truth)
    assert len(files) == sum(min(2, e["n_files"]) for e in truth) + 3  # + the three localizer files
    for path in files:
        res = subprocess.run([dciodvfy, str(path)], capture_output=True, text=True, timeout=60)
        errors = [ln for ln in (res.stdout + res.stderr).splitlines() if ln.startswith("Error")]
        assert not errors, f"{path.relative_to(out)}: {errors}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_storescu_sends_every_kind_of_file(studies: tuple[Path, list[dict]], tmp_path: Path) -> None:
    out, truth = studies
    storescp, storescu = _tool("storescp"), _tool("storescu")
    port, recv = _free_port(), tmp_path / "recv"
    recv.mkdir()
    scp = subprocess.Popen([storescp, "-od", str(recv), "-aet", "MRSCP", str(port)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(50):  # wait for the listener
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        # Every kind of object (each SOP class, orientation and awkward case); the whole set
        # takes ~80 ms per file on loopback, too slow for the test budget.
        sent = _files_to_check(out, truth)
        res = subprocess.run([storescu, "-aec", "MRSCP", "127.0.0.1", str(port), *map(str, sent)],
                             capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stderr[-2000:]
        assert len(list(recv.iterdir())) == len(sent)
    finally:
        scp.terminate()
        scp.wait(timeout=10)
