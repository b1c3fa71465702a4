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


def _sessions(sample_csv: Path, symbols: list[str], start: str, end: str) -> int:
    """Bars of the bundled file on which all ``symbols`` trade, ``start`` to ``end`` inclusive."""
    import pandas as pd

    raw = pd.read_csv(sample_csv, usecols=["date", "tic"])
    raw = raw[raw["tic"].isin(symbols)]
    per_day = raw.groupby("date")["tic"].nunique()
    days = pd.to_datetime(per_day[per_day == len(symbols)].index)
    return int(((days >= start) & (days <= end)).sum())


def test_a_training_split_must_hold_an_episode(job_home: Path, store: RunStore, sample_csv: Path) -> None:
    """After the warm-up (loaded before data.start) the train split needs episode_bars + 1 bars."""
    n = _sessions(sample_csv, ["AAPL", "KO"], "2016-01-04", "2016-06-30")
    assert 100 < n < 140  # about half a year of sessions
    config = {
        "data": {"symbols": ["AAPL", "KO"], "start": "2016-01-04"},
        "split": {"train_end": "2016-06-30", "val_end": "2017-03-31"},
        "env": {"episode_bars": n},
        "ppo": {"total_timesteps": 64},
    }
    before = store.list(limit=1000)[1]
    with pytest.raises(ConfigError) as err:
        submit("train", config, store=store)
    assert err.value.errors[0]["field"] == "split.train_end"
    assert f"has {n} bar(s)" in str(err.value) and f"at least {n + 1}" in str(err.value)
    assert store.list(limit=1000)[1] == before
    config["env"]["episode_bars"] = n - 1
    run_id = submit("train", config, store=store)  # exactly enough
    store.request_cancel(run_id)


@pytest.mark.parametrize(
    ("split", "data", "field", "needle"),
    [
        # both ends past the data's last bar (2017-12-06): no test bars at all
        ({"train_end": "2017-06-30", "val_end": "2018-06-30"}, {}, "split.val_end", "has 0 bar(s)"),
        ({"train_end": "2017-06-30", "val_end": "2017-12-05"}, {}, "split.val_end", "has 1 bar(s)"),
        ({"train_end": "2016-06-30", "val_end": "2016-07-01"}, {}, "split.val_end", "validation split"),
    ],
)
def test_splits_past_the_data_are_refused_at_submit(
    job_home: Path, store: RunStore, split: dict, data: dict, field: str, needle: str
) -> None:
    config = {"data": {"symbols": ["KO"], "start": "2014-01-02", **data}, "split": split}
    with pytest.raises(ConfigError) as err:
        submit("train", config, store=store)
    assert err.value.errors[0]["field"] == field and needle in str(err.value), err.value.errors


def test_the_same_split_check_runs_when_the_job_starts(job_home: Path) -> None:
    """Network providers' bars are not read at submit: the job refuses them with the same words."""
    import pandas as pd

    from stockbot.config import TrainConfig
    from stockbot.data.split import split_bounds

    cfg = TrainConfig.model_validate(
        {
            "data": {"provider": "alpaca", "symbols": ["KO"]},
            "split": {"train_end": "2017-06-30", "val_end": "2018-06-30"},
        }
    )
    stamps = pd.date_range("2016-01-04", "2017-12-06", freq="B", tz="UTC")
    with pytest.raises(ConfigError) as err:
        split_bounds(stamps, cfg)
    assert err.value.errors[0]["field"] == "split.val_end" and "has 0 bar(s)" in str(err.value)


def test_a_backtest_trades_only_its_trained_universe(job_home: Path, store: RunStore) -> None:
    import json

    from stockbot.jobs.kinds import run_dir
    from stockbot.store.runs import RunStatus, now

    trained = "20261201-120000-train-0b0b"
    store.create(
        {
            "_id": trained,
            "kind": "train",
            "owner": "tester",
            "status": RunStatus.SUCCEEDED.value,
            "created_at": now(),
            "config": {"data": {"symbols": ["AAPL", "KO"]}},
        }
    )
    run_dir(trained).mkdir(parents=True, exist_ok=True)
    (run_dir(trained) / "market.json").write_text(json.dumps({"symbols": ["AAPL", "KO"]}))
    policy = {"type": "run", "run_id": trained}
    for symbols, needle in ((["AAPL", "KO", "XOM"], "['XOM'] are not"), (["AAPL"], "['KO'] are missing")):
        with pytest.raises(ConfigError) as err:
            submit(
                "backtest",
                {"data": {"symbols": symbols, "start": "2017-04-03"}, "policy": policy},
                store=store,
            )
        assert err.value.errors[0]["field"] == "data.symbols" and needle in str(err.value), err.value
    ok = submit(
        "backtest",
        {"data": {"symbols": ["KO", "AAPL"], "start": "2017-04-03"}, "policy": policy},
        store=store,
    )
    store.request_cancel(ok)


def test_a_run_being_deleted_is_no_parent(job_home: Path, store: RunStore) -> None:
    """Delete checks who depends on a run, then removes it: a backtest submitted in between would
    be queued on a parent that is going away."""
    from stockbot.store.runs import RunStatus, now

    trained = "20261201-130000-train-0c0c"
    store.create(
        {
            "_id": trained,
            "kind": "train",
            "owner": "tester",
            "status": RunStatus.SUCCEEDED.value,
            "created_at": now(),
            "config": {"data": {"symbols": ["KO"]}},
        }
    )
    store.col.update_one({"_id": trained}, {"$set": {"deleting_at": now()}})
    with pytest.raises(ConfigError) as err:
        submit("backtest", {"policy": {"type": "run", "run_id": trained}}, store=store)
    assert err.value.errors[0]["field"] == "policy.run_id" and "being deleted" in str(err.value)
