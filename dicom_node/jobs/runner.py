"""The job runner: one claimed analysis → analyzer → result row (the ``except Exception`` boundary).

A :class:`WorkerContext` is built once per worker process: database, file store, the analyzer
registry (built-ins plus ``analyzers.plugins``) and the model sessions for every registered
analyzer's ``required_models`` (``ModelSet.load`` over the shipped packs and ``data_dir/packs``).
An analyzer whose packs are missing or invalid is not run: its analyses fail with
``pack_invalid`` and the pack's error, while ingest and other analyzers go on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import update

from analyzers.base import Analyzer, QualityResult, load_registry, run_analyzer
from config.settings import Settings
from models.runtime import SHIPPED_PACKS_DIR, ModelSet
from storage.schema import Analysis, AnalysisState, utcnow

from ..units import load_unit
from .claim import fail_running

if TYPE_CHECKING:
    from storage.db import Database
    from storage.filestore import FileStore

__all__ = ["JobError", "WorkerContext", "analysis_key", "build_worker_context", "run_analysis", "worker_name"]

log = logging.getLogger(__name__)


class JobError(Exception):
    """A job cannot run; ``code`` is stored with the failed analysis."""

    code = "job_error"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


def worker_name() -> str:
    """This process's worker id: ``host:pid``."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}"


@dataclass
class WorkerContext:
    """Everything a worker builds once and reuses for every job."""

    settings: Settings
    db: Database
    store: FileStore
    registry: dict[str, Analyzer]
    registry_errors: dict[str, str]
    models: ModelSet
    worker: str = field(default_factory=worker_name)


def pack_dirs(settings: Settings) -> list[Path]:
    """Where packs are looked up: the shipped ones, then the site's (site packs win)."""
    return [SHIPPED_PACKS_DIR, Path(settings.storage.data_dir) / "packs"]


def load_models(settings: Settings, registry: dict[str, Analyzer]) -> ModelSet:
    """The model sessions every registered analyzer needs (none loaded when none is needed)."""
    names = sorted({m for a in registry.values() for m in a.required_models})
    if not names:
        return ModelSet()
    return ModelSet.load(
        pack_dirs(settings),
        names,
        providers=settings.workers.providers.value,
        threads=settings.workers.threads_per_process,
    )


def build_worker_context(settings: Settings, db: Database = None, store: FileStore = None) -> WorkerContext:
    """Build a worker's context; ``db``/``store`` default to those of ``settings``."""
    from storage.db import Database
    from storage.filestore import FileStore

    if db is None:
        db = Database(settings.storage.effective_database_url())
    if store is None:
        store = FileStore(Path(settings.storage.data_dir))
    registry, errors = load_registry(settings.analyzers.plugins)
    for path, message in errors.items():
        log.error("analyzer %s disabled: %s", path, message)
    models = load_models(settings, registry)
    return WorkerContext(settings=settings, db=db, store=store, registry=registry, registry_errors=errors,
                         models=models)


