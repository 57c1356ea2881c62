"""The TID 1500 SR (ARCHITECTURE.md §6): content, round trip through highdicom, robustness."""

from __future__ import annotations

import io

import highdicom as hd
import numpy as np
import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes

from config.settings import Settings
from dicom_node.reports import build_output_objects, build_outputs
from dicom_node.reports import codes as C
from dicom_node.reports import examples as ex
from dicom_node.reports.sr import build_sr, grade_of, rating_of
from dicom_node.reports.uids import OutputUids


def _sr(result, sources, settings=None, **kw) -> Dataset:  # noqa: ANN001 — test helper
    """The SR alone (no SC rendering: faster)."""
    root = (settings or Settings()).reports.uid_root
    return build_sr(result, sources, OutputUids(result, root), **kw)


def _roundtrip(ds: Dataset) -> Dataset:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return dcmread(io.BytesIO(buf.getvalue()))


def _read_sr(ds: Dataset) -> hd.sr.Comprehensive3DSR:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    buf.seek(0)
    return hd.sr.srread(buf)


def _qa(group: object) -> str:
    (qe,) = group.get_qualitative_evaluations(name=codes.DCM.QualityAssessment)
    return qe.value.value


@pytest.mark.parametrize("view", ["A4C", "A2C", "ALAX"])
def test_echo_sr_round_trip_gives_the_same_grades(view: str) -> None:
    src = _roundtrip(ex.echo_source(view))
    result = ex.echo_result(src, view)
    geometry = ex.echo_geometry(src)
    sr = _sr(result, [src], geometry=geometry)
    assert sr.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.34"  # Comprehensive 3D SR
    assert (sr.PreliminaryFlag, sr.VerificationFlag) == ("PRELIMINARY", "UNVERIFIED")
    assert "QA" in sr.SeriesDescription
    assert sr.StudyInstanceUID == src.StudyInstanceUID and sr.SeriesInstanceUID != src.SeriesInstanceUID
    assert sr.CodingSchemeIdentificationSequence[0].CodingSchemeDesignator == "99CQA"
    doc = _read_sr(sr)
    report = doc.content
    rois = report.get_planar_roi_measurement_groups()
    assert len(rois) == 8
    for group, region in zip(rois, result.regions, strict=True):
        assert _qa(group) == f"CQA-E{grade_of(result.scale, region.score)}"
        (native,) = group.get_measurements(name=C.NATIVE_SCORE)
        assert native.value == pytest.approx(region.score)
        (rating,) = group.get_measurements(name=codes.DCM.ImageQualityRating)
        assert rating.value == pytest.approx(rating_of(result.scale, region.score))
        assert rating.unit.value == "{0:100}"
        scoord = group.roi
        data = scoord.value
        assert scoord.GraphicType == "POLYLINE" and np.array_equal(data[0], data[-1])  # closed
        ref = scoord.ContentSequence[0].ReferencedSOPSequence[0]
        assert ref.ReferencedSOPInstanceUID == src.SOPInstanceUID
        assert ref.ReferencedFrameNumber == result.frames.ed[0]
    segments = [g.finding_sites[0].value.value for g in rois[:6]]
    assert all(s for s in segments) and len(set(segments)) == 6
    (whole,) = report.get_image_measurement_groups()
    assert _qa(whole) == f"CQA-E{grade_of(result.scale, result.global_grade.score)}"
    (view_qe,) = whole.get_qualitative_evaluations(name=C.IMAGE_VIEW)
    assert view_qe.value == C.VIEWS[view]
    (rescan,) = whole.get_qualitative_evaluations(name=C.RESCAN_RECOMMENDED)
    assert rescan.value == (C.YES if result.decisions.rescan_recommended else C.NO)
    eds = whole.get_measurements(name=C.ED_FRAME)
    assert sorted(int(m.value) for m in eds) == sorted(result.frames.ed)
    texts = [i.TextValue for i in whole[0].ContentSequence if i.ValueType == "TEXT"]
    assert list(result.decisions.reasons)[0] in texts
    names = [i.TextValue for i in whole[0].ContentSequence
             if i.ValueType == "TEXT" and i.ConceptNameCodeSequence[0].CodeValue == "111001"]
    assert names == ["echo-regional"]
    params = [i.TextValue for i in whole[0].ContentSequence
              if i.ValueType == "TEXT" and i.ConceptNameCodeSequence[0].CodeValue == "111002"]
    assert any(m.sha256 in p for m in result.models for p in params)


