"""Routing: the configured ``[[routes]]`` choose an analyzer for a unit (ARCHITECTURE.md §7).

The first route whose every given field matches wins; no match means ``"none"`` (stored, not
analysed). Matching uses only header attributes the node records at ingest, so routing never
reads pixel data:

- ``modality``: equal, case-insensitive;
- ``sop_class``: a keyword from pydicom's UID registry (``UltrasoundMultiFrameImageStorage``) or a
  dotted UID, compared with the SOP Class UID (PS3.4 Annex B);
- ``series_description``: case-insensitive regular-expression *search*;
- ``image_type``: *contains* — every backslash-separated value of the route is one of the values of
  Image Type (0008,0008), case-insensitive (``"LOCALIZER"`` matches ``ORIGINAL\\PRIMARY\\LOCALIZER``);
- ``min_frames``: Number of Frames (absent counts as 1) is at least this.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pydicom.uid import UID_dictionary

from config.settings import Route

__all__ = [
    "NO_ANALYZER",
    "RoutingError",
    "RoutingHeader",
    "choose_analyzer",
    "resolve_sop_class",
    "route_matches",
    "validate_routes",
]

#: The analyzer name meaning "store, do not analyse".
NO_ANALYZER = "none"

_UID_RE = re.compile(r"^[0-9]+(\.[0-9]+)+$")


class RoutingError(ValueError):
    """A route cannot be evaluated (for example an unknown SOP class keyword)."""

    code = "route_invalid"


@dataclass(frozen=True)
class RoutingHeader:
    """The header attributes routing looks at, for one instance or one series.

    Attribute names are the DICOM keywords so that a pydicom ``Dataset`` can be used in its place.
    """

    Modality: str | None = None
    SOPClassUID: str | None = None
    SeriesDescription: str | None = None
    ImageType: tuple[str, ...] = ()
    NumberOfFrames: int | None = None


@lru_cache(maxsize=1)
def _keyword_to_uid() -> dict[str, str]:
    return {entry[4]: uid for uid, entry in UID_dictionary.items() if entry[4]}


def resolve_sop_class(value: str) -> str:
    """The SOP Class UID for a keyword or UID.

    Parameters
    ----------
    value
        A keyword of pydicom's UID registry (``"MRImageStorage"``) or a dotted UID.

    Raises
    ------
    RoutingError
        If ``value`` is neither a UID nor a known keyword.
    """
    value = value.strip()
    if _UID_RE.match(value):
        return value
    uid = _keyword_to_uid().get(value)
    if uid is None:
        raise RoutingError(f"sop_class {value!r} is neither a UID nor a SOP class keyword known to pydicom")
    return uid


def _get(header: Any, keyword: str) -> Any:
    if isinstance(header, Mapping):
        return header.get(keyword)
    return getattr(header, keyword, None)


def _values(raw: Any) -> tuple[str, ...]:
    """Multi-valued attribute as upper-case strings (accepts ``A\\B`` strings and sequences)."""
    if raw is None:
        return ()
    if isinstance(raw, str):
        parts: Iterable[Any] = raw.split("\\")
    elif isinstance(raw, Iterable):
        parts = raw
    else:
        parts = (raw,)
    return tuple(str(p).strip().upper() for p in parts if str(p).strip())


def _frames(raw: Any) -> int:
    try:
        return max(int(raw), 1) if raw not in (None, "") else 1
    except (TypeError, ValueError):
        return 1


def route_matches(route: Route, header: Any) -> bool:
    """Whether every field given in ``route`` matches ``header``.

    Parameters
    ----------
    route
        One configured route.
    header
        A :class:`RoutingHeader`, a pydicom ``Dataset`` or a mapping keyed by DICOM keyword.
    """
    if route.modality is not None:
        if str(_get(header, "Modality") or "").strip().upper() != route.modality.strip().upper():
            return False
    if route.sop_class is not None:
        if str(_get(header, "SOPClassUID") or "").strip() != resolve_sop_class(route.sop_class):
            return False
    if route.series_description is not None:
        text = str(_get(header, "SeriesDescription") or "")
        if re.search(route.series_description, text, flags=re.IGNORECASE) is None:
            return False
    if route.image_type is not None:
        wanted = _values(route.image_type)
        have = set(_values(_get(header, "ImageType")))
        if not all(v in have for v in wanted):
            return False
    if route.min_frames is not None and _frames(_get(header, "NumberOfFrames")) < route.min_frames:
        return False
    return True


def choose_analyzer(routes: Sequence[Route], header: Any) -> str:
    """The analyzer name of the first matching route, else :data:`NO_ANALYZER`.

    Parameters
    ----------
    routes
        ``settings.routes`` in order.
    header
        See :func:`route_matches`.

    Returns
    -------
    str
        An analyzer name (possibly one not in the registry; the caller decides) or ``"none"``.
    """
    for route in routes:
        if route_matches(route, header):
            return route.analyzer
    return NO_ANALYZER


def validate_routes(routes: Sequence[Route], known_analyzers: Collection[str] | None = None) -> list[str]:
    """Problems with the configured routes, one message per problem (empty when all is well).

    Unknown SOP class keywords and, when ``known_analyzers`` is given, analyzer names that are not
    registered are reported; such routes still apply (an unknown analyzer's analyses are skipped).
    """
    problems: list[str] = []
    for i, route in enumerate(routes, start=1):
        if route.sop_class is not None:
            try:
                resolve_sop_class(route.sop_class)
            except RoutingError as exc:
                problems.append(f"routes[{i}]: {exc}")
        if (
            known_analyzers is not None
            and route.analyzer != NO_ANALYZER
            and route.analyzer not in known_analyzers
        ):
            problems.append(
                f"routes[{i}]: analyzer {route.analyzer!r} is not registered "
                f"(known: {', '.join(sorted(known_analyzers)) or 'none'})"
            )
    return problems
