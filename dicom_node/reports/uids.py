"""Deterministic output UIDs (ARCHITECTURE.md §6; PS3.5 §9 and Annex B.2).

Every UID of an output object derives by UUID v5 from the analysis seed (analysis UID plus the
analysis key) and ``(kind, index)``: building the outputs of the same analysis twice gives byte-wise
the same UIDs, so a resend is an exact duplicate; a re-analysis has another analysis UID and
therefore new output UIDs. Without ``reports.uid_root`` the UIDs are ``2.25.<uuid as integer>``
(PS3.5 B.2); with a root of at most 24 characters the result still fits the 64-character limit.
"""

from __future__ import annotations

import hashlib
import json
import uuid

from analyzers.base.result import QualityResult

__all__ = ["NAMESPACE", "analysis_key", "derive_uid", "OutputUids"]

# Fixed namespace of this project (uuid5 of its name in the URL namespace).
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://cardiac-qa-node/outputs")


def analysis_key(result: QualityResult) -> str:
    """Digest of (unit UIDs, analyzer, analyzer version, model sha256s): same key = same analysis."""
    payload = {
        "study": result.study_instance_uid,
        "series": result.series_instance_uid,
        "instances": sorted(result.sop_instance_uids),
        "analyzer": result.analyzer,
        "version": result.analyzer_version,
        "models": sorted(m.sha256 for m in result.models),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def derive_uid(root: str | None, seed: str, kind: str, index: int = 0) -> str:
    """UID for ``(seed, kind, index)`` under ``root`` (``2.25.`` when None)."""
    number = uuid.uuid5(NAMESPACE, f"{seed}|{kind}|{index}").int
    prefix = "2.25" if not root else root.rstrip(".")
    uid = f"{prefix}.{number}"
    if len(uid) > 64:  # only with a root longer than settings allow; keep it valid anyway
        uid = f"2.25.{number}"
    return uid


class OutputUids:
    """All UIDs of the outputs of one analysis."""

    def __init__(self, result: QualityResult, root: str | None) -> None:
        self.root = root
        self.seed = f"{result.analysis_uid}|{analysis_key(result)}"

    def uid(self, kind: str, index: int = 0) -> str:
        """SOP Instance UID (or any other UID) of output ``kind`` number ``index``."""
        return derive_uid(self.root, self.seed, kind, index)

    @property
    def sr_series(self) -> str:
        return self.uid("series-sr")

    @property
    def sc_series(self) -> str:
        return self.uid("series-sc")
