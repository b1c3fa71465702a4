"""``train``: data -> features (+ regimes) -> env -> PPO with validation, early stop and a final
backtest of the best policy on the test split. Everything lands in one run folder."""

from __future__ import annotations

import json
import logging
import shutil
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch as th
from stable_baselines3.common.callbacks import (
    BaseCallback,
    CallbackList,
    CheckpointCallback,
    StopTrainingOnNoModelImprovement,
)
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.utils import set_random_seed
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv

from stockbot.backtest.report import write_backtest
from stockbot.backtest.runner import MARKET_FILE, BacktestResult, run_backtest
from stockbot.config import BacktestConfig, PolicyConfig, TrainConfig, config_hash, dump_config
from stockbot.data import load_bars
from stockbot.data.calendar import sessions_before
from stockbot.envs.factory import build_market, env_for, split_bounds
from stockbot.envs.market import MarketData
from stockbot.train.callbacks import ProgressCallback, ValidationCallback, progress_line
from stockbot.train.policies import policy_spec

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    out_dir: Path
    evaluations: int
    stopped_early: bool
    timesteps: int
    backtest: BacktestResult


def _env_factory(config: TrainConfig, market: MarketData) -> Callable[[], Any]:
    def make() -> Any:
        return Monitor(env_for(config, market, "train"))

    return make


def make_vec_env(config: TrainConfig, market: MarketData) -> VecEnv:
    fns = [_env_factory(config, market) for _ in range(config.ppo.n_envs)]
    vec: VecEnv = SubprocVecEnv(fns) if config.ppo.vec_env == "subproc" else DummyVecEnv(fns)
    vec.seed(config.ppo.seed)
    return vec


def build_model(config: TrainConfig, vec: VecEnv, tb_dir: Path | None = None) -> Any:
    """PPO or RecurrentPPO as ``config.ppo`` says, on ``vec`` (seeded, CPU)."""
    p = config.ppo
    policy, kwargs = policy_spec(p)
    if p.policy == "lstm":
        from sb3_contrib import RecurrentPPO as algo
    else:
        from stable_baselines3 import PPO as algo
    return algo(
        policy,
        vec,
        learning_rate=p.learning_rate,
        n_steps=p.n_steps,
        batch_size=p.batch_size,
        n_epochs=p.n_epochs,
        gamma=p.gamma,
        gae_lambda=p.gae_lambda,
        clip_range=p.clip_range,
        ent_coef=p.ent_coef,
        policy_kwargs=kwargs,
        tensorboard_log=str(tb_dir) if tb_dir is not None else None,
        seed=p.seed,
        device="cpu",
        verbose=0,
    )


def train(config: TrainConfig, out_dir: str | Path, *, bars: pd.DataFrame | None = None) -> TrainResult:
    """Train per ``config`` into ``out_dir``: ``config.yaml``, ``obsnorm.json`` (+ ``hmm.json``),
    ``market.json``, ``policy.zip`` (best on validation), ``last.zip``, ``eval.csv``, ``tb/``, then
    ``equity.csv``, ``trades.csv``, ``summary.json`` and ``plots/`` of the test-split backtest."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(dump_config(config))
    th.set_num_threads(config.ppo.torch_threads)
    set_random_seed(config.ppo.seed)
    given_bars = bars is not None
    if bars is None:
        bars = load_bars(config.data, warmup_bars=config.warmup_bars())
    market, pipeline = build_market(config, bars)
    bounds = split_bounds(config, market)  # refuses empty splits before any training
    pipeline.save(out)
    (out / MARKET_FILE).write_text(
        json.dumps({"symbols": market.symbols, "columns": market.columns, "daily": market.daily}, indent=1)
    )
    total = config.ppo.total_timesteps
    print(progress_line(0, total, "environment ready"), flush=True)

    vec = make_vec_env(config, market)
    eval_env = Monitor(env_for(config, market, "val"))
    model = build_model(config, vec, out / "tb")
    staging = out / ".best"
    stopper = (
        StopTrainingOnNoModelImprovement(config.eval.patience, config.eval.min_evals)
        if config.eval.patience is not None
        else None
    )
    validation = ValidationCallback(
        eval_env,
        n_eval_episodes=1,
        eval_freq=max(config.eval.every_steps // config.ppo.n_envs, 1),
        deterministic=True,
        best_model_save_path=str(staging),
        callback_after_eval=stopper,
        csv_path=out / "eval.csv",
        total=total,
        warn=False,
        verbose=0,
    )
    callbacks: list[BaseCallback] = [ProgressCallback(total), validation]
    if config.eval.checkpoint_every:
        every = max(config.eval.checkpoint_every // config.ppo.n_envs, 1)
        callbacks.append(CheckpointCallback(every, str(out / "checkpoints"), name_prefix="ppo"))
    try:
        with warnings.catch_warnings():
            # validation runs one env in-process even when training uses subprocesses: harmless
            warnings.filterwarnings("ignore", message="Training and eval env are not of the same type")
            model.learn(
                total,
                callback=CallbackList(callbacks),
                progress_bar=sys.stderr.isatty(),
                tb_log_name="ppo",
            )
    finally:
        vec.close()
    model.save(out / "last.zip")
    best = staging / "best_model.zip"
    evaluations = validation.n_evaluations
    if best.is_file():
        shutil.move(best, out / "policy.zip")
    else:  # no validation ran (a budget below eval.every_steps): the last policy is all there is
        log.warning("no validation ran before the end of training; policy.zip is the last policy")
        shutil.copyfile(out / "last.zip", out / "policy.zip")
    shutil.rmtree(staging, ignore_errors=True)
    stopped = model.num_timesteps < total and stopper is not None
    print(
        progress_line(model.num_timesteps, total, "backtesting the best policy on the test split"), flush=True
    )

    # the test backtest is exactly what `stockbot backtest` of this run over the test period gives
    test_start = market.timestamps[bounds["test"][0]].date()
    backtest_config = BacktestConfig(
        data=config.data.model_copy(update={"start": test_start}),
        policy=PolicyConfig(type="run", path=out),
        initial_cash=config.initial_cash,
    )
    # with caller-given bars, the test backtest sees exactly what load_bars would give it
    history = None
    if given_bars:
        first = sessions_before(config.data.calendar, test_start, config.warmup_bars())
        history = bars[bars.index.get_level_values("timestamp") >= pd.Timestamp(first, tz="UTC")]
    result = run_backtest(backtest_config, bars=history)
    result.summary["training"] = {
        "timesteps": int(model.num_timesteps),
        "evaluations": evaluations,
        "stopped_early": bool(stopped),
        "config_hash": config_hash(config),
    }
    write_backtest(result, out)
    print(progress_line(total, total, "done"), flush=True)
    return TrainResult(out, evaluations, stopped, int(model.num_timesteps), result)
