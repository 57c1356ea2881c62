"""The Analyzer protocol and the unit of analysis handed to it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import pydicom

    from config.settings import Settings
    from models.runtime import ModelSet

    from .result import QualityResult

__all__ = ["AnalysisOutcome", "AnalysisUnit", "Analyzer", "AnalyzerError", "run_analyzer"]


class AnalyzerError(Exception):
    """An analyzer could not produce a result (bug or missing model), as opposed to a
    not-assessable input, which is a normal result with ``assessable: false``."""

    code = "analyzer_error"


@dataclass(frozen=True)
class AnalysisUnit:
    """What one analysis looks at: one US instance, or one MR series (or multi-frame object).

    ``datasets`` are fully read pydicom datasets (pixel data not yet decoded).
    """

    kind: str  # "instance" | "series"
    modality: str
    study_instance_uid: str
    series_instance_uid: str
    datasets: tuple[pydicom.Dataset, ...]
    analysis_uid: str
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def sop_instance_uids(self) -> tuple[str, ...]:
        return tuple(str(ds.SOPInstanceUID) for ds in self.datasets)

    def identity(self) -> dict[str, Any]:
        """The QualityResult fields that name what was analysed (``QualityResult(**unit.identity(), …)``)."""
        return {
            "analysis_uid": self.analysis_uid,
            "study_instance_uid": self.study_instance_uid,
            "series_instance_uid": self.series_instance_uid,
            "sop_instance_uids": self.sop_instance_uids,
        }


@dataclass(frozen=True)
class AnalysisOutcome:
    """What ``analyze_detailed`` returns: the result and the report builders' drawing inputs."""

    result: QualityResult
    drawing_inputs: dict[str, Any] = field(default_factory=dict)

    def drawing(self) -> dict[str, Any]:
        return dict(self.drawing_inputs)


@runtime_checkable
class Analyzer(Protocol):
    """An analyzer: decoded datasets and ready model sessions in, a QualityResult out.

    It never touches the network, the database or the file system.
    """

    name: str
    version: str
    #: names of the model packs it needs (looked up in the ModelSet)
    required_models: tuple[str, ...]

    def analyze(self, unit: AnalysisUnit, models: ModelSet, settings: Settings) -> QualityResult: ...


def run_analyzer(
    analyzer: Analyzer, unit: AnalysisUnit, models: ModelSet, settings: Settings
) -> tuple[QualityResult, dict[str, Any]]:
    """Run ``analyzer`` and return its result plus the drawing inputs for the overlays.

    An analyzer may offer ``analyze_detailed(unit, models, settings)`` returning an object with
    ``.result`` (the QualityResult) and ``.drawing()`` (keyword arguments for the report
    builders, e.g. ``geometry`` polygons for echo or a ``grade_map`` for MR). Analyzers without
    it just give their result and no drawing inputs.
    """
    detailed = getattr(analyzer, "analyze_detailed", None)
    if detailed is None:
        return analyzer.analyze(unit, models, settings), {}
    outcome = detailed(unit, models, settings)
    drawing = outcome.drawing() if hasattr(outcome, "drawing") else {}
    return outcome.result, dict(drawing)
