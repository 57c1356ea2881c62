"""Reading the header of a received data set (everything before Pixel Data), never the pixels.

The values extracted here are the grouping keys of the database (PS3.3 C.7.2.1 General Study,
C.7.3.1 General Series, C.7.6.1 General Image, C.7.6.6 Multi-frame, C.7.6.3 Image Pixel) and the
pixel budget. Nothing in this module logs.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from io import BytesIO
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.uid import UID

from .status import InvalidHeader, PixelBudgetExceeded

__all__ = [
    "InstanceHeader",
    "parse_header",
    "check_pixel_budget",
    "check_complete",
    "dataset_offset",
    "REQUIRED_UIDS",
]

REQUIRED_UIDS: tuple[str, ...] = ("SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID", "SOPClassUID")
_UID_MAX = 64  # PS3.5 6.2, VR UI
_LONG_VRS = frozenset(b"OB OD OF OL OV OW SQ SV UC UN UR UT UV".split())  # PS3.5 7.1.2: 4-byte length
_UNDEFINED = 0xFFFFFFFF
_ITEM, _ITEM_DELIM, _SEQ_DELIM = (0xFFFE, 0xE000), (0xFFFE, 0xE00D), (0xFFFE, 0xE0DD)
_PIXEL_TAGS = frozenset({(0x7FE0, 0x0010), (0x7FE0, 0x0008), (0x7FE0, 0x0009)})


@dataclass(frozen=True)
class InstanceHeader:
    """What the node records about one received instance (no pixel data)."""

    sop_class_uid: str
    sop_instance_uid: str
    series_instance_uid: str
    study_instance_uid: str
    transfer_syntax_uid: str
    modality: str | None = None
    series_description: str | None = None
    series_number: int | None = None
    manufacturer: str | None = None
    manufacturer_model_name: str | None = None
    station_name: str | None = None
    patient_id: str | None = None
    patient_name: str | None = None
    study_date: str | None = None
    study_description: str | None = None
    rows: int | None = None
    columns: int | None = None
    number_of_frames: int | None = None
    samples_per_pixel: int | None = None
    instance_number: int | None = None
    image_type: str | None = None

    @property
    def pixel_count(self) -> int:
        """Rows x Columns x NumberOfFrames x SamplesPerPixel (0 when not an image)."""
        if not self.rows or not self.columns:
            return 0
        return self.rows * self.columns * (self.number_of_frames or 1) * (self.samples_per_pixel or 1)


def _text(ds: Dataset, keyword: str, limit: int) -> str | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    if isinstance(value, list | tuple | MultiValue):
        value = "\\".join(str(v) for v in value)
    text = str(value).strip().replace("\x00", "")
    return text[:limit] or None


def _int(ds: Dataset, keyword: str) -> int | None:
    value: Any = ds.get(keyword)
    if value is None or value == "":
        return None
    if isinstance(value, MultiValue):
        if not len(value):
            return None
        value = value[0]
    return int(value)


def _uid(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    text = str(value).strip().rstrip("\x00").strip() if value is not None else ""
    if not text:
        raise InvalidHeader(f"required attribute {keyword} is missing or empty")
    if len(text) > _UID_MAX or any(c not in "0123456789." for c in text):
        raise InvalidHeader(f"{keyword} is not a valid UID (PS3.5 9.1)")
    return text


def dataset_offset(data: bytes | memoryview) -> int:
    """Start of the data set: after preamble, "DICM" and the file meta group (PS3.10 7.1)."""
    if bytes(data[128:132]) != b"DICM" or bytes(data[132:136]) != b"\x02\x00\x00\x00":
        raise InvalidHeader("not a Part-10 stream with File Meta Information Group Length")
    return 144 + int.from_bytes(data[140:144], "little")


def parse_header(head: bytes, body: bytes | memoryview | None = None) -> InstanceHeader:
    """Parse a received instance up to Pixel Data, checking that nothing is cut short.

    Parameters
    ----------
    head : bytes
        Preamble and file meta (PS3.10 7.1) — or the whole Part-10 stream when ``body`` is None.
    body : bytes or memoryview, optional
        The encoded data set exactly as received. Only the header part of it is copied.

    Returns
    -------
    InstanceHeader

    Raises
    ------
    InvalidHeader
        A required UID is missing or invalid, the data set is truncated, an image has no pixel
        data, or the data set's SOP Instance UID differs from the request's Affected SOP
        Instance UID (carried in the file meta, PS3.7 9.1.1).
    Exception
        Whatever pydicom raises on malformed input (the handler maps it to 0xC210).
    """
    if body is None:
        offset = dataset_offset(head)
        head, body = head[:offset], memoryview(head)[offset:]
    meta = dcmread(BytesIO(head)).file_meta  # preamble + file meta, an empty data set
    ts = UID(str(meta.get("TransferSyntaxUID", "")).strip())
    if not ts:
        raise InvalidHeader("file meta lacks TransferSyntaxUID")
    if ts.is_deflated:  # compressed as a whole: pydicom inflates it, the walk is not possible
        header_end, has_pixels = len(body), None
    else:
        has_pixels, header_end = check_complete(body, 0, ts)
    ds = dcmread(BytesIO(head + bytes(body[:header_end])), stop_before_pixels=True)
    meta = ds.file_meta
    if has_pixels is False:
        is_image = "Image Storage" in UID(str(ds.get("SOPClassUID", ""))).name
        if is_image or ("Rows" in ds and "Columns" in ds):
            raise InvalidHeader("image without pixel data (truncated data set?)")
    uids = {kw: _uid(ds, kw) for kw in REQUIRED_UIDS}
    affected = str(meta.get("MediaStorageSOPInstanceUID", "")).strip().rstrip("\x00")
    if affected and affected != uids["SOPInstanceUID"]:
        raise InvalidHeader("SOPInstanceUID differs from the request's Affected SOP Instance UID")
    return InstanceHeader(
        sop_class_uid=uids["SOPClassUID"],
        sop_instance_uid=uids["SOPInstanceUID"],
        series_instance_uid=uids["SeriesInstanceUID"],
        study_instance_uid=uids["StudyInstanceUID"],
        transfer_syntax_uid=ts,
        modality=_text(ds, "Modality", 16),
        series_description=_text(ds, "SeriesDescription", 64),
        series_number=_int(ds, "SeriesNumber"),
        manufacturer=_text(ds, "Manufacturer", 64),
        manufacturer_model_name=_text(ds, "ManufacturerModelName", 64),
        station_name=_text(ds, "StationName", 16),
        patient_id=_text(ds, "PatientID", 64),
        patient_name=_text(ds, "PatientName", 324),
        study_date=_text(ds, "StudyDate", 8),
        study_description=_text(ds, "StudyDescription", 64),
        rows=_int(ds, "Rows"),
        columns=_int(ds, "Columns"),
        number_of_frames=_int(ds, "NumberOfFrames"),
        samples_per_pixel=_int(ds, "SamplesPerPixel"),
        instance_number=_int(ds, "InstanceNumber"),
        image_type=_text(ds, "ImageType", 256),
    )


class _Walker:
    """Bounds-checking walk over encoded elements (PS3.5 7.1, 7.5) without decoding values."""

    def __init__(self, data: bytes | memoryview, transfer_syntax: UID) -> None:
        self.data, self.end = data, len(data)
        self.implicit = transfer_syntax.is_implicit_VR
        self.endian = "<" if transfer_syntax.is_little_endian else ">"
        self.found_pixels = False
        self.pixel_offset: int | None = None

    def _need(self, pos: int, size: int) -> None:
        if pos + size > self.end:
            raise InvalidHeader("data set is truncated (an element extends past the end)")

    def elements(self, pos: int, depth: int = 0) -> int:
        """Walk elements from ``pos`` to the end, or to an Item Delimitation Item when nested."""
        while pos < self.end:
            self._need(pos, 8)
            element_start = pos
            group, elem = struct.unpack_from(self.endian + "HH", self.data, pos)
            if (group, elem) == _ITEM_DELIM and depth:
                return pos + 8
            if self.implicit or group == 0xFFFE:
                (length,) = struct.unpack_from(self.endian + "L", self.data, pos + 4)
                pos += 8
            elif bytes(self.data[pos + 4 : pos + 6]) in _LONG_VRS:
                self._need(pos, 12)
                (length,) = struct.unpack_from(self.endian + "L", self.data, pos + 8)
                pos += 12
            else:
                (length,) = struct.unpack_from(self.endian + "H", self.data, pos + 6)
                pos += 8
            if depth == 0 and (group, elem) in _PIXEL_TAGS and not self.found_pixels:
                self.found_pixels = True
                self.pixel_offset = element_start
            if length == _UNDEFINED:
                pos = self.items(pos, depth + 1)
            else:
                self._need(pos, length)
                pos += length
        if depth:
            raise InvalidHeader("data set is truncated (an item is not terminated)")
        return pos

    def items(self, pos: int, depth: int) -> int:
        """Items of an undefined-length sequence or encapsulated pixel data, to the delimiter."""
        if depth > 32:
            raise InvalidHeader("sequences nested too deeply")
        while True:
            self._need(pos, 8)
            group, elem, length = struct.unpack_from(self.endian + "HHL", self.data, pos)
            pos += 8
            if (group, elem) == _SEQ_DELIM:
                return pos
            if (group, elem) != _ITEM:
                raise InvalidHeader("malformed sequence (expected an item)")
            if length == _UNDEFINED:
                pos = self.elements(pos, depth)
            else:
                self._need(pos, length)
                pos += length


def check_complete(data: bytes | memoryview, offset: int, transfer_syntax: UID) -> tuple[bool, int]:
    """Check that every element from ``offset`` (the data set start) fits in ``data``.

    pydicom stops before Pixel Data and silently returns short values for a cut-off element, so a
    data set truncated in transit would otherwise look valid.

    Returns
    -------
    has_pixels : bool
        Whether a top-level pixel data element (Pixel Data, Float or Double Float Pixel Data)
        is present.
    header_end : int
        Offset of the first pixel data element, else ``len(data)``: the header is before it.

    Raises
    ------
    InvalidHeader
        An element, item or encapsulated pixel data extends past the end (truncated data set).
    """
    walker = _Walker(data, transfer_syntax)
    end = walker.elements(offset)
    return walker.found_pixels, walker.pixel_offset if walker.pixel_offset is not None else end


def check_pixel_budget(header: InstanceHeader, max_pixels: int) -> None:
    """Refuse instances whose header declares more samples than ``max_pixels``.

    Raises
    ------
    PixelBudgetExceeded
        Rows x Columns x NumberOfFrames x SamplesPerPixel > ``max_pixels``, or any of them
        negative (mapped to 0xA700, PS3.4 B.2.3 "Refused: Out of Resources").
    """
    parts = (header.rows, header.columns, header.number_of_frames, header.samples_per_pixel)
    if any(p is not None and p < 0 for p in parts):
        raise PixelBudgetExceeded("negative image dimension in the header")
    if header.pixel_count > max_pixels:
        raise PixelBudgetExceeded(
            f"header declares {header.pixel_count} pixel samples, more than the configured "
            f"limits.max_pixels_per_instance = {max_pixels}"
        )
