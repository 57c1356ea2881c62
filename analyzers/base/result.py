"""QualityResult v1: the result of one analysis (ARCHITECTURE.md §4).

Frozen dataclasses that check their invariants on construction and serialise to
the versioned JSON ``cardiac-qa/result/1`` (schema: ``docs/result.schema.json``).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "ECHO_REGION_IDS",
    "ECHO_SCALE",
    "MR_REGION_IDS",
    "MR_SCALE",
    "SCHEMA_ID",
    "Decisions",
    "Frames",
    "GlobalGrade",
    "ModelRef",
    "QualityResult",
    "RegionResult",
    "ResultError",
    "Scale",
]

SCHEMA_ID = "cardiac-qa/result/1"

# arqee's region order (image left/right, apex at top).
ECHO_REGION_IDS: tuple[str, ...] = (
    "basal_left",
    "mid_left",
    "apical_left",
    "apical_right",
    "mid_right",
    "basal_right",
    "annulus_left",
    "annulus_right",
)
MR_OCTANT_IDS: tuple[str, ...] = ("RAS", "RAI", "RPS", "RPI", "LAS", "LAI", "LPS", "LPI")
MR_ORIENTATION_IDS: tuple[str, ...] = ("axial", "sagittal", "coronal")
MR_REGION_IDS: tuple[str, ...] = MR_OCTANT_IDS + MR_ORIENTATION_IDS


class ResultError(ValueError):
    """A QualityResult violates an invariant."""

    code = "result_invalid"


@dataclass(frozen=True)
class Scale:
    min: float
    max: float
    labels: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.max > self.min or not self.labels:
            raise ResultError("scale needs max > min and at least one label")

    def label_for(self, score: float) -> str:
        """Label of the nearest integer grade, clamped to the scale."""
        grade = int(min(max(math.floor(score + 0.5), self.min), self.max))
        return self.labels[grade - int(self.min)]

    def check(self, value: float, what: str) -> None:
        if not (math.isfinite(value) and self.min - 1e-9 <= value <= self.max + 1e-9):
            raise ResultError(f"{what} = {value!r} is outside the scale {self.min}..{self.max}")


ECHO_SCALE = Scale(1, 5, ("not visible", "poor", "ok", "good", "excellent"))
MR_SCALE = Scale(0, 4, ("nondiagnostic", "marked blurring", "moderate blurring", "mild blurring", "excellent"))


@dataclass(frozen=True)
class ModelRef:
    name: str
    version: str
    sha256: str


@dataclass(frozen=True)
class GlobalGrade:
    score: float
    label: str


@dataclass(frozen=True)
class RegionResult:
    """One region: an echo segment/annulus region, or an MR octant/orientation."""

    id: str
    name: str
    score: float
    label: str
    in_sector: bool = True
    min: float | None = None
    fraction_ok: float | None = None
    frame_scores: tuple[float | None, ...] | None = None
    approved_for_strain: bool | None = None
    metrics: dict[str, float | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.fraction_ok is not None and not 0.0 <= self.fraction_ok <= 1.0:
            raise ResultError(f"region {self.id}: fraction_ok must be within 0..1")


@dataclass(frozen=True)
class Frames:
    count: int
    ed: tuple[int, ...] = ()
    es: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ResultError("frames.count must be >= 1")
        for f in self.ed + self.es:
            if not 1 <= f <= self.count:
                raise ResultError(f"frame number {f} outside 1..{self.count} (frames are 1-based)")


@dataclass(frozen=True)
class Decisions:
    rescan_recommended: bool
    reasons: tuple[str, ...] = ()
    ef_suitable: bool | None = None  # echo only


@dataclass(frozen=True)
class QualityResult:
    """Result of one analysis; valid once constructed."""

    analysis_uid: str
    analyzer: str
    analyzer_version: str
    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uids: tuple[str, ...]
    modality: str
    assessable: bool
    scale: Scale
    decisions: Decisions
    models: tuple[ModelRef, ...] = ()
    view: str | None = None
    reason: str | None = None
    global_grade: GlobalGrade | None = None
    regions: tuple[RegionResult, ...] = ()
    frames: Frames | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    schema: str = SCHEMA_ID

    def __post_init__(self) -> None:
        if self.schema != SCHEMA_ID:
            raise ResultError(f"unsupported result schema {self.schema!r}; expected {SCHEMA_ID}")
        if self.modality not in ("US", "MR"):
            raise ResultError(f"modality must be US or MR, not {self.modality!r}")
        if not self.sop_instance_uids:
            raise ResultError("sop_instance_uids must not be empty")
        if self.view is not None and self.view not in ("A4C", "A2C", "ALAX"):
            raise ResultError(f"view must be A4C, A2C, ALAX or null, not {self.view!r}")
        if not self.assessable:
            if not self.reason:
                raise ResultError("a not-assessable result needs a reason")
            if self.global_grade is not None or self.regions:
                raise ResultError("a not-assessable result has no global grade and no regions")
            return
        if self.global_grade is None:
            raise ResultError("an assessable result needs a global grade")
        self.scale.check(self.global_grade.score, "global.score")
        ids = [r.id for r in self.regions]
        if len(ids) != len(set(ids)):
            raise ResultError("region ids must be unique")
        for r in self.regions:
            self.scale.check(r.score, f"region {r.id} score")
            if r.frame_scores is not None and self.frames is not None:
                if len(r.frame_scores) != self.frames.count:
                    raise ResultError(f"region {r.id}: frame_scores length != frames.count")
        if self.modality == "MR" and self.decisions.ef_suitable is not None:
            raise ResultError("ef_suitable is an echo decision")

    # -- JSON ---------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "schema": self.schema,
            "analysis_uid": self.analysis_uid,
            "analyzer": self.analyzer,
            "analyzer_version": self.analyzer_version,
            "models": [asdict(m) for m in self.models],
            "study_instance_uid": self.study_instance_uid,
            "series_instance_uid": self.series_instance_uid,
            "sop_instance_uids": list(self.sop_instance_uids),
            "modality": self.modality,
            "view": self.view,
            "assessable": self.assessable,
            "reason": self.reason,
            "scale": {"min": self.scale.min, "max": self.scale.max, "labels": list(self.scale.labels)},
            "global": asdict(self.global_grade) if self.global_grade else None,
            "regions": [_region_dict(r, self.modality) for r in self.regions],
            "frames": (
                {"count": self.frames.count, "ed": list(self.frames.ed), "es": list(self.frames.es)}
                if self.frames
                else None
            ),
            "decisions": _decisions_dict(self.decisions, self.modality),
            "timings_ms": dict(self.timings_ms),
        }
        return d

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> QualityResult:
        try:
            scale = Scale(d["scale"]["min"], d["scale"]["max"], tuple(d["scale"]["labels"]))
            dec = d["decisions"]
            frames = d.get("frames")
            return cls(
                schema=d["schema"],
                analysis_uid=d["analysis_uid"],
                analyzer=d["analyzer"],
                analyzer_version=d["analyzer_version"],
                models=tuple(ModelRef(**m) for m in d.get("models", [])),
                study_instance_uid=d["study_instance_uid"],
                series_instance_uid=d["series_instance_uid"],
                sop_instance_uids=tuple(d["sop_instance_uids"]),
                modality=d["modality"],
                view=d.get("view"),
                assessable=d["assessable"],
                reason=d.get("reason"),
                scale=scale,
                global_grade=GlobalGrade(**d["global"]) if d.get("global") else None,
                regions=tuple(_region_from(r) for r in d.get("regions", [])),
                frames=(
                    Frames(frames["count"], tuple(frames["ed"]), tuple(frames["es"])) if frames else None
                ),
                decisions=Decisions(
                    rescan_recommended=dec["rescan_recommended"],
                    reasons=tuple(dec.get("reasons", [])),
                    ef_suitable=dec.get("ef_suitable"),
                ),
                timings_ms=dict(d.get("timings_ms", {})),
            )
        except (KeyError, TypeError) as exc:
            raise ResultError(f"result JSON is missing or has a wrong field: {exc}") from None

    @classmethod
    def from_json(cls, text: str) -> QualityResult:
        return cls.from_dict(json.loads(text))


def _region_dict(r: RegionResult, modality: str) -> dict[str, Any]:
    d: dict[str, Any] = {
        "id": r.id,
        "name": r.name,
        "in_sector": r.in_sector,
        "score": r.score,
        "label": r.label,
        "min": r.min,
        "metrics": dict(r.metrics),
    }
    if modality == "US":
        d["fraction_ok"] = r.fraction_ok
        d["frame_scores"] = list(r.frame_scores) if r.frame_scores is not None else None
        d["approved_for_strain"] = r.approved_for_strain
    return d


def _region_from(d: dict[str, Any]) -> RegionResult:
    fs = d.get("frame_scores")
    return RegionResult(
        id=d["id"],
        name=d["name"],
        score=d["score"],
        label=d["label"],
        in_sector=d.get("in_sector", True),
        min=d.get("min"),
        fraction_ok=d.get("fraction_ok"),
        frame_scores=tuple(fs) if fs is not None else None,
        approved_for_strain=d.get("approved_for_strain"),
        metrics=dict(d.get("metrics", {})),
    )


def _decisions_dict(dec: Decisions, modality: str) -> dict[str, Any]:
    d: dict[str, Any] = {"rescan_recommended": dec.rescan_recommended, "reasons": list(dec.reasons)}
    if modality == "US":
        d["ef_suitable"] = dec.ef_suitable
    return d
