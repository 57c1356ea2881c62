"""Synthetic echo DICOM: every encoding passes dciodvfy, round-trips through pydicom, is reproducible."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest

from models.synthetic.common import derive_uid, synthetic_patient
from models.synthetic.dicom_us import ENCODINGS, VIEW_CODES, UsRegion, UsSeriesInfo, write_us_multiframe
from models.synthetic.echo import make_loop
from models.synthetic.echo.studies import loop_rgb

N_STUDIES = 7  # covers all six encodings, the colour-Doppler study (k=5) and the 2-frame loop (k=6)


@pytest.fixture(scope="module")
def studies(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    from models.synthetic.echo import generate_studies

    out = tmp_path_factory.mktemp("synth_echo")
    generate_studies(out, n=N_STUDIES, seed=31, small=True, preview=out / "preview.png")
    return out, json.loads((out / "echo" / "truth.json").read_text())


def _dciodvfy_errors(path: Path) -> list[str]:
    exe = shutil.which("dciodvfy")
    assert exe, "dciodvfy (dicom3tools) is required for the interop tests"
    res = subprocess.run([exe, str(path)], capture_output=True, text=True, timeout=60)
    return [line for line in (res.stdout + res.stderr).splitlines() if line.startswith("Error")]


def test_every_file_passes_dciodvfy(studies: tuple[Path, dict]) -> None:
    out, truth = studies
    seen = set()
    for entry in truth["files"]:
        assert _dciodvfy_errors(out / entry["path"]) == [], entry["path"]
        seen.add((entry["photometric"], entry["transfer"]))
    assert seen == set(ENCODINGS)
    assert any(e["colour_doppler"] for e in truth["files"])
    assert any(e["frames"] == 2 for e in truth["files"])
    assert (out / "preview.png").stat().st_size > 1000


def test_headers_match_truth(studies: tuple[Path, dict]) -> None:
    out, truth = studies
    for entry in truth["files"]:
        ds = pydicom.dcmread(out / entry["path"])
        assert ds.SOPInstanceUID == entry["sop_instance_uid"]
        assert ds.PhotometricInterpretation == entry["photometric"]
        assert int(ds.NumberOfFrames) == entry["frames"] == len(entry["grades"])
        assert ds.PatientName.family_name == "SYNTH" and str(ds.PatientName).startswith("SYNTH^ECHO^")
        region = ds.SequenceOfUltrasoundRegions[0]
        assert region.PhysicalUnitsXDirection == 3
        assert region.PhysicalDeltaX == pytest.approx(entry["pixel_spacing_mm"][1] / 10, rel=1e-5)
        assert region.PhysicalDeltaY == pytest.approx(entry["pixel_spacing_mm"][0] / 10, rel=1e-5)
        ft = ds.FrameTime if "FrameTime" in ds else ds.FrameTimeVector[-1]
        assert float(ft) == pytest.approx(entry["frame_time_ms"], abs=1e-3)
        if entry["view_source"] == "code":
            assert ds.ViewCodeSequence[0].CodeValue == VIEW_CODES[entry["view"]][0]
        else:
            assert "ViewCodeSequence" not in ds
        if entry["colour_doppler"]:
            assert [r.RegionDataType for r in ds.SequenceOfUltrasoundRegions] == [1, 2]
        arr = ds.pixel_array
        assert (
            arr.shape[:3] == (entry["frames"], entry["rows"], entry["columns"])
            if entry["frames"] > 1
            else True
        )


def test_pixel_round_trip_per_encoding(tmp_path: Path) -> None:
    loop = make_loop(np.random.default_rng(4), view="A2C", frames=3, height=120, width=160)
    grey, rgb = loop.frames, loop_rgb(loop)
    r = loop.raster
    region = UsRegion(0, 0, r.width - 1, r.height - 1, int(r.apex_col), int(r.apex_row), r.dx, r.dz)
    for i, (phot, ts) in enumerate(ENCODINGS):
        info = UsSeriesInfo(
            synthetic_patient(0, "ECHO", 0),
            derive_uid(0, i, "se"),
            derive_uid(0, i, "in"),
            1,
            1,
            "A2C",
            loop.frame_time_ms,
            loop.heart_rate_bpm,
            (region,),
            view="A2C",
        )
        src = grey if phot == "MONOCHROME2" else rgb
        path = tmp_path / f"{phot}_{ts}.dcm"
        write_us_multiframe(path, src, info, phot, ts)
        back = pydicom.dcmread(path).pixel_array  # YBR JPEG is returned as RGB
        assert back.shape == src.shape
        err = np.abs(back.astype(int) - src.astype(int)).mean()
        assert err == 0 if ts != "jpeg" else err < 3.0, (phot, ts, err)


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    from models.synthetic.echo import generate_studies

    def digest(d: Path) -> dict[str, str]:
        return {
            str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(d.rglob("*"))
            if p.is_file()
        }

    generate_studies(tmp_path / "a", n=2, seed=5, small=True)
    generate_studies(tmp_path / "b", n=2, seed=5, small=True)
    generate_studies(tmp_path / "c", n=2, seed=6, small=True)
    a, b, c = digest(tmp_path / "a"), digest(tmp_path / "b"), digest(tmp_path / "c")
    assert a == b and len(a) == 3
    assert a != c
