"""Coded concepts used by the outputs: standard codes and the private scheme ``99CQA``.

Private codes follow PS3.16 §8.2 (a local coding scheme designator starting with ``99``) and are
declared in the Coding Scheme Identification Sequence of every SR (PS3.3 C.12.1.1.2). They are
listed for users in ``docs/codes.md``; keep both in step.
"""

from __future__ import annotations

from pydicom.sr.coding import Code

__all__ = [
    "SCHEME",
    "SCHEME_NAME",
    "NATIVE_SCORE",
    "MIN_FRAME_SCORE",
    "FRACTION_OK",
    "APPROVED_FOR_STRAIN",
    "RESCAN_RECOMMENDED",
    "EF_SUITABLE",
    "DECISION_REASON",
    "NOT_ASSESSABLE_REASON",
    "ED_FRAME",
    "ES_FRAME",
    "METRICS",
    "NOT_ASSESSABLE",
    "IMAGE_QUALITY_RATING",
    "QUALITY_ASSESSMENT",
    "IMAGE_VIEW",
    "AI_FAMILY",
    "YES",
    "NO",
    "HEART",
    "PROCEDURES",
    "VIEWS",
    "UNIT_SCORE",
    "UNIT_0_100",
    "UNIT_RATIO",
    "UNIT_FRAME",
    "UNIT_INTENSITY",
    "grade_code",
    "finding_site",
    "all_private_codes",
]

SCHEME = "99CQA"
SCHEME_NAME = "Cardiac QA Node private codes"


def _p(value: str, meaning: str) -> Code:
    return Code(value, SCHEME, meaning)


# -- private concepts (names) ----------------------------------------------------------------
NATIVE_SCORE = _p("CQA001", "Quality score (native scale)")
MIN_FRAME_SCORE = _p("CQA002", "Minimum frame quality score")
FRACTION_OK = _p("CQA003", "Fraction of frames with acceptable quality")
APPROVED_FOR_STRAIN = _p("CQA004", "Approved for strain analysis")
RESCAN_RECOMMENDED = _p("CQA005", "Rescan recommended")
EF_SUITABLE = _p("CQA006", "Suitable for ejection fraction")
DECISION_REASON = _p("CQA007", "Decision reason")
NOT_ASSESSABLE_REASON = _p("CQA008", "Reason not assessable")
ED_FRAME = _p("CQA009", "End-diastolic frame number")
ES_FRAME = _p("CQA010", "End-systolic frame number")
METRICS: dict[str, Code] = {
    "gcnr": _p("CQA011", "Generalized contrast-to-noise ratio"),
    "cnr": _p("CQA012", "Contrast-to-noise ratio"),
    "cr": _p("CQA013", "Contrast ratio"),
    "intensity": _p("CQA014", "Mean normalized intensity"),
}

# -- private values (grades) -----------------------------------------------------------------
NOT_ASSESSABLE = _p("CQA-NA", "Not assessable")
_ECHO_GRADES = ("not visible", "poor", "ok", "good", "excellent")  # 1..5
_MR_GRADES = ("nondiagnostic", "marked blurring", "moderate blurring", "mild blurring", "excellent")  # 0..4


def grade_code(modality: str, grade: int) -> Code:
    """Private code of an integer grade: ``CQA-E1``..``CQA-E5`` (echo), ``CQA-M0``..``CQA-M4`` (MR)."""
    if modality == "US":
        if not 1 <= grade <= 5:
            raise ValueError(f"echo grade {grade} outside 1..5")
        return _p(f"CQA-E{grade}", f"Echo quality {grade}: {_ECHO_GRADES[grade - 1]}")
    if not 0 <= grade <= 4:
        raise ValueError(f"MR grade {grade} outside 0..4")
    return _p(f"CQA-M{grade}", f"MR quality {grade}: {_MR_GRADES[grade]}")


