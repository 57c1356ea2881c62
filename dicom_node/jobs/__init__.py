"""Analysis jobs: the database is the queue (claim, runner, worker pool)."""

from .claim import claim_analysis, claim_next, fail_running, release_running, reset_running
from .pool import WorkerPool
from .runner import JobError, WorkerContext, build_worker_context, run_analysis

__all__ = [
    "JobError",
    "WorkerContext",
    "WorkerPool",
    "build_worker_context",
    "claim_analysis",
    "claim_next",
    "fail_running",
    "release_running",
    "reset_running",
    "run_analysis",
]