def test_echo_sr_without_geometry_has_no_image_regions() -> None:
    src = ex.echo_source()
    sr = _sr(ex.echo_result(src), [src])
    doc = _read_sr(sr)
    assert doc.content.get_planar_roi_measurement_groups() == []
    assert len(doc.content.get_image_measurement_groups()) == 9


def test_mr_sr_grades_round_trip() -> None:
    sources = ex.mr_sources(slices=10, size=16)
    result = ex.mr_result(sources)
    sr = _sr(result, sources)
    doc = _read_sr(sr)
    groups = doc.content.get_image_measurement_groups()
    assert [_qa(g) for g in groups[:-1]] == [f"CQA-M{grade_of(result.scale, r.score)}" for r in result.regions]
    assert _qa(groups[-1]) == "CQA-M3"  # 2.5 rounds to 3 (nearest, halves up)
    assert {e[2] for e in doc.get_evidence()} == {s.SOPInstanceUID for s in sources}
    assert doc.content[0].ContentSequence[6].ConceptCodeSequence[0].CodeValue == "241620005"


def test_not_assessable_sr_has_one_whole_image_group_with_the_reason() -> None:
    src = ex.echo_source()
    result = ex.not_assessable_result(src, "fewer frames than echo.min_frames")
    kinds = [o.kind for o in build_output_objects(result, [src], Settings())]
    assert kinds == ["sr", "sc-summary"]
    doc = _read_sr(build_outputs(result, [src], Settings())[0])
    (group,) = doc.content.get_image_measurement_groups()
    assert _qa(group) == "CQA-NA"
    texts = {i.TextValue for i in group[0].ContentSequence if i.ValueType == "TEXT"}
    assert "fewer frames than echo.min_frames" in texts
    off = Settings(reports={"not_assessable_sr": False})
    assert build_outputs(result, [src], off) == []


@pytest.mark.filterwarnings("ignore:Invalid value for VR")
def test_invalid_source_values_are_never_copied() -> None:
    src = _roundtrip(ex.echo_source(frames=3, malformed=True))
    for ds in build_outputs(ex.echo_result(src), [src], Settings()):
        ds = _roundtrip(ds)
        assert str(ds.PatientName) == str(src.PatientName)  # verbatim
        assert ds.PatientID == src.PatientID
        assert ds.StudyInstanceUID == src.StudyInstanceUID
        for kw in ("StudyDate", "StudyTime", "PatientBirthDate", "PatientSex", "AccessionNumber", "StudyID"):
            assert kw in ds and ds[kw].value in ("", None), kw
        assert "PatientAge" not in ds and "ImageDimensions" not in ds and "InstitutionalDepartmentName" not in ds


def test_predecessor_is_listed_and_uids_are_deterministic() -> None:
    src = ex.echo_source(frames=3)
    first = build_outputs(ex.echo_result(src), [src], Settings())
    again = build_outputs(ex.echo_result(src), [src], Settings())
    assert [d.SOPInstanceUID for d in first] == [d.SOPInstanceUID for d in again]
    redo = build_outputs(ex.echo_result(src, analysis_uid=ex.uid("redo")), [src], Settings(), predecessor=first[0])
    assert not {d.SOPInstanceUID for d in redo} & {d.SOPInstanceUID for d in first}
    ref = redo[0].PredecessorDocumentsSequence[0].ReferencedSeriesSequence[0].ReferencedSOPSequence[0]
    assert ref.ReferencedSOPInstanceUID == first[0].SOPInstanceUID


def test_uid_root_is_used() -> None:
    src = ex.echo_source(frames=2)
    s = Settings(reports={"uid_root": "1.2.826.0.1.3680043.10."})
    for ds in build_outputs(ex.echo_result(src, None), [src], s):
        assert ds.SOPInstanceUID.startswith("1.2.826.0.1.3680043.10.") and len(ds.SOPInstanceUID) <= 64
