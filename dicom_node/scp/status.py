"""Failure taxonomy of the C-STORE handler and the one mapping to DIMSE statuses.

PS3.4 B.2.3 (Storage SOP Class statuses) and PS3.7 C.4.2 (C-STORE): ``0x0000`` success,
``0xA7xx`` refused: out of resources, ``0xC000``-``0xCFFF`` error: cannot understand. The node
uses ``0xC210`` for a data set it cannot parse or that lacks the identifying UIDs (nothing is
stored), ``0xA700`` when it cannot store (disk, database, or the pixel budget of
``limits.max_pixels_per_instance``) and ``0xC211`` for anything unexpected.
"""

from __future__ import annotations

import errno
from enum import IntEnum, StrEnum

from sqlalchemy.exc import SQLAlchemyError

__all__ = [
    "StoreStatus",
    "Phase",
    "IngestError",
    "InvalidHeader",
    "OutOfResources",
    "PixelBudgetExceeded",
    "status_for",
    "describe",
]


class StoreStatus(IntEnum):
    """DIMSE statuses the C-STORE handler returns (PS3.4 B.2.3)."""

    SUCCESS = 0x0000
    OUT_OF_RESOURCES = 0xA700
    CANNOT_UNDERSTAND = 0xC210
    UNEXPECTED = 0xC211


class Phase(StrEnum):
    """Where the handler was when it failed; the mapping depends on it."""

    PARSE = "parse"  # reading the header and checking the UIDs
    POLICY = "policy"  # pixel budget
    WRITE = "write"  # spool, fsync, rename
    COMMIT = "commit"  # the one database transaction
    DONE = "done"


class IngestError(Exception):
    """Root of the handler's own errors; ``message`` never contains patient data."""

    code = "ingest_error"
    status: StoreStatus = StoreStatus.UNEXPECTED


class InvalidHeader(IngestError):
    """The data set cannot be parsed or lacks SOP/Series/Study UIDs: nothing is stored."""

    code = "invalid_header"
    status = StoreStatus.CANNOT_UNDERSTAND


class OutOfResources(IngestError):
    """The node cannot store the instance now (PS3.4 "Refused: Out of Resources")."""

    code = "out_of_resources"
    status = StoreStatus.OUT_OF_RESOURCES


class PixelBudgetExceeded(OutOfResources):
    """Rows x Columns x Frames x Samples from the header exceeds the configured budget."""

    code = "pixel_budget_exceeded"


def status_for(exc: BaseException, phase: Phase) -> StoreStatus:
    """The DIMSE status for a failure raised in ``phase``.

    Parameters
    ----------
    exc : BaseException
        What the handler raised.
    phase : Phase
        Where it was raised.

    Returns
    -------
    StoreStatus
        ``0xC210`` for anything raised while parsing the header (pydicom raises many types on
        malformed input), ``0xA700`` for disk (``OSError``), database (``SQLAlchemyError``) and
        memory failures and for :class:`OutOfResources`, the error's own status for
        :class:`IngestError`, else ``0xC211``.
    """
    if isinstance(exc, IngestError):
        return exc.status
    if isinstance(exc, MemoryError):
        return StoreStatus.OUT_OF_RESOURCES
    if phase is Phase.PARSE:
        return StoreStatus.CANNOT_UNDERSTAND
    if isinstance(exc, OSError | SQLAlchemyError):
        return StoreStatus.OUT_OF_RESOURCES
    return StoreStatus.UNEXPECTED


def describe(exc: BaseException, phase: Phase) -> str:
    """A log/audit message free of patient data: our own messages, else only the type.

    Messages of foreign exceptions (pydicom, drivers) may quote element values, so they are
    never repeated; ``OSError`` contributes its errno name only.
    """
    if isinstance(exc, IngestError):
        return f"{exc.code}: {exc}"
    detail = type(exc).__name__
    if isinstance(exc, OSError) and exc.errno is not None:
        detail += f" ({errno.errorcode.get(exc.errno, exc.errno)})"
    return f"{phase.value} failed: {detail}"
