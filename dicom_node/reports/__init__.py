"""DICOM outputs: TID 1500 SR and Secondary Capture overlays (the only highdicom importer).

Placeholder until the reports work (issue 6) lands.
"""

from __future__ import annotations

__all__ = ["build_outputs"]


def build_outputs(result, source_datasets, settings, predecessor=None) -> list:  # noqa: ANN001
    """SR + SC datasets for one QualityResult (empty until the reports land)."""
    return []
