"""Analyzer contracts: the protocol, the unit of analysis, QualityResult v1, the registry."""

from .protocol import AnalysisOutcome, AnalysisUnit, Analyzer, AnalyzerError, run_analyzer
from .registry import BUILTIN_ANALYZERS, load_analyzer, load_registry
from .result import (
    ECHO_REGION_IDS,
    ECHO_SCALE,
    MR_REGION_IDS,
    MR_SCALE,
    SCHEMA_ID,
    Decisions,
    Frames,
    GlobalGrade,
    ModelRef,
    QualityResult,
    RegionResult,
    ResultError,
    Scale,
)

__all__ = [
    "AnalysisOutcome",
    "AnalysisUnit",
    "Analyzer",
    "AnalyzerError",
    "BUILTIN_ANALYZERS",
    "Decisions",
    "ECHO_REGION_IDS",
    "ECHO_SCALE",
    "Frames",
    "GlobalGrade",
    "MR_REGION_IDS",
    "MR_SCALE",
    "ModelRef",
    "QualityResult",
    "RegionResult",
    "ResultError",
    "SCHEMA_ID",
    "Scale",
    "load_analyzer",
    "load_registry",
    "run_analyzer",
]
