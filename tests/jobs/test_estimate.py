"""A training's expected duration from this machine's finished trainings (median of the last five of
the policy type) or the measured default, before there are any."""

from __future__ import annotations

import dataclasses
import datetime as dt
import statistics
from pathlib import Path
from typing import Any

import pytest

from stockbot.config import PPOConfig, TrainConfig
from stockbot.jobs import run_dir
from stockbot.jobs.estimate import (
    DEFAULT_RATES,
    Rate,
    estimate_seconds,
    format_duration,
    last_fps,
    run_timing,
    training_rate,
)
from stockbot.store import RunStore
from stockbot.store.db import ensure_indexes

pytestmark = pytest.mark.timeout(120)

T0 = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)


def rid(name: str) -> str:
    """A run id (run folders are named by them) for a short test name."""
    return f"20261101-120000-train-{name.encode().hex()[:4]:0>4}"


@pytest.fixture
def runs(store: RunStore) -> RunStore:
    """The module's store, emptied for each test."""
    db = store.col.database
    db.client.drop_database(db.name)
    ensure_indexes(db)
    return store


def write_fps(folder: Path, values: list[float], steps: list[int]) -> None:
    """TensorBoard events as SB3 writes them (torch's SummaryWriter), with its ``time/fps``."""
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(folder / "ppo_1"))
    for step, value in zip(steps, values, strict=True):
        writer.add_scalar("rollout/ep_rew_mean", 0.1, step)
        writer.add_scalar("time/fps", value, step)
    writer.close()


def train_doc(
    run_id: str,
    *,
    policy: str = "mlp",
    wall: float = 100.0,
    steps: int | None = 20_000,
    budget: int = 20_000,
    status: str = "succeeded",
    owner: str = "alice",
    minutes: int = 0,
) -> dict[str, Any]:
    created = T0 + dt.timedelta(minutes=minutes)
    return {
        "_id": run_id,
        "kind": "train",
        "owner": owner,
        "status": status,
        "created_at": created,
        "started_at": created + dt.timedelta(seconds=3),
        "finished_at": created + dt.timedelta(seconds=3 + wall),
        "config": {"ppo": {"policy": policy, "total_timesteps": budget}},
        "progress": {"step": steps or 0, "total": budget, "message": status},
    }


# --------------------------------------------------------------------------- one run


def test_a_runs_speed_is_sb3s_fps_and_the_rest_of_its_wall_time_is_overhead(tmp_path: Path) -> None:
    write_fps(tmp_path, [150.0, 380.0, 400.0], [2048, 10240, 20480])
    assert last_fps(tmp_path) == 400.0
    doc = train_doc("r1", wall=100.0, steps=20_480)
    timing = run_timing(doc, tmp_path)
    assert timing is not None
    assert timing.steps == 20_480 and timing.wall_seconds == 100.0
    assert timing.steps_per_second == 400.0
    assert timing.overhead_seconds == pytest.approx(100.0 - 20_480 / 400.0)


def test_without_event_files_the_whole_wall_time_counts_as_training(tmp_path: Path) -> None:
    timing = run_timing(train_doc("r1", wall=80.0, steps=16_000), tmp_path / "no-tb")
    assert timing is not None
    assert (timing.steps_per_second, timing.overhead_seconds) == (16_000 / 80.0, 0.0)


def test_events_that_do_not_fit_the_runs_times_are_not_believed(tmp_path: Path) -> None:
    write_fps(tmp_path, [10.0], [1000])  # 20,000 steps at 10/s would be 2,000 s, not 100
    timing = run_timing(train_doc("r1", wall=100.0), tmp_path)
    assert timing is not None and timing.steps_per_second == 20_000 / 100.0


def test_an_early_stopped_run_counts_the_steps_it_trained_and_a_run_without_times_none(
    tmp_path: Path,
) -> None:
    stopped = run_timing(train_doc("r1", wall=50.0, steps=5_000, budget=200_000), tmp_path)
    assert stopped is not None and stopped.steps == 5_000
    budget_only = run_timing(train_doc("r2", wall=50.0, steps=None, budget=4_000), tmp_path)
    assert budget_only is not None and budget_only.steps == 4_000
    untimed = {**train_doc("r3"), "finished_at": None}
    assert run_timing(untimed, tmp_path) is None


# --------------------------------------------------------------------------- the machine


