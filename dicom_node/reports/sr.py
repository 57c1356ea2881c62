"""The TID 1500 Measurement Report (Comprehensive 3D SR) of one analysis (ARCHITECTURE.md §6).

Content tree (PS3.16 TID 1500):

- observation context: the node as device observer (TID 1004), procedure reported
  SCT 433236007 (TTE) or SCT 241620005 (cardiac MRI);
- per region one TID 1501 measurement group (TID 1410 planar ROI group when a polygon for the
  region is given: SCOORD POLYLINE, closed, on the first ED frame): tracking identifier and UID,
  finding site (CID 3717 segment for echo with a known view), native score (99CQA CQA001, unit
  ``{score}``), DCM 111029 Image Quality Rating (``{0:100}``, linear map of the native scale),
  DCM 111050 Quality Assessment with a private grade code, strain approval, classic metrics;
- one whole-image TID 1501 group: global score and grade, DCM 111031 Image View, rescan
  recommendation with its reasons (TEXT), EF suitability, ED/ES frame numbers, and the algorithm
  identification (TID 4019: name, version, model pack hashes, family DCM 123110).

Not assessable: only the whole-image group, with Quality Assessment = CQA-NA and the reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import highdicom as hd
import numpy as np
from highdicom.sr import (
    AlgorithmIdentification,
    Comprehensive3DSR,
    DeviceObserverIdentifyingAttributes,
    FindingSite,
    ImageRegion,
    Measurement,
    MeasurementReport,
    MeasurementsAndQualitativeEvaluations,
    ObservationContext,
    ObserverContext,
    PlanarROIMeasurementsAndQualitativeEvaluations,
    QualitativeEvaluation,
    RelationshipTypeValues,
    SourceImageForMeasurementGroup,
    SourceImageForRegion,
    TextContentItem,
    TrackingIdentifier,
)
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes as pcodes

from analyzers.base.result import QualityResult, RegionResult, Scale

from . import codes as C
from .header import clean_header, evidence_stub, source_refs
from .uids import OutputUids

__all__ = ["SR_SERIES_NUMBER", "build_sr", "grade_of", "rating_of"]

SR_SERIES_NUMBER = 990
MANUFACTURER = "Cardiac QA Node"
SR_SERIES_DESCRIPTION = "Automatic image quality QA (preliminary)"
MAX_GROUP_SOURCES = 64  # source image references per group; the full list is in the evidence

def grade_of(scale: Scale, score: float) -> int:
    """The integer grade of a continuous score (nearest, clamped to the scale)."""
    return int(min(max(math.floor(score + 0.5), scale.min), scale.max))

def rating_of(scale: Scale, score: float) -> float:
    """DCM 111029 Image Quality Rating: the native score mapped linearly onto 0..100."""
    return round((score - scale.min) / (scale.max - scale.min) * 100.0, 3)

def _num(name: object, value: float | None, unit: object) -> list[Measurement]:
    if value is None or not math.isfinite(float(value)):
        return []
    return [Measurement(name=name, value=float(value), unit=unit)]

def _qe(name: object, value: object) -> QualitativeEvaluation:
    return QualitativeEvaluation(name=name, value=value)

def _yes_no(flag: bool) -> object:
    return C.YES if flag else C.NO

def _text(name: object, value: str) -> TextContentItem:
    return TextContentItem(name=name, value=value[:1024], relationship_type=RelationshipTypeValues.CONTAINS)

def _score_items(result: QualityResult, score: float) -> tuple[list[Measurement], list[QualitativeEvaluation]]:
    grade = grade_of(result.scale, score)
    meas = _num(C.NATIVE_SCORE, score, C.UNIT_SCORE) + _num(
        C.IMAGE_QUALITY_RATING, rating_of(result.scale, score), C.UNIT_0_100
    )
    return meas, [_qe(C.QUALITY_ASSESSMENT, C.grade_code(result.modality, grade))]

def _region_group(
    result: QualityResult,
    region: RegionResult,
    index: int,
    uids: OutputUids,
    refs: Sequence[tuple[str, str]],
    polygon: np.ndarray | None,
) -> MeasurementsAndQualitativeEvaluations | PlanarROIMeasurementsAndQualitativeEvaluations:
    tracking = TrackingIdentifier(uid=uids.uid("tracking", index + 1), identifier=f"{region.id}: {region.name}"[:64])
    meas, qes = _score_items(result, region.score)
    meas += _num(C.MIN_FRAME_SCORE, region.min, C.UNIT_SCORE)
    meas += _num(C.FRACTION_OK, region.fraction_ok, C.UNIT_RATIO)
    for key, concept in C.METRICS.items():
        meas += _num(concept, region.metrics.get(key), C.UNIT_INTENSITY if key == "intensity" else C.UNIT_RATIO)
    if region.approved_for_strain is not None:
        qes.append(_qe(C.APPROVED_FOR_STRAIN, _yes_no(region.approved_for_strain)))
    site = C.finding_site(result.view, region.id) if result.modality == "US" else None
    sites = [FindingSite(anatomic_location=site)] if site is not None else None
    if polygon is not None and refs and result.frames is not None and result.frames.ed:
        pts = np.asarray(polygon, dtype=np.float32).reshape(-1, 2)
        if not np.array_equal(pts[0], pts[-1]):  # PS3.3 C.18.6.1.2: a closed polyline repeats its start
            pts = np.vstack([pts, pts[:1]])
        region_item = ImageRegion(
            graphic_type=hd.sr.GraphicTypeValues.POLYLINE,
            graphic_data=pts,
            source_image=SourceImageForRegion(refs[0][0], refs[0][1], referenced_frame_numbers=[result.frames.ed[0]]),
        )
        return PlanarROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=tracking,
            referenced_region=region_item,
            finding_sites=sites,
            measurements=meas,
            qualitative_evaluations=qes,
        )
    return MeasurementsAndQualitativeEvaluations(
        tracking_identifier=tracking,
        finding_sites=sites,
        measurements=meas,
        qualitative_evaluations=qes,
        source_images=[SourceImageForMeasurementGroup(c, i) for c, i in refs[:MAX_GROUP_SOURCES]],
    )

def _algorithm(result: QualityResult) -> AlgorithmIdentification:
    params = [f"{m.name} {m.version} sha256:{m.sha256}" for m in result.models]
    return AlgorithmIdentification(
        name=result.analyzer, version=result.analyzer_version, parameters=params or None, family=C.AI_FAMILY
    )

def _whole_group(
    result: QualityResult, uids: OutputUids, refs: Sequence[tuple[str, str]]
) -> MeasurementsAndQualitativeEvaluations:
    meas: list[Measurement] = []
    qes: list[QualitativeEvaluation] = []
    if result.assessable and result.global_grade is not None:
        meas, qes = _score_items(result, result.global_grade.score)
    else:
        qes.append(_qe(C.QUALITY_ASSESSMENT, C.NOT_ASSESSABLE))
    if result.view in C.VIEWS:
        qes.append(_qe(C.IMAGE_VIEW, C.VIEWS[result.view]))
    qes.append(_qe(C.RESCAN_RECOMMENDED, _yes_no(result.decisions.rescan_recommended)))
    if result.decisions.ef_suitable is not None:
        qes.append(_qe(C.EF_SUITABLE, _yes_no(result.decisions.ef_suitable)))
    if result.frames is not None:
        meas += [m for f in result.frames.ed for m in _num(C.ED_FRAME, f, C.UNIT_FRAME)]
        meas += [m for f in result.frames.es for m in _num(C.ES_FRAME, f, C.UNIT_FRAME)]
    group = MeasurementsAndQualitativeEvaluations(
        tracking_identifier=TrackingIdentifier(uid=uids.uid("tracking", 0), identifier="whole image"),
        algorithm_id=_algorithm(result),
        finding_sites=[FindingSite(anatomic_location=C.HEART)],
        measurements=meas,
        qualitative_evaluations=qes,
        source_images=[SourceImageForMeasurementGroup(c, i) for c, i in refs[:MAX_GROUP_SOURCES]],
    )
    # TID 1501 allows TEXT qualitative evaluations; highdicom's constructor only takes coded ones.
    texts = []
    if not result.assessable and result.reason:
        texts.append(_text(C.NOT_ASSESSABLE_REASON, result.reason))
    texts += [_text(C.DECISION_REASON, r) for r in result.decisions.reasons if r]
    container = group[0]
    for item in texts:
        container.ContentSequence.append(item)
    return group

def build_sr(
    result: QualityResult,
    sources: Sequence[Dataset],
    uids: OutputUids,
    geometry: Mapping[str, np.ndarray] | None = None,
    predecessor: Dataset | None = None,
) -> Comprehensive3DSR:
    """Build the SR of ``result``.

    Parameters
    ----------
    result
        The analysis result.
    sources
        The analysed instances (headers suffice), in the order of ``result.sop_instance_uids``.
    uids
        Output UIDs of this analysis.
    geometry
        Optional polygons per region id, ``(N, 2)`` (column, row) on the first ED frame of the
        (single, echo) source; regions without one get no image region.
    predecessor
        The previous SR of the same unit (SOPClassUID, SOPInstanceUID, SeriesInstanceUID,
        StudyInstanceUID), listed in the Predecessor Documents Sequence (PS3.3 C.17.2).
    """
    if not sources:
        raise ValueError("build_sr needs at least one source dataset")
    header = clean_header(sources[0])
    evidence = [evidence_stub(ds, header) for ds in sources]
    refs = source_refs(sources)
    device = DeviceObserverIdentifyingAttributes(
        uid=uids.uid("device"), name=MANUFACTURER, manufacturer_name=MANUFACTURER, model_name=result.analyzer[:64]
    )
    context = ObservationContext(
        observer_device_context=ObserverContext(
            observer_type=pcodes.DCM.Device, observer_identifying_attributes=device
        )
    )
    groups: list = []
    if result.assessable:
        geometry = geometry or {}
        for i, region in enumerate(result.regions):
            poly = geometry.get(region.id) if result.modality == "US" else None
            groups.append(_region_group(result, region, i, uids, refs, poly))
    groups.append(_whole_group(result, uids, refs))
    report = MeasurementReport(
        observation_context=context,
        procedure_reported=C.PROCEDURES[result.modality],
        imaging_measurements=groups,
    )
    return Comprehensive3DSR(
        evidence=evidence,
        content=report[0],
        series_instance_uid=uids.sr_series,
        series_number=SR_SERIES_NUMBER,
        sop_instance_uid=uids.uid("sr"),
        instance_number=1,
        manufacturer=MANUFACTURER,
        is_complete=True,
        is_final=False,
        is_verified=False,
        previous_versions=[predecessor] if predecessor is not None else None,
        series_description=SR_SERIES_DESCRIPTION,
        coding_schemes=[
            hd.coding_schemes.CodingSchemeIdentificationItem(
                designator=C.SCHEME, name=C.SCHEME_NAME, responsible_organization=MANUFACTURER
            )
        ],
        specific_character_set="ISO_IR 192",
        software_versions=f"{result.analyzer} {result.analyzer_version}"[:64],
    )

