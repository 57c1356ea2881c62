"""Synthetic MR studies on disk: truth.json, pydicom round trip, geometry, determinism."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pydicom
import pytest

from models.synthetic.dicom_mr import SeriesInfo, reformat, write_classic_series, write_enhanced
from models.synthetic.mr import GENERATOR_VERSION, generate_studies, make_volume
from models.synthetic.mr.dicom_common import to_pixels
from models.synthetic.mr.studies import CASES

N = len(CASES)


@pytest.fixture(scope="module")
def studies(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    out = tmp_path_factory.mktemp("mr")
    return out, generate_studies(out, n=N, seed=7, small=True)


def _digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_truth_json(studies: tuple[Path, list[dict]]) -> None:
    out, truth = studies
    doc = json.loads((out / "mr" / "truth.json").read_text())
    assert doc["generator_version"] == GENERATOR_VERSION and doc["series"] == truth
    assert [e["case"] for e in truth] == [c[0] for c in CASES]
    for e in truth:
        files = sorted((out / e["folder"]).glob("*.dcm"))
        assert len(files) == e["n_files"]
        if e["awkward"] == "noncardiac":
            assert e["grade"] is None
        else:
            assert 0.0 <= e["grade"] <= 4.0 and (2 * e["grade_rounded"]).is_integer()
            assert abs(e["grade_rounded"] - e["grade"]) <= 0.25 + 1e-4
            assert set(e["severities"]) == {"motion", "ghosting", "undersampling", "noise", "bias"}
    grades = [e["grade"] for e in truth if e["grade"] is not None]
    assert max(grades) - min(grades) > 2.0  # stratified targets spread over the scale


def test_round_trip_and_series_geometry(studies: tuple[Path, list[dict]]) -> None:
    out, truth = studies
    for e in truth:
        dss = [pydicom.dcmread(p) for p in sorted((out / e["folder"]).glob("*.dcm"))]
        assert {ds.SeriesInstanceUID for ds in dss} == {e["series_instance_uid"]}
        assert {str(ds.PatientName) for ds in dss} == {e["patient_name"]}
        if e["kind"] == "enhanced":
            (ds,) = dss
            assert ds.NumberOfFrames == e["n_slices"] and ds.pixel_array.shape[0] == e["n_slices"]
            pos = np.array([f.PlanePositionSequence[0].ImagePositionPatient for f in ds.PerFrameFunctionalGroupsSequence])
            iop = np.array(ds.SharedFunctionalGroupsSequence[0].PlaneOrientationSequence[0].ImageOrientationPatient)
            step = float(ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].SpacingBetweenSlices)
        else:
            loc = [ds for ds in dss if "LOCALIZER" in ds.ImageType]
            assert len(loc) == (3 if e["awkward"] == "localizer" else 0)
            slices = [ds for ds in dss if "LOCALIZER" not in ds.ImageType]
            assert len(slices) == e["n_slices"]
            order = [int(ds.InstanceNumber) for ds in dss]
            assert order != sorted(order), "files are not written in shuffled order"
            iop = np.array(slices[0].ImageOrientationPatient, dtype=float)
            assert all(np.allclose(ds.ImageOrientationPatient, iop) for ds in slices)
            for ds in loc:
                assert not np.allclose(ds.ImageOrientationPatient, iop)
            pos = np.array([ds.ImagePositionPatient for ds in slices], dtype=float)
            step = float(slices[0].SpacingBetweenSlices)
            assert float(slices[0].SliceThickness) == step
        normal = np.cross(iop[:3], iop[3:])
        d = np.diff(np.sort(pos @ normal))
        if e["awkward"] == "missing_slice":
            assert np.isclose(d, 2 * step).sum() == 1 and np.isclose(d, step).sum() == len(d) - 1
        else:
            assert np.allclose(d, step, atol=1e-4)


def test_sorted_positions_reconstruct_the_volume(tmp_path: Path) -> None:
    from models.synthetic.common import derive_uid, synthetic_patient

    mv = make_volume(np.random.default_rng(2), size=32, spacing_mm=4.0)
    info = SeriesInfo(synthetic_patient(1, "MR", 0), derive_uid(1, "s"), derive_uid(1, "f"), 1, "TEST")
    for orientation in ("axial", "coronal", "sagittal"):
        st = reformat(mv.volume, mv.spacing_mm, mv.origin_mm, orientation)
        write_classic_series(st, info, tmp_path / orientation, np.random.default_rng(0))
        dss = [pydicom.dcmread(p) for p in (tmp_path / orientation).glob("*.dcm")]
        normal = np.cross(*np.reshape(np.asarray(dss[0].ImageOrientationPatient, dtype=float), (2, 3)))
        dss.sort(key=lambda ds: float(np.dot(np.asarray(ds.ImagePositionPatient, dtype=float), normal)))
        stack = np.stack([ds.pixel_array for ds in dss])
        assert np.array_equal(stack, to_pixels(st.pixels))
        if orientation == "axial":  # axial stack sorted by position == the (k, j, i) volume itself
            assert np.array_equal(stack, to_pixels(mv.volume))
            first = np.asarray(dss[0].ImagePositionPatient, dtype=float)
            assert np.allclose(first, mv.origin_mm)
    write_enhanced(reformat(mv.volume, mv.spacing_mm, mv.origin_mm, "axial"), info, tmp_path / "enh")
    ds = pydicom.dcmread(tmp_path / "enh" / "MF0001.dcm")
    assert np.array_equal(ds.pixel_array, to_pixels(mv.volume))


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    generate_studies(a, n=2, seed=3, small=True)
    generate_studies(b, n=2, seed=3, small=True)
    da, db = _digest(a), _digest(b)
    assert da == db and len(da) > 2
    generate_studies(tmp_path / "c", n=2, seed=4, small=True)
    assert _digest(tmp_path / "c")["mr/truth.json"] != da["mr/truth.json"]
