"""Real analyzers following the Analyzer protocol, for tests of the node's job machinery.

They return a valid :class:`QualityResult` without models. When the environment variable
:data:`CALLS_ENV` names a file, every call appends one JSON line to it (pid, analyzer, unit kind,
SOP Instance UIDs, frame count), so a test can see which process ran what.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from analyzers.base import (
    ECHO_SCALE,
    MR_SCALE,
    AnalysisUnit,
    AnalyzerError,
    Decisions,
    Frames,
    GlobalGrade,
    QualityResult,
)

__all__ = [
    "CALLS_ENV",
    "CountingAnalyzer",
    "CrashingAnalyzer",
    "SlowAnalyzer",
    "TakeoverAnalyzer",
    "TakeoverFailingAnalyzer",
    "EchoCountingAnalyzer",
    "FailingAnalyzer",
    "MissingPackAnalyzer",
    "MrCountingAnalyzer",
    "read_calls",
]

CALLS_ENV = "CQA_TEST_ANALYZER_CALLS"


def read_calls(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The calls recorded in ``path`` (empty when none yet)."""
    try:
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


class CountingAnalyzer:
    """Grades every unit 3.0 ("ok"/"moderate blurring"), recording the call."""

    name = "counting"
    version = "1.0.0"
    required_models: tuple[str, ...] = ()

    def analyze(self, unit: AnalysisUnit, models: Any, settings: Any) -> QualityResult:
        frames = sum(int(ds.get("NumberOfFrames", 1) or 1) for ds in unit.datasets)
        self._record(unit, frames)
        modality = unit.modality if unit.modality in ("US", "MR") else "US"
        scale = ECHO_SCALE if modality == "US" else MR_SCALE
        return QualityResult(
            **unit.identity(),
            analyzer=self.name,
            analyzer_version=self.version,
            modality=modality,
            assessable=True,
            scale=scale,
            global_grade=GlobalGrade(3.0, scale.label_for(3.0)),
            frames=Frames(frames) if modality == "US" else None,
            decisions=Decisions(rescan_recommended=False, ef_suitable=True if modality == "US" else None),
        )

    def _record(self, unit: AnalysisUnit, frames: int) -> None:
        path = os.environ.get(CALLS_ENV)
        if not path:
            return
        line = json.dumps(
            {
                "pid": os.getpid(),
                "analyzer": self.name,
                "kind": unit.kind,
                "analysis_uid": unit.analysis_uid,
                "sop_instance_uids": list(unit.sop_instance_uids),
                "frames": frames,
            }
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)


class EchoCountingAnalyzer(CountingAnalyzer):
    """Replaces the built-in ``echo-regional`` by name."""

    name = "echo-regional"


class MrCountingAnalyzer(CountingAnalyzer):
    """Replaces the built-in ``mr-wholeheart`` by name."""

    name = "mr-wholeheart"


class MissingPackAnalyzer(CountingAnalyzer):
    """Needs a model pack that does not exist: its analyses fail with ``pack_invalid``."""

    name = "needs-pack"
    required_models = ("cqa-test-no-such-pack",)


class FailingAnalyzer(CountingAnalyzer):
    """Always raises an :class:`AnalyzerError` (code ``analyzer_error``)."""

    name = "failing"

    def analyze(self, unit: AnalysisUnit, models: Any, settings: Any) -> QualityResult:
        raise AnalyzerError("deliberate test failure")


class CrashingAnalyzer(CountingAnalyzer):
    """Kills its worker process, as a native crash or the OOM killer would."""

    name = "crashing"

    def analyze(self, unit: AnalysisUnit, models: Any, settings: Any) -> QualityResult:
        os._exit(3)


class SlowAnalyzer(CountingAnalyzer):
    """Records the call, then takes a minute: for shutdown tests."""

    name = "slow"

    def analyze(self, unit: AnalysisUnit, models: Any, settings: Any) -> QualityResult:
        self._record(unit, 0)
        time.sleep(60)
        return super().analyze(unit, models, settings)


class TakeoverAnalyzer(CountingAnalyzer):
    """While it runs, a new node takes the job over: RUNNING jobs reset, then claimed again.

    What a node restarted while an orphaned worker of the old one still runs does; the stale
    worker's result must then be dropped (the claim's ``attempts`` is the fencing token).
    """

    name = "takeover"
    fail = False

    def analyze(self, unit: AnalysisUnit, models: Any, settings: Any) -> QualityResult:
        from sqlalchemy import select

        from dicom_node.jobs import claim_analysis, reset_running
        from storage.db import Database
        from storage.schema import Analysis

        db = Database(settings.storage.effective_database_url())
        try:
            with db.session() as s:
                analysis_id = s.scalar(select(Analysis.id).where(Analysis.analysis_uid == unit.analysis_uid))
            reset_running(db)
            assert claim_analysis(db, analysis_id, "new-node")
        finally:
            db.dispose()
        if self.fail:
            raise AnalyzerError("the stale attempt fails after the takeover")
        return super().analyze(unit, models, settings)


class TakeoverFailingAnalyzer(TakeoverAnalyzer):
    """:class:`TakeoverAnalyzer` whose stale attempt then fails."""

    name = "takeover-failing"
    fail = True

