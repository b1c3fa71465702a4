"""A committed tiny trained run registered as a succeeded training of the store, so live tests,
pages and the service can trade it without training one first."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from stockbot.jobs.kinds import run_dir
from stockbot.jobs.submit import new_run_id
from stockbot.store.runs import RunStatus, RunStore, now

GOLDEN_RUNS = Path(__file__).resolve().parents[1] / "golden" / "runs"


def register_trained_run(runs: RunStore, owner: str, source: str = "mlp_regimes") -> str:
    """Copy ``tests/golden/runs/<source>`` into ``$STOCKBOT_HOME/runs/<new id>`` and record it as
    ``owner``'s succeeded train run; returns its id."""
    run_id = new_run_id("train")
    folder = run_dir(run_id)
    shutil.copytree(GOLDEN_RUNS / source, folder)
    config = yaml.safe_load((folder / "config.yaml").read_text())
    at = now()
    runs.create(
        {
            "_id": run_id,
            "kind": "train",
            "owner": owner,
            "status": RunStatus.SUCCEEDED.value,
            "created_at": at,
            "started_at": at,
            "finished_at": at,
            "heartbeat_at": at,
            "config": config,
            "parent": None,
            "progress": {"step": 1, "total": 1, "message": "done"},
            "metrics": None,
            "error": None,
            "cancel_requested_at": None,
            "executor": None,
        }
    )
    return run_id
