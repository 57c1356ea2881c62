"""Whole-heart MR quality (``mr-wholeheart``): series assembly and checks, IQ-DCNN patch grading,
octant/orientation regions and the dense grade map (docs/mr.md)."""

from .analyzer import (
    MODEL_NAME,
    MrAnalysis,
    MrWholeHeartAnalyzer,
    PatchGrades,
    content_check,
    grade_volume,
    training_patches,
)
from .errors import NotAssessable
from .regions import OCTANT_NAMES, grade_map, octant_index, region_results
from .sampling import (
    HALF_EDGE_MM,
    ORIENTATIONS,
    PATCH,
    PatientGrid,
    extract_patches,
    normalise,
    patch_centres,
    plane_axes,
    resample_isotropic,
    robust_range,
)
from .volume import SeriesVolume, assemble_volume, check_geometry

__all__ = [
    "HALF_EDGE_MM",
    "MODEL_NAME",
    "OCTANT_NAMES",
    "ORIENTATIONS",
    "PATCH",
    "MrAnalysis",
    "MrWholeHeartAnalyzer",
    "NotAssessable",
    "PatchGrades",
    "PatientGrid",
    "SeriesVolume",
    "assemble_volume",
    "check_geometry",
    "content_check",
    "extract_patches",
    "grade_map",
    "grade_volume",
    "normalise",
    "octant_index",
    "patch_centres",
    "plane_axes",
    "region_results",
    "resample_isotropic",
    "robust_range",
    "training_patches",
]
