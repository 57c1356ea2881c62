"""The Analyzer protocol and the unit of analysis handed to it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import pydicom

    from config.settings import Settings
    from models.runtime import ModelSet

    from .result import QualityResult

__all__ = ["AnalysisUnit", "Analyzer", "AnalyzerError"]


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
