"""The analyzers' drawing inputs reach the overlays: ``run_analyzer`` → ``build_outputs``.

For MR the dense grade map (a function of patient points) colours the reformats; without it the
renderer falls back to octant colours. The node's job runner and ``cardiac-qa analyze`` both go
through ``run_analyzer``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from analyzers.base import AnalysisUnit, run_analyzer
from analyzers.mr import MrWholeHeartAnalyzer
from config.settings import Settings
from dicom_node.reports import build_output_objects
from models.runtime import ModelSet


@pytest.fixture(scope="module")
def mr_unit(tmp_path_factory: pytest.TempPathFactory) -> AnalysisUnit:
    from models.synthetic.mr import generate_studies

    root = tmp_path_factory.mktemp("mr")
    entry = generate_studies(root, n=1, seed=5, small=True)[0]  # first case: a clean axial series
    dss = tuple(pydicom.dcmread(p) for p in sorted((root / entry["folder"]).glob("*.dcm")))
    return AnalysisUnit(kind="series", modality="MR", study_instance_uid=entry["study_instance_uid"],
                        series_instance_uid=entry["series_instance_uid"], datasets=dss, analysis_uid="2.25.77")


def test_mr_grade_map_reaches_the_reformats(mr_unit: AnalysisUnit) -> None:
    models = ModelSet.load(names=["mr-iqdcnn"], providers="cpu", threads=1)
    result, drawing = run_analyzer(MrWholeHeartAnalyzer(), mr_unit, models, Settings())
    assert result.assessable and callable(drawing["grade_map"])
    centre = np.zeros((1, 3))
    sample = drawing["grade_map"](centre + np.mean([ds.ImagePositionPatient for ds in mr_unit.datasets], 0))
    assert np.isfinite(sample).all() and 0 <= float(sample[0]) <= 4

    with_map = build_output_objects(result, mr_unit.datasets, Settings(), **drawing)
    octants = build_output_objects(result, mr_unit.datasets, Settings())
    mr_with = [o.dataset for o in with_map if o.kind == "sc-mr"]
    mr_oct = [o.dataset for o in octants if o.kind == "sc-mr"]
    assert len(mr_with) == len(mr_oct) == 3
    # Same planes, same UIDs (the drawing is not part of the analysis key), different colouring.
    assert [d.SOPInstanceUID for d in mr_with] == [d.SOPInstanceUID for d in mr_oct]
    assert any(not np.array_equal(a.pixel_array, b.pixel_array) for a, b in zip(mr_with, mr_oct, strict=True))


def test_analyzer_without_detailed_path_gives_no_drawing(mr_unit: AnalysisUnit) -> None:
    class Plain:
        name, version, required_models = "plain", "1", ()

        def analyze(self, unit, models, settings):  # noqa: ANN001, ANN202
            return "sentinel-result"

    result, drawing = run_analyzer(Plain(), mr_unit, ModelSet(), Settings())  # type: ignore[arg-type]
    assert (result, drawing) == ("sentinel-result", {})


def test_echo_region_outlines_reach_the_sr(tmp_path: Path) -> None:
    from analyzers.echo import EchoRegionalAnalyzer
    from models.synthetic.echo import generate_studies

    generate_studies(tmp_path, n=1, seed=2, small=True)
    ds = pydicom.dcmread(next((tmp_path / "echo").rglob("*.dcm")))
    unit = AnalysisUnit(kind="instance", modality="US", study_instance_uid=ds.StudyInstanceUID,
                        series_instance_uid=ds.SeriesInstanceUID, datasets=(ds,), analysis_uid="2.25.78")
    models = ModelSet.load(names=["echo-seg", "echo-e2e"], providers="cpu", threads=1)
    result, drawing = run_analyzer(EchoRegionalAnalyzer(), unit, models, Settings())
    assert result.assessable and len(drawing["geometry"]) == 8
    sr = build_output_objects(result, [ds], Settings(), **drawing)[0].dataset
    scoords = [item for item in _walk(sr.ContentSequence) if item.ValueType == "SCOORD"]
    assert len(scoords) == 8
    for item in scoords:  # closed polylines on the first ED frame of the source
        data = list(item.GraphicData)
        assert item.GraphicType == "POLYLINE" and data[:2] == data[-2:]
        assert item.ContentSequence[0].ReferencedSOPSequence[0].ReferencedFrameNumber == result.frames.ed[0]


def _walk(seq):  # noqa: ANN001, ANN202
    for item in seq:
        yield item
        if "ContentSequence" in item:
            yield from _walk(item.ContentSequence)
