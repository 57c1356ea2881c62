"""The internal signal that an input cannot be graded (becomes ``assessable: false``)."""

from __future__ import annotations

__all__ = ["NotAssessable"]


class NotAssessable(Exception):
    """The series cannot be graded; ``reason`` is the specific, user-facing reason.

    Raised by the assembly and checks and caught only by the analyzer, which turns it into a
    normal result with ``assessable: false`` (never an error).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
