"""Records of jobs run elsewhere (kind ``external``): a notebook or script that trained or tested
outside the executor can still list its result beside the platform's runs. They are recorded
finished (succeeded, failed or cancelled): no executor claims them, recovery never marks them lost."""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from stockbot.config import validate_config
from stockbot.jobs.submit import code_version, new_run_id
from stockbot.store.runs import RunStore, now
from stockbot.store.safety import check_plain, check_storable


class ExternalRun(BaseModel):
    """The body of ``POST /api/runs``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=200, description="what ran, e.g. 'colab sweep 3'")
    # a record of what happened: nothing here could move a "running" record to its end
    status: Literal["succeeded", "failed", "cancelled"] = "succeeded"
    config: dict[str, Any] = Field(default_factory=dict, description="the settings it ran with")
    metrics: dict[str, float | None] | None = None
    notes: str | None = Field(default=None, max_length=10_000)

    @field_validator("metrics")
    @classmethod
    def _finite(cls, v: dict[str, float | None] | None) -> dict[str, float | None] | None:
        for key, value in (v or {}).items():
            if value is not None and not math.isfinite(value):
                raise ValueError(f"metric {key!r} must be a finite number or null, got {value}")
        return v


def record_external(body: dict[str, Any] | ExternalRun, owner: str, store: RunStore | None = None) -> str:
    """Store the record of an external run owned by ``owner``; return its run id."""
    run = body if isinstance(body, ExternalRun) else validate_config(ExternalRun, body)
    check_plain(run.config, "config")
    check_storable(run.config, "config")
    store = store or RunStore()
    run_id = new_run_id("external")
    t = now()
    store.create(
        {
            "_id": run_id,
            "kind": "external",
            "owner": owner,
            "status": run.status,
            "name": run.name,
            "notes": run.notes,
            "created_at": t,
            "started_at": t,
            "finished_at": t,
            "heartbeat_at": None,
            "config": run.config,
            "config_hash": hashlib.sha256(json.dumps(run.config, sort_keys=True).encode()).hexdigest(),
            "data_fingerprint": None,
            "code_version": code_version(),
            "parent": None,
            "progress": {"step": 0, "total": None, "message": run.status},
            "metrics": run.metrics,
            "error": None,
            "cancel_requested_at": None,
            "executor": None,
        }
    )
    return run_id