def test_the_rate_is_the_median_of_the_last_five_trainings_of_that_policy(runs: RunStore) -> None:
    walls = [40.0, 90.0, 60.0, 200.0, 75.0, 55.0, 120.0]  # oldest first; 10,000 steps each
    for i, wall in enumerate(walls):
        owner = ("alice", "bob")[i % 2]  # every user's trainings ran on this machine
        runs.create(train_doc(rid(f"m{i}"), wall=wall, steps=10_000, owner=owner, minutes=i))
    fps = {6: 100.0, 5: 150.0}  # the two newest also have SB3's fps in their tb/
    for i, value in fps.items():
        write_fps(run_dir(rid(f"m{i}")) / "tb", [value], [10_000])
    runs.create(train_doc(rid("c0"), policy="cnn", wall=10.0, minutes=20))  # another policy type
    runs.create(train_doc(rid("f0"), wall=1.0, status="failed", minutes=21))  # not finished well
    rate = training_rate(runs, "mlp")

    newest = range(len(walls) - 5, len(walls))
    speeds = [fps.get(i, 10_000 / walls[i]) for i in newest]
    overheads = [walls[i] - 10_000 / fps[i] if i in fps else 0.0 for i in newest]
    assert rate.runs == 5
    assert rate.steps_per_second == pytest.approx(statistics.median(speeds))
    assert rate.overhead_seconds == pytest.approx(statistics.median(overheads))
    assert rate.basis == "median of the last 5 mlp trainings on this machine"
    # numbers only: nothing in a Rate names a run or its owner
    assert {f.name for f in dataclasses.fields(Rate)} == {
        "policy",
        "steps_per_second",
        "overhead_seconds",
        "runs",
    }


def test_fewer_trainings_than_five_still_count(runs: RunStore) -> None:
    runs.create(train_doc(rid("c0"), policy="cnn", wall=50.0, steps=10_000))
    runs.create(train_doc(rid("c1"), policy="cnn", wall=25.0, steps=10_000, minutes=1))
    rate = training_rate(runs, "cnn")
    assert (rate.runs, rate.steps_per_second) == (2, statistics.median([200.0, 400.0]))
    assert rate.basis == "median of the last 2 cnn trainings on this machine"


def test_before_any_training_the_measured_default(runs: RunStore) -> None:
    runs.create(train_doc(rid("m0"), policy="mlp"))
    rate = training_rate(runs, "lstm")
    assert (rate.steps_per_second, rate.overhead_seconds) == DEFAULT_RATES["lstm"]
    assert rate.runs == 0 and rate.basis == "measured default"
    with pytest.raises(ValueError, match="unknown policy type 'gru'; choose one of mlp, cnn, lstm"):
        training_rate(runs, "gru")


def test_the_estimate_of_a_config(runs: RunStore) -> None:
    runs.create(train_doc(rid("m0"), wall=50.0, steps=10_000))
    config = TrainConfig(ppo=PPOConfig(total_timesteps=300_000))
    est = estimate_seconds(config, runs)
    assert est.seconds == pytest.approx(300_000 / (10_000 / 50.0))
    assert est.timesteps == 300_000 and est.basis == "the last mlp training on this machine"
    assert est.text == f"≈ {round(300_000 / 200.0 / 60)} min on this machine"
    sps, overhead = DEFAULT_RATES["cnn"]
    cnn = estimate_seconds(PPOConfig(policy="cnn", total_timesteps=4096), runs)
    assert cnn.seconds == pytest.approx(overhead + 4096 / sps) and cnn.basis == "measured default"
    # a rate already looked up is reused for its own policy type only
    mine = Rate("mlp", 1000.0, 5.0, runs=3)
    assert estimate_seconds(config, runs, mine).seconds == pytest.approx(5.0 + 300.0)
    assert estimate_seconds(PPOConfig(policy="cnn"), runs, mine).rate.policy == "cnn"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.4, "5 s"), (42, "40 s"), (54, "55 s"), (61, "1 min"), (179, "3 min"), (3600, "1 h 00 min")],
)
def test_durations_read_like_speech(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_long_durations_and_nonsense() -> None:
    assert format_duration(2 * 3600 + 5 * 60) == "2 h 05 min"
    assert format_duration(3 * 86400 + 4 * 3600) == "3 d 4 h"
    with pytest.raises(ValueError, match="finite number of seconds"):
        format_duration(float("inf"))
