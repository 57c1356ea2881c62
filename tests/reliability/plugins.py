"""Analyzers for the reliability suite, loaded into ``cardiac-qa serve`` by import path.

- :class:`GatedEchoAnalyzer` replaces ``echo-regional``: it records each start (UID, pid) in the file
  named by ``CQA_REL_STARTED`` and waits (bounded) until the file named by ``CQA_REL_GATE`` exists, so a
  test can hold analyses in RUNNING (backpressure, SIGKILL during analysis).
- :class:`PackedEchoAnalyzer` replaces ``echo-regional`` and needs the model pack
  ``cqa-rel-pack`` (the test installs it, tampered, under ``data_dir/packs``).
"""

from __future__ import annotations

import os
import time
from typing import Any

from analyzers.base import AnalysisUnit, QualityResult
from tests.plugins.analyzers import CountingAnalyzer

__all__ = ["GatedEchoAnalyzer", "PackedEchoAnalyzer", "PACK_NAME"]

PACK_NAME = "cqa-rel-pack"
_GATE_WAIT_S = 120.0


class GatedEchoAnalyzer(CountingAnalyzer):
    """``echo-regional`` that waits for a gate file before grading (and records every start)."""

    name = "echo-regional"

    def analyze(self, unit: AnalysisUnit, models: Any, settings: Any) -> QualityResult:
        started = os.environ.get("CQA_REL_STARTED")
        if started:
            fd = os.open(started, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, f"{unit.analysis_uid} {os.getpid()}\n".encode())
            finally:
                os.close(fd)
        gate = os.environ.get("CQA_REL_GATE")
        deadline = time.monotonic() + _GATE_WAIT_S
        while gate and not os.path.exists(gate) and time.monotonic() < deadline:
            time.sleep(0.05)
        return super().analyze(unit, models, settings)


class PackedEchoAnalyzer(CountingAnalyzer):
    """``echo-regional`` that needs the pack :data:`PACK_NAME`."""

    name = "echo-regional"
    required_models = (PACK_NAME,)
