"""What a job notebook calls: merge its parameters into a config, pick the output folder, run.

A notebook's ``parameters`` cell has ``run_id``, ``config_path`` and a few knobs, all ``None`` by
default. :func:`prepare` reads ``config_path`` (or the kind's defaults), applies the knobs that are
set as ``key.path`` overrides, validates, and returns the config and the folder to write: the run's
folder when Papermill runs it as a job, a scratch folder when a person runs it in JupyterLab.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from stockbot.config import apply_overrides, dump_config, read_yaml, validate_config
from stockbot.jobs.kinds import job_kind, run_dir
from stockbot.paths import stockbot_home


def prepare(
    kind: str, run_id: str | None, config_path: str | None, knobs: dict[str, Any] | None = None
) -> tuple[BaseModel, Path]:
    spec = job_kind(kind)
    knobs = {k: v for k, v in (knobs or {}).items() if v is not None}
    raw = read_yaml(config_path) if config_path else _defaults(kind, knobs)
    overrides = [f"{k}={_yaml(v)}" for k, v in knobs.items()]
    cfg = validate_config(spec.config, apply_overrides(raw, overrides))
    if run_id:
        out = run_dir(run_id)
    else:
        out = stockbot_home() / "scratch" / f"{dt.datetime.now(dt.UTC):%Y%m%d-%H%M%S}-{kind}"
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(dump_config(cfg))  # the merged config is the snapshot
    return cfg, out


def _yaml(value: Any) -> str:
    import yaml

    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def _defaults(kind: str, knobs: dict[str, Any]) -> dict[str, Any]:
    if kind != "hmm_infer" or "model.run_id" in knobs:
        return {}
    # interactive default: the regimes of a default hmm_fit (fitted once into scratch) on the test period
    folder = stockbot_home() / "scratch" / "default-hmm-fit"
    if not (folder / "hmm.json").is_file():
        from stockbot.config import HMMConfig
        from stockbot.tasks import run_hmm_fit

        run_hmm_fit(HMMConfig(), folder)
    return {"model": {"path": str(folder)}}
