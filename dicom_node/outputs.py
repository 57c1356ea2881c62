"""Turning a finished analysis into DICOM output objects and delivery rows.

Placeholder until the reports work (issue 6) lands: it produces nothing yet.
"""

from __future__ import annotations

__all__ = ["produce_outputs"]


def produce_outputs(db, store, settings, analysis_id: int) -> list[int]:  # noqa: ANN001
    """Build SR/SC for analysis ``analysis_id``, store them, record Output and Delivery rows.

    Returns the new output row ids. Idempotent: a second call for the same analysis adds nothing.
    """
    return []