def analysis_key(sop_instance_uids: tuple[str, ...], analyzer: str, version: str, shas: list[str]) -> str:
    """Digest of (unit UIDs, analyzer, analyzer version, model sha256s): same key, same analysis."""
    payload = json.dumps([sorted(sop_instance_uids), analyzer, version, sorted(shas)], separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def _analyzer_for(ctx: WorkerContext, name: str) -> Analyzer:
    analyzer = ctx.registry.get(name)
    if analyzer is None:
        reasons = "; ".join(ctx.registry_errors.values())
        raise JobError(
            f"analyzer {name!r} is not available in this worker" + (f" ({reasons})" if reasons else ""),
            "analyzer_unavailable",
        )
    missing = ctx.models.missing(analyzer.required_models)
    if missing:
        detail = "; ".join(f"{n}: {why}" for n, why in sorted(missing.items()))
        raise JobError(
            f"analyzer {name!r} is disabled: model pack(s) missing or invalid ({detail}); "
            "install or repair the pack (cardiac-qa models) and restart the node",
            "pack_invalid",
        )
    return analyzer


def _error_of(exc: Exception) -> tuple[str, str]:
    code = getattr(exc, "code", None)
    if isinstance(code, str) and code:
        # Project errors promise messages without patient data.
        return code, str(exc) or type(exc).__name__
    return "internal", f"internal error ({type(exc).__name__}); see the node log"


def run_analysis(ctx: WorkerContext, analysis_id: int) -> AnalysisState:
    """Run one analysis the caller has claimed (state RUNNING) and store its outcome.

    The analysis ends DONE (result JSON and summary columns stored, then
    ``dicom_node.outputs.produce_outputs`` is called) or FAILED with an error code (the
    exception's ``code`` attribute, else ``"internal"``) and a message without patient data.

    Returns
    -------
    AnalysisState
        The state the analysis was left in.
    """
    started = time.monotonic()
    attempt: int | None = None  # the fencing token: a new claim increments ``attempts``
    try:
        with ctx.db.session() as session:
            row = session.get(Analysis, analysis_id)
            if row is None or row.state != AnalysisState.RUNNING:
                raise JobError(f"analysis {analysis_id} is not claimed (running)", "not_claimed")
            name, attempt = row.analyzer, row.attempts
            row.worker = ctx.worker
        analyzer = _analyzer_for(ctx, name)
        unit = load_unit(ctx.db, ctx.store, analysis_id)
        result, drawing = run_analyzer(analyzer, unit, ctx.models, ctx.settings)
        if not isinstance(result, QualityResult):
            raise JobError(f"analyzer {name!r} returned {type(result).__name__}, not a QualityResult",
                           "result_invalid")
        shas = [str(getattr(ctx.models.packs[m].manifest, "sha256", "")) for m in analyzer.required_models]
        values = {
            "state": AnalysisState.DONE,
            "result_json": result.to_json(),
            "assessable": result.assessable,
            "global_score": result.global_grade.score if result.global_grade else None,
            "rescan_recommended": result.decisions.rescan_recommended,
            "analyzer_version": analyzer.version[:32],
            "analysis_key": analysis_key(unit.sop_instance_uids, name, analyzer.version, shas),
            "finished_at": utcnow(),
        }
        with ctx.db.session() as session:
            rc = session.execute(
                update(Analysis)
                .where(
                    Analysis.id == analysis_id,
                    Analysis.state == AnalysisState.RUNNING,
                    Analysis.attempts == attempt,
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            )
        if rc.rowcount != 1:
            log.warning(
                "analysis %d was no longer running under this claim when it finished; result dropped", analysis_id
            )
            return AnalysisState.PENDING
    except Exception as exc:  # noqa: BLE001 — the job runner is a boundary: every failure is recorded
        code, message = _error_of(exc)
        log.error("analysis %d failed: %s (%s)", analysis_id, code, type(exc).__name__)
        log.debug("analysis %d traceback", analysis_id, exc_info=True)
        if not fail_running(ctx.db, analysis_id, code, message, attempt=attempt) and attempt is not None:
            return AnalysisState.PENDING  # claimed again meanwhile: the new attempt decides
        return AnalysisState.FAILED
    log.info("analysis %d done in %.0f ms", analysis_id, 1000 * (time.monotonic() - started))
    _outputs(ctx, analysis_id, drawing)
    return AnalysisState.DONE


def _outputs(ctx: WorkerContext, analysis_id: int, drawing: dict | None = None) -> None:
    from dicom_node.outputs import produce_outputs

    try:
        produce_outputs(ctx.db, ctx.store, ctx.settings, analysis_id, **(drawing or {}))
    except Exception as exc:  # noqa: BLE001 — same boundary: a report failure must not kill the worker
        code, _ = _error_of(exc)
        log.error("outputs for analysis %d failed: %s (%s)", analysis_id, code, type(exc).__name__)
        log.debug("analysis %d outputs traceback", analysis_id, exc_info=True)
