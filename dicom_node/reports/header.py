"""Patient and study attributes for the outputs, taken from the source but never copied invalid.

PS3.3 C.7.1.1 (Patient), C.7.2.1 (General Study), C.7.2.2 (Patient Study). Patient Name and
Patient ID are copied verbatim (they identify the patient at the PACS); DA/TM/AS/SH values that do
not conform to PS3.5 §6.2 are left empty, type 2 attributes missing in the source are supplied
empty. Study Instance UID is kept, it is what puts the outputs in the source's study. Everything
is written as UTF-8 (``ISO_IR 192``): pydicom has already decoded the source's character set.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Sequence

from pydicom.charset import decode_bytes
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset

__all__ = ["clean_header", "evidence_stub", "source_refs"]

_DA = re.compile(r"^\d{8}$")
_TM = re.compile(r"^([01]\d|2[0-3])([0-5]\d([0-5]\d(\.\d{1,6})?)?)?$")
_AS = re.compile(r"^\d{3}[DWMY]$")
_UI = re.compile(r"^(0|[1-9]\d*)(\.(0|[1-9]\d*))*$")
_PN_DELIMS = {0x5C, 0x5E, 0x3D}  # \ ^ =
_TEXT_DELIMS = {0x5C}
_VERBATIM = ("PatientName", "PatientID")


def _text(ds: Dataset, keyword: str, strip: bool = True) -> str:
    """The element's value as text, without letting pydicom convert (and validate) raw values.

    pydicom's validation warnings quote the offending value, and that value may be patient data
    (a malformed birth date); decoding the raw bytes ourselves keeps it out of every log.
    """
    tag = tag_for_keyword(keyword)
    try:
        elem = ds.get_item(tag) if tag is not None else None
    except Exception:  # noqa: BLE001 — a malformed element in the source reads as absent
        return ""
    if elem is None:
        return ""
    if isinstance(elem, RawDataElement):
        raw = elem.value or b""
        try:
            value = decode_bytes(raw, ds._character_set, _PN_DELIMS if elem.VR == "PN" else _TEXT_DELIMS)
        except Exception:  # noqa: BLE001 — undecodable bytes: treat as absent
            return ""
        value = value.rstrip(" \x00")
        if "\\" in value and keyword not in _VERBATIM:
            return ""  # multi-valued where one value is expected: invalid
    else:
        v = elem.value
        if v is None:
            return ""
        if isinstance(v, list | tuple) or type(v).__name__ == "MultiValue":
            return ""
        value = str(v)
    return value.strip() if strip else value


def _date(value: str) -> str:
    if not _DA.match(value):
        return ""
    try:
        _dt.datetime.strptime(value, "%Y%m%d")
    except ValueError:
        return ""
    return value


def _short(value: str, limit: int) -> str:
    return value if len(value) <= limit and "\\" not in value and value.isprintable() else ""


def _pn(value: str) -> str:
    groups = value.split("=")
    ok = len(groups) <= 3 and all(len(g.split("^")) <= 5 for g in groups)
    ok = ok and all(len(c) <= 64 for g in groups for c in g.split("^")) and "\\" not in value
    return value if ok else ""


def clean_header(source: Dataset) -> Dataset:
    """Patient/study attributes of ``source`` fit to copy into an output object.

    Parameters
    ----------
    source
        Any source instance of the analysis (tolerantly read).

    Returns
    -------
    Dataset
        PatientName, PatientID, PatientBirthDate, PatientSex, PatientAge, StudyInstanceUID,
        StudyDate, StudyTime, ReferringPhysicianName, StudyID, AccessionNumber, StudyDescription,
        SpecificCharacterSet; every type 2 attribute present (possibly empty).
    """
    out = Dataset()
    out.SpecificCharacterSet = "ISO_IR 192"
    out.PatientName = _text(source, "PatientName", strip=False)  # verbatim
    out.PatientID = _text(source, "PatientID", strip=False)  # verbatim
    out.PatientBirthDate = _date(_text(source, "PatientBirthDate"))
    sex = _text(source, "PatientSex").upper()
    out.PatientSex = sex if sex in ("M", "F", "O") else ""
    age = _text(source, "PatientAge")
    if _AS.match(age):
        out.PatientAge = age
    out.StudyInstanceUID = _text(source, "StudyInstanceUID")
    out.StudyDate = _date(_text(source, "StudyDate"))
    tm = _text(source, "StudyTime")
    out.StudyTime = tm if _TM.match(tm) else ""
    out.ReferringPhysicianName = _pn(_text(source, "ReferringPhysicianName"))
    out.StudyID = _short(_text(source, "StudyID"), 16)
    out.AccessionNumber = _short(_text(source, "AccessionNumber"), 16)
    desc = _short(_text(source, "StudyDescription"), 64)
    if desc:
        out.StudyDescription = desc
    return out


def evidence_stub(source: Dataset, header: Dataset | None = None) -> Dataset:
    """A minimal stand-in for ``source`` as highdicom evidence: UIDs plus the clean header.

    highdicom copies the Patient and Study modules of the first evidence item verbatim
    (``copy_patient_and_study_information``); giving it this stub instead of the source keeps
    invalid source values out of the SR.
    """
    stub = Dataset()
    stub.update(header if header is not None else clean_header(source))
    stub.SOPClassUID = _text(source, "SOPClassUID")
    stub.SOPInstanceUID = _text(source, "SOPInstanceUID")
    stub.SeriesInstanceUID = _text(source, "SeriesInstanceUID")
    stub.StudyInstanceUID = _text(source, "StudyInstanceUID")
    return stub


def source_refs(sources: Sequence[Dataset]) -> list[tuple[str, str]]:
    """(SOP Class UID, SOP Instance UID) of each source, valid UIDs only, in order."""
    refs = []
    for ds in sources:
        cls, inst = _text(ds, "SOPClassUID"), _text(ds, "SOPInstanceUID")
        if _UI.match(cls) and _UI.match(inst):
            refs.append((cls, inst))
    return refs
