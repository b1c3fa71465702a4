"""Bad configs are refused at submit, naming the field; nothing is queued or written."""

from __future__ import annotations

from pathlib import Path

import pytest

from stockbot.errors import ConfigError, JobError
from stockbot.jobs import submit
from stockbot.jobs.kinds import runs_dir
from stockbot.store import RunStore

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize(
    ("kind", "config", "needle"),
    [
        ("train", {"ppo": {"total_timestep": 10}}, "ppo.total_timestep: unknown key; valid keys here:"),
        (
            "train",
            {"ppo": {"total_timesteps": "many"}},
            "ppo.total_timesteps: Input should be a valid integer",
        ),
        (
            "backtest",
            {"data": {"start": "2017-05-01", "end": "2017-01-01"}},
            "end (2017-01-01) is before start",
        ),
        ("hmm_fit", {"data": {"symbols": ["AAPL", "ZZZZ"]}}, "data.symbols: ['ZZZZ'] are not in the data"),
        (
            "backtest",
            {"policy": {"type": "run", "run_id": "20260101-000000-train-abcd"}},
            "policy.run_id: no run",
        ),
        ("hmm_infer", {"model": {}}, "give exactly one of run_id or path"),
    ],
)
def test_bad_configs_are_refused_at_submit(
    job_home: Path, store: RunStore, kind: str, config: dict, needle: str
) -> None:
    before = store.list(limit=1000)[1]
    with pytest.raises(ConfigError) as e:
        submit(kind, config, store=store)
    assert needle in str(e.value)
    assert store.list(limit=1000)[1] == before
    assert not runs_dir().exists() or not any(runs_dir().iterdir())


def test_unknown_kind(job_home: Path, store: RunStore) -> None:
    with pytest.raises(JobError, match="unknown job kind 'optimise'"):
        submit("optimise", {}, store=store)


def test_a_parent_must_be_a_succeeded_run_of_the_right_kind(job_home: Path, store: RunStore) -> None:
    hmm = submit("hmm_fit", {"data": {"symbols": ["KO"]}}, store=store)  # queued, never run here
    with pytest.raises(
        ConfigError, match=f"policy.run_id: {hmm} is a queued hmm_fit run; need a succeeded train"
    ):
        submit("backtest", {"policy": {"type": "run", "run_id": hmm}}, store=store)
    doc = store.get(hmm)
    assert doc is not None and doc["status"] == "queued" and doc["owner"]