# -- standard codes --------------------------------------------------------------------------
IMAGE_QUALITY_RATING = Code("111029", "DCM", "Image Quality Rating")
QUALITY_ASSESSMENT = Code("111050", "DCM", "Quality Assessment")
IMAGE_VIEW = Code("111031", "DCM", "Image View")
AI_FAMILY = Code("123110", "DCM", "Artificial Intelligence")
YES = Code("373066001", "SCT", "Yes")
NO = Code("373067005", "SCT", "No")
HEART = Code("80891009", "SCT", "Heart")
PROCEDURES = {
    "US": Code("433236007", "SCT", "Transthoracic echocardiography"),
    "MR": Code("241620005", "SCT", "Cardiac MRI"),
}
VIEWS = {
    "A4C": Code("399214001", "SCT", "Apical four chamber"),
    "A2C": Code("399232001", "SCT", "Apical two chamber"),
    "ALAX": Code("399339008", "SCT", "Apical long axis"),
}
UNIT_SCORE = Code("{score}", "UCUM", "score")
UNIT_0_100 = Code("{0:100}", "UCUM", "0:100")
UNIT_RATIO = Code("1", "UCUM", "no units")
UNIT_FRAME = Code("{frame}", "UCUM", "frame")
UNIT_INTENSITY = Code("{intensity}", "UCUM", "intensity")

# CID 3717 Myocardial Wall Segments (SCT), by view and arqee region id.
_SEG = {
    "basal inferoseptal": ("396646008", "left ventricle basal inferoseptal segment"),
    "mid inferoseptal": ("396649001", "left ventricle mid inferoseptal segment"),
    "basal anterolateral": ("396654005", "left ventricle basal anterolateral segment"),
    "mid anterolateral": ("396656007", "left ventricle mid anterolateral segment"),
    "basal inferior": ("264846001", "left ventricle basal inferior segment"),
    "mid inferior": ("264847005", "left ventricle mid inferior segment"),
    "basal anterior": ("264850008", "left ventricle basal anterior segment"),
    "mid anterior": ("264848000", "left ventricle mid anterior segment"),
    "basal inferolateral": ("396652009", "left ventricle basal inferolateral segment"),
    "mid inferolateral": ("396655006", "left ventricle mid inferolateral segment"),
    "basal anteroseptal": ("396482007", "left ventricle basal anteroseptal segment"),
    "mid anteroseptal": ("396647004", "left ventricle mid anteroseptal segment"),
    "apical septal": ("264845002", "left ventricle apical septal segment"),
    "apical lateral": ("264853005", "left ventricle apical lateral segment"),
    "apical inferior": ("264849008", "left ventricle apical inferior segment"),
    "apical anterior": ("264844003", "left ventricle apical anterior segment"),
}
# (left wall, right wall, left apical, right apical) per view, image left/right with apex at top.
_WALLS = {
    "A4C": ("inferoseptal", "anterolateral", "apical septal", "apical lateral"),
    "A2C": ("inferior", "anterior", "apical inferior", "apical anterior"),
    "ALAX": ("inferolateral", "anteroseptal", "apical lateral", "apical anterior"),
}
_MITRAL_ANNULUS = Code("65197004", "SCT", "Mitral Annulus")


def finding_site(view: str | None, region_id: str) -> Code | None:
    """CID 3717 segment (or SCT Mitral Annulus) for an echo region; None when the view is unknown."""
    if view not in _WALLS:
        return None
    left, right, apical_left, apical_right = _WALLS[view]
    if region_id.startswith("annulus_"):
        return _MITRAL_ANNULUS
    key = {
        "basal_left": f"basal {left}",
        "mid_left": f"mid {left}",
        "apical_left": apical_left,
        "apical_right": apical_right,
        "mid_right": f"mid {right}",
        "basal_right": f"basal {right}",
    }.get(region_id)
    if key is None:
        return None
    value, meaning = _SEG[key]
    return Code(value, "SCT", meaning)


def all_private_codes() -> list[Code]:
    """Every private code (for docs and tests)."""
    names = [
        NATIVE_SCORE, MIN_FRAME_SCORE, FRACTION_OK, APPROVED_FOR_STRAIN, RESCAN_RECOMMENDED,
        EF_SUITABLE, DECISION_REASON, NOT_ASSESSABLE_REASON, ED_FRAME, ES_FRAME, *METRICS.values(),
    ]
    grades = [grade_code("US", g) for g in range(1, 6)] + [grade_code("MR", g) for g in range(5)]
    return [*names, *grades, NOT_ASSESSABLE]
