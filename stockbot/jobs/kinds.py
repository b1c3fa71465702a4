"""The job kinds: their config model, notebook and the run folder they work in."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from stockbot.config import BacktestConfig, HMMConfig, HMMInferConfig, TrainConfig
from stockbot.errors import JobError
from stockbot.paths import stockbot_home


@dataclass(frozen=True)
class JobKind:
    name: str
    config: type[BaseModel]
    notebook: str


KINDS: dict[str, JobKind] = {
    "train": JobKind("train", TrainConfig, "train.ipynb"),
    "backtest": JobKind("backtest", BacktestConfig, "backtest.ipynb"),
    "hmm_fit": JobKind("hmm_fit", HMMConfig, "hmm_fit.ipynb"),
    "hmm_infer": JobKind("hmm_infer", HMMInferConfig, "hmm_infer.ipynb"),
}

RUN_ID = re.compile(r"^\d{8}-\d{6}-(train|backtest|hmm_fit|hmm_infer|external)-[0-9a-f]{4}$")


def job_kind(name: str) -> JobKind:
    kind = KINDS.get(name)
    if kind is None:
        raise JobError(f"unknown job kind {name!r}; choose one of {', '.join(KINDS)}")
    return kind


def check_run_id(run_id: str) -> str:
    """Run ids are also folder names: refuse anything that is not one."""
    if not RUN_ID.match(str(run_id)):
        raise JobError(f"{run_id!r} is not a run id (like 20261125-142301-train-7f3a)")
    return str(run_id)


def runs_dir() -> Path:
    return stockbot_home() / "runs"


def run_dir(run_id: str) -> Path:
    return runs_dir() / check_run_id(run_id)


def notebooks_dir() -> Path:
    """The job notebooks: ``$STOCKBOT_NOTEBOOKS`` or the checkout's ``notebooks/``."""
    import os

    env = os.environ.get("STOCKBOT_NOTEBOOKS")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "notebooks"
