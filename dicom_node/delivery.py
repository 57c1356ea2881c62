"""Delivery of stored outputs to the configured destinations (C-STORE with back-off).

Placeholder until the reports work (issue 6) lands: nothing to deliver yet.
"""

from __future__ import annotations

__all__ = ["deliver_due"]


def deliver_due(db, store, settings) -> int:  # noqa: ANN001
    """Send every delivery whose ``next_attempt_at`` has come; return how many were attempted."""
    return 0
