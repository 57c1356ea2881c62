"""The echo view: View Code Sequence (SCT codes), else description keywords, else unknown."""

from __future__ import annotations

import re

import pydicom

__all__ = ["VIEW_CODES", "segment_names", "view_of"]

#: SNOMED CT codes of the apical views (DCM CID 12226 echocardiography image view).
VIEW_CODES: dict[str, str] = {"399214001": "A4C", "399232001": "A2C", "399339008": "ALAX"}

_KEYWORDS: tuple[tuple[str, str], ...] = (
    (r"\ba4c\b|4[\s-]*ch|four[\s-]*chamber|apical[\s_-]*4|\b4c\b", "A4C"),
    (r"\ba2c\b|2[\s-]*ch|two[\s-]*chamber|apical[\s_-]*2|\b2c\b", "A2C"),
    (r"\ba?plax\b|\balax\b|\ba3c\b|3[\s-]*ch|three[\s-]*chamber|apical[\s_-]*(3|long)", "ALAX"),
)

# (left wall, right wall) per view, image left/right with the apex at the top.
_WALLS: dict[str, tuple[str, str]] = {
    "A4C": ("inferoseptal", "anterolateral"),
    "A2C": ("inferior", "anterior"),
    "ALAX": ("inferolateral", "anteroseptal"),
}


def view_of(ds: pydicom.Dataset) -> str | None:
    """``A4C`` | ``A2C`` | ``ALAX`` | None, from View Code Sequence (0054,0220), else keywords."""
    for item in getattr(ds, "ViewCodeSequence", None) or []:
        code = str(getattr(item, "CodeValue", "") or getattr(item, "LongCodeValue", "")).strip()
        if code in VIEW_CODES:
            return VIEW_CODES[code]
        meaning = str(getattr(item, "CodeMeaning", ""))
        found = _from_text(meaning)
        if found:
            return found
    for kw in ("SeriesDescription", "ImageComments", "ProtocolName"):
        found = _from_text(str(getattr(ds, kw, "") or ""))
        if found:
            return found
    return None


def _from_text(text: str) -> str | None:
    t = text.lower()
    for pattern, view in _KEYWORDS:
        if re.search(pattern, t):
            return view
    return None


def segment_names(view: str | None) -> dict[str, str]:
    """Region id → display name for ``view`` (generic left/right names when unknown)."""
    left, right = _WALLS.get(view or "", ("left wall", "right wall"))
    return {
        "basal_left": f"basal {left}",
        "mid_left": f"mid {left}",
        "apical_left": f"apical {left}",
        "apical_right": f"apical {right}",
        "mid_right": f"mid {right}",
        "basal_right": f"basal {right}",
        "annulus_left": f"{left} mitral annulus",
        "annulus_right": f"{right} mitral annulus",
    }
