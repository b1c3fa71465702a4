"""How long a training will take on this machine, said before it is submitted.

A train job's wall time is modelled as ``overhead + total_timesteps / steps_per_second``: the
training itself scales with the budget, while starting the notebook, loading data, building
features and the final backtest do not. Both numbers come from this machine's own finished
trainings of the same policy type (the median of the last :data:`RECENT`), or, before there are any,
from :data:`DEFAULT_RATES`, measured here by ``benchmarks/training_rate.py``.

Per run: ``steps_per_second`` is SB3's own ``time/fps`` (the last value in the run's ``tb/`` event
files: steps over the time inside ``learn``, validation included); ``overhead_seconds`` is the rest
of the run's ``finished_at - started_at``. A run without readable event files counts its whole wall
time as training (no overhead), which can only make the estimate longer, never shorter.

Every user's trainings count (they ran on the same machine), but only the numbers leave this module:
no run id or owner is part of a :class:`Rate`.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import statistics
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from stockbot.config import PPOConfig, TrainConfig
from stockbot.errors import JobError
from stockbot.jobs.kinds import run_dir
from stockbot.store.runs import RunStatus, RunStore

log = logging.getLogger(__name__)

POLICIES = ("mlp", "cnn", "lstm")
RECENT = 5
# how far back in the run list to look for RECENT trainings of one policy type
LOOK_BACK = 200
FPS_TAG = "time/fps"

# Measured by `benchmarks/training_rate.py` on this project's 2-core machine (2026-12-02, while other
# work shared it, as users' jobs do): two real train jobs per policy through the executor (the
# default TrainConfig: dow29 AAPL+MSFT, window 32, 4 envs; 8,192 and 16,384 timesteps), each read as
# `run_timing` reads a run; the median of the two. Measured: mlp 2,439 and 2,834 steps/s (overhead
# 12.5 and 12.4 s); cnn 1,233 and 811 (15.1, 17.3 s); lstm 29 and 18 (107.5, 158.8 s: RecurrentPPO's
# sequence updates and its step-by-step final backtest). (steps per second, overhead seconds)
DEFAULT_RATES: dict[str, tuple[float, float]] = {
    "mlp": (2636.5, 12.45),
    "cnn": (1022.0, 16.17),
    "lstm": (23.5, 133.13),
}


@dataclass(frozen=True)
class RunTiming:
    """What one finished training says about this machine's speed."""

    steps: int
    wall_seconds: float
    steps_per_second: float
    overhead_seconds: float


@dataclass(frozen=True)
class Rate:
    """The training speed of one policy type: the median of ``runs`` trainings, or (``runs`` 0) the
    measured default."""

    policy: str
    steps_per_second: float
    overhead_seconds: float
    runs: int = 0

    @property
    def basis(self) -> str:
        if self.runs == 0:
            return "measured default"
        if self.runs == 1:
            return f"the last {self.policy} training on this machine"
        return f"median of the last {self.runs} {self.policy} trainings on this machine"

    def seconds(self, timesteps: int) -> float:
        return self.overhead_seconds + timesteps / self.steps_per_second


@dataclass(frozen=True)
class Estimate:
    """The expected wall time of a training of ``timesteps`` (an upper bound: early stopping may end
    it sooner)."""

    timesteps: int
    seconds: float
    rate: Rate

    @property
    def basis(self) -> str:
        return self.rate.basis

    @property
    def text(self) -> str:
        """``≈ 3 min on this machine``."""
        return f"≈ {format_duration(self.seconds)} on this machine"


def format_duration(seconds: float) -> str:
    """A duration as a person says it: ``40 s``, ``3 min``, ``2 h 05 min``, ``3 d 4 h``."""
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"a duration must be a finite number of seconds >= 0, got {seconds}")
    if seconds < 55:
        return f"{max(5, 5 * round(seconds / 5))} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        hours, rest = divmod(minutes, 60)
        return f"{hours} h {rest:02d} min"
    days, rest = divmod(round(seconds / 3600), 24)
    return f"{days} d {rest} h"


# --------------------------------------------------------------------------- one run


def _seconds_between(start: Any, end: Any) -> float | None:
    if not isinstance(start, dt.datetime) or not isinstance(end, dt.datetime):
        return None
    if (start.tzinfo is None) != (end.tzinfo is None):  # a store without tz_aware: both naive UTC
        start, end = start.replace(tzinfo=None), end.replace(tzinfo=None)
    seconds = (end - start).total_seconds()
    return seconds if seconds > 0 else None


