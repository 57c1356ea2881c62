"""``mr-wholeheart`` end to end on generated DICOM series: graded cases, every awkward case and a
random-noise "MR" series give a result or a specific reason; the result JSON follows §4."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pydicom
import pytest

from analyzers.base import MR_REGION_IDS, AnalysisUnit, QualityResult, load_analyzer
from analyzers.mr import MrWholeHeartAnalyzer
from config.settings import Settings
from models.runtime import ModelSet

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs" / "result.schema.json").read_text())


@pytest.fixture(scope="module")
def studies(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    from models.synthetic.mr import generate_studies

    root = tmp_path_factory.mktemp("mr")
    truth = generate_studies(root, n=9, seed=11, small=True)
    return root, truth


@pytest.fixture(scope="module")
def models() -> ModelSet:
    ms = ModelSet.load(names=["mr-iqdcnn"], providers="cpu", threads=1)
    assert not ms.errors, ms.errors
    return ms


def _unit(root: Path, entry: dict) -> AnalysisUnit:
    dss = tuple(pydicom.dcmread(p) for p in sorted((root / entry["folder"]).glob("*.dcm")))
    return AnalysisUnit(kind="series", modality="MR", study_instance_uid=entry["study_instance_uid"],
                        series_instance_uid=entry["series_instance_uid"], datasets=dss, analysis_uid="2.25.42")


def test_registry_loads_the_analyzer() -> None:
    a = load_analyzer("analyzers.mr:MrWholeHeartAnalyzer")
    assert a.name == "mr-wholeheart" and a.required_models == ("mr-iqdcnn",)


def test_generated_series(studies: tuple[Path, list[dict]], models: ModelSet) -> None:
    root, truth = studies
    analyzer = MrWholeHeartAnalyzer()
    expected_reason = {"missing_slice": "missing slice", "localizer": "localizer", "noncardiac": "not a cardiac"}
    for entry in truth:
        res = analyzer.analyze(_unit(root, entry), models, Settings())
        d = json.loads(res.to_json())
        jsonschema.validate(d, SCHEMA)
        assert QualityResult.from_dict(d) == res
        assert d["modality"] == "MR" and d["frames"] is None and "ef_suitable" not in d["decisions"]
        assert d["scale"] == {"min": 0, "max": 4, "labels": list(res.scale.labels)}
        if entry["awkward"]:
            assert not res.assessable and expected_reason[entry["awkward"]] in res.reason, (entry["case"], res.reason)
            assert d["global"] is None and d["regions"] == []
            continue
        assert res.assessable, (entry["case"], res.reason)
        assert 0.0 <= res.global_grade.score <= 4.0
        assert [r["id"] for r in d["regions"]] == list(MR_REGION_IDS)
        assert all("frame_scores" not in r and "approved_for_strain" not in r for r in d["regions"])
        assert res.decisions.rescan_recommended == (res.global_grade.score < 2.0)
        assert {"decode", "models", "total"} <= set(d["timings_ms"])


def _noise_series(n: int = 48, size: int = 64) -> list[pydicom.Dataset]:
    """A classic "MR" series of uniform random noise, 2 mm slices."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    rng = np.random.default_rng(0)
    out = []
    for k in range(n):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID, ds.SOPInstanceUID = "1.2.840.10008.5.1.4.1.1.4", generate_uid()
        ds.Modality, ds.Rows, ds.Columns = "MR", size, size
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.ImagePositionPatient, ds.ImageOrientationPatient = [0.0, 0.0, 2.0 * k], [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [2.0, 2.0]
        ds.PixelData = rng.integers(0, 4000, (size, size), dtype=np.uint16).astype("<u2").tobytes()
        out.append(ds)
    return out


def test_random_noise_series_is_not_assessable(models: ModelSet) -> None:
    dss = _noise_series()
    unit = AnalysisUnit(kind="series", modality="MR", study_instance_uid="1.2", series_instance_uid="1.2.3",
                        datasets=tuple(dss), analysis_uid="2.25.43")
    res = MrWholeHeartAnalyzer().analyze(unit, models, Settings())
    assert not res.assessable and "random noise" in res.reason


def test_detailed_analysis_gives_overlays(studies: tuple[Path, list[dict]], models: ModelSet) -> None:
    root, truth = studies
    entry = next(e for e in truth if e["case"] == "oblique")
    an = MrWholeHeartAnalyzer().analyze_detailed(_unit(root, entry), models, Settings())
    assert an.result.assessable
    planes = an.reformats()
    for o in ("axial", "sagittal", "coronal"):
        img, gm = planes[o]
        assert img.shape == gm.shape and np.nanmax(gm) <= 4.0 and np.isfinite(gm[img.shape[0] // 2, img.shape[1] // 2])
    at = an.grade_at(an.centres)
    assert at.shape == (len(an.centres),) and np.all(np.isfinite(at))
    assert np.isnan(an.grade_at(an.grid.centre + np.array([500.0, 0.0, 0.0])))
    gmap = an.grade_map(step=8.0)
    assert gmap.ndim == 3 and np.nanmean(gmap) == pytest.approx(an.result.global_grade.score, abs=0.6)
