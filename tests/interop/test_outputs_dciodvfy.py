"""Every SR and SC the node produces passes dciodvfy (dicom3tools) with zero errors, and every SR
parses with DCMTK dsrdump: echo in all three views (with and without region polygons), MR, not
assessable, and sources that are themselves invalid (malformed DA/TM/AS, odd person names, missing
type 2 attributes, retired elements). dciodvfy's warnings are allowed (docs/outputs.md lists the
ones it gives and why)."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset

from config.settings import Settings
from dicom_node.reports import build_output_objects
from dicom_node.reports import examples as ex

pytestmark = [pytest.mark.interop, pytest.mark.filterwarnings("ignore:Invalid value for VR")]


def _reread(ds: Dataset) -> Dataset:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return dcmread(io.BytesIO(buf.getvalue()))


def _cases() -> dict[str, tuple]:
    cases: dict[str, tuple] = {}
    for view in ("A4C", "A2C", "ALAX"):
        src = _reread(ex.echo_source(view, frames=4))
        cases[f"echo-{view}"] = (ex.echo_result(src, view), [src], ex.echo_geometry(src))
    bad = _reread(ex.echo_source("A4C", frames=3, malformed=True, seed=7))
    cases["echo-malformed-source"] = (ex.echo_result(bad, None), [bad], None)
    mr = [_reread(s) for s in ex.mr_sources(slices=10, size=32)]
    cases["mr"] = (ex.mr_result(mr), mr, None)
    mr_bad = [_reread(s) for s in ex.mr_sources(slices=6, size=16, malformed=True, seed=3)]
    cases["mr-malformed-source"] = (ex.mr_result(mr_bad), mr_bad, None)
    na = _reread(ex.echo_source("A2C", frames=2))
    cases["not-assessable"] = (ex.not_assessable_result(na), [na], None)
    return cases


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, Path]]:
    out = tmp_path_factory.mktemp("outputs")
    files = []
    for name, (result, sources, geometry) in _cases().items():
        for obj in build_output_objects(result, sources, Settings(), geometry=geometry):
            path = out / f"{name}-{obj.kind}-{obj.index}.dcm"
            obj.dataset.save_as(path, enforce_file_format=True)
            files.append((obj.kind, path))
    return files


def test_every_output_passes_dciodvfy(written: list[tuple[str, Path]]) -> None:
    kinds = {k for k, _ in written}
    assert kinds == {"sr", "sc-cine", "sc-summary", "sc-mr"}
    failures = {}
    for _, path in written:
        proc = subprocess.run(["dciodvfy", "-new", str(path)], capture_output=True, text=True, timeout=60)
        errors = [line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("Error")]
        if errors:
            failures[path.name] = errors[:5]
    assert failures == {}


def test_every_sr_parses_with_dsrdump(written: list[tuple[str, Path]]) -> None:
    srs = [p for k, p in written if k == "sr"]
    assert len(srs) == 7
    for path in srs:
        proc = subprocess.run(["dsrdump", str(path)], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, (path.name, proc.stderr[-500:])
        assert "Quality Assessment" in proc.stdout and "PRELIMINARY" in proc.stdout
        assert "E:" not in proc.stderr
