"""Jobs: submission, Papermill execution under a supervisor, executors, artifacts."""

from stockbot.jobs.artifacts import list_artifacts, read_artifact, zip_run
from stockbot.jobs.executor import ensure_executor, executor_status, stop_executor
from stockbot.jobs.kinds import KINDS, run_dir
from stockbot.jobs.submit import submit, validate_job
from stockbot.jobs.wait import wait_for

__all__ = [
    "KINDS",
    "ensure_executor",
    "executor_status",
    "list_artifacts",
    "read_artifact",
    "run_dir",
    "stop_executor",
    "submit",
    "validate_job",
    "wait_for",
    "zip_run",
]