def _steps(doc: dict[str, Any]) -> int | None:
    """Steps actually trained: the last progress step (early stopping may end before the budget),
    else the budget."""
    step = (doc.get("progress") or {}).get("step")
    if isinstance(step, int) and not isinstance(step, bool) and step > 0:
        return step
    budget = (((doc.get("config") or {}).get("ppo")) or {}).get("total_timesteps")
    if isinstance(budget, int) and not isinstance(budget, bool) and budget > 0:
        return budget
    return None


@lru_cache(maxsize=256)
def _last_fps_in(path: str, mtime_ns: int, size: int) -> float | None:
    # the event file reader only: the rest of tensorboard is slow to import
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    last: float | None = None
    for event in EventFileLoader(path).Load():
        for value in event.summary.value:
            if value.tag != FPS_TAG:
                continue
            if value.HasField("simple_value"):
                last = float(value.simple_value)
            elif value.HasField("tensor") and value.tensor.float_val:
                last = float(value.tensor.float_val[0])
    return last


def last_fps(tb_dir: Path) -> float | None:
    """SB3's last ``time/fps`` in the event files under ``tb_dir`` (the newest file that has one)."""
    files = sorted(tb_dir.glob("**/events.out.tfevents.*")) if tb_dir.is_dir() else []
    found: tuple[int, float] | None = None
    for path in files:
        try:
            st = path.stat()
            fps = _last_fps_in(str(path), st.st_mtime_ns, st.st_size)
        except Exception as e:  # a half-written or foreign file: this run falls back to wall time
            log.warning("cannot read TensorBoard events %s: %s", path, e)
            continue
        if fps is not None and fps > 0 and (found is None or st.st_mtime_ns >= found[0]):
            found = (st.st_mtime_ns, fps)
    return found[1] if found else None


def run_timing(doc: dict[str, Any], tb_dir: Path | None = None) -> RunTiming | None:
    """The speed a finished train run showed; None when its document lacks the times or steps.
    ``tb_dir``: its TensorBoard folder (default: ``runs/<id>/tb``)."""
    wall = _seconds_between(doc.get("started_at"), doc.get("finished_at"))
    steps = _steps(doc)
    if wall is None or steps is None:
        return None
    if tb_dir is None:
        try:
            tb_dir = run_dir(str(doc["_id"])) / "tb"
        except JobError:  # not a run id: it has no folder to read
            tb_dir = None
    fps = last_fps(tb_dir) if tb_dir is not None else None
    if fps is None or steps / fps > wall:  # no events, or events that do not fit this run's times
        return RunTiming(steps, wall, steps / wall, 0.0)
    return RunTiming(steps, wall, fps, wall - steps / fps)


# --------------------------------------------------------------------------- the machine


def default_rate(policy: str) -> Rate:
    if policy not in DEFAULT_RATES:
        raise ValueError(f"unknown policy type {policy!r}; choose one of {', '.join(POLICIES)}")
    steps_per_second, overhead = DEFAULT_RATES[policy]
    return Rate(policy, steps_per_second, overhead, runs=0)


def recent_timings(store: RunStore, policy: str, recent: int = RECENT) -> list[RunTiming]:
    """The timings of the newest ``recent`` succeeded trainings of ``policy`` (every owner's)."""
    docs, _ = store.list(kind="train", status=RunStatus.SUCCEEDED.value, limit=LOOK_BACK)
    out: list[RunTiming] = []
    for doc in docs:  # newest first
        if (((doc.get("config") or {}).get("ppo")) or {}).get("policy", "mlp") != policy:
            continue
        timing = run_timing(doc)
        if timing is not None:
            out.append(timing)
            if len(out) == recent:
                break
    return out


def training_rate(store: RunStore, policy: str) -> Rate:
    """This machine's training speed for ``policy`` (mlp, cnn, lstm): the median steps per second
    (and overhead) of its last :data:`RECENT` succeeded trainings of that type, else the measured
    default."""
    default = default_rate(policy)  # also rejects an unknown policy type
    timings = recent_timings(store, policy)
    if not timings:
        return default
    return Rate(
        policy,
        statistics.median(t.steps_per_second for t in timings),
        statistics.median(t.overhead_seconds for t in timings),
        runs=len(timings),
    )


def estimate_seconds(config: TrainConfig | PPOConfig, store: RunStore, rate: Rate | None = None) -> Estimate:
    """The expected duration of a training with ``config`` (a train config or just its ``ppo``
    section) on this machine. ``rate``: one already looked up for this policy type (forms reuse it
    while the budget is edited)."""
    ppo = config.ppo if isinstance(config, TrainConfig) else config
    if rate is None or rate.policy != ppo.policy:
        rate = training_rate(store, ppo.policy)
    return Estimate(ppo.total_timesteps, rate.seconds(ppo.total_timesteps), rate)
