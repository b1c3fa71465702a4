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


def test_paths_of_a_service_submission_stay_in_the_users_folder(tmp_path: Path) -> None:
    from stockbot.config import BacktestConfig
    from stockbot.jobs.submit import confine_paths

    users = tmp_path / "users"
    (users / "bob" / "data").mkdir(parents=True)
    (users / "alice" / "data").mkdir(parents=True)
    (users / "alice" / "data" / "secret.csv").write_text("x")
    (users / "bob" / "data" / "mine.csv").write_text("x")

    def cfg(path: str, policy: dict | None = None) -> BacktestConfig:
        return BacktestConfig.model_validate(
            {"data": {"provider": "csv", "path": path}, "policy": policy or {"type": "cash"}}
        )

    ok = confine_paths(cfg("mine.csv"), users / "bob" / "data")
    assert ok.data.path == (users / "bob" / "data" / "mine.csv").resolve()
    elsewhere = str(users / "alice" / "data" / "secret.csv")
    for bad in ("../../alice/data/secret.csv", elsewhere, "~/x", "~root/x"):
        with pytest.raises(ConfigError) as err:
            confine_paths(cfg(bad), users / "bob" / "data")
        assert err.value.errors[0]["field"] == "data.path", bad
    (users / "bob" / "data" / "out").symlink_to(users / "alice" / "data")
    with pytest.raises(ConfigError, match="outside your data folder"):
        confine_paths(cfg("out/secret.csv"), users / "bob" / "data")
    with pytest.raises(ConfigError) as err:
        confine_paths(cfg("mine.csv", {"type": "run", "path": "model"}), users / "bob" / "data")
    assert err.value.errors[0]["field"] == "policy.path"
    # the folder itself swapped for a link to another user's folder
    (users / "eve").mkdir()
    (users / "eve" / "data").symlink_to(users / "alice" / "data")
    with pytest.raises(ConfigError, match="not a link"):
        confine_paths(cfg("secret.csv"), users / "eve" / "data")


def test_numbers_a_store_cannot_hold_are_config_errors() -> None:
    from stockbot.jobs import validate_job

    with pytest.raises(ConfigError) as err:
        validate_job("backtest", {"policy": {"type": "cash"}, "costs": {"per_share": float("inf")}})
    assert err.value.errors[0]["field"] == "costs.per_share"
    with pytest.raises(ConfigError) as err:
        validate_job("train", {"ppo": {"seed": 2**64}})
    assert err.value.errors[0]["field"] == "ppo.seed"
