"""Learnability: when a feature at bar t tells the sign of the return from t+1's open to t+2's open,
PPO must find it. Proof that observations, actions, fills and rewards line up in time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv

from stockbot.backtest.engine import run_loop
from stockbot.backtest.runner import order_path
from stockbot.backtest.trained import policy_decider
from stockbot.config import CostConfig, DataConfig, EnvConfig, PPOConfig, RiskConfig, TrainConfig
from stockbot.envs import MarketData, StockTradingEnv
from stockbot.execution import RiskLimits
from stockbot.train.trainer import build_model

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]

T, TRAIN_END = 1300, 999


def synthetic() -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(42)
    g = rng.choice([-0.01, 0.01], size=T) + rng.normal(0, 0.002, size=T)  # intraday log returns
    close = 100 * np.exp(np.cumsum(g))
    open_ = np.r_[100.0, close[:-1]]  # no overnight gaps: open_{t+1} = close_t
    stamps = pd.bdate_range("2010-01-04", periods=T, tz="UTC")
    idx = pd.MultiIndex.from_arrays([stamps, ["SYN"] * T], names=["timestamp", "symbol"])
    bars = pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close),
            "low": np.minimum(open_, close),
            "close": close,
            "volume": 1e6,
            "raw_close": close,
            "adj_factor": 1.0,
        },
        index=idx,
    )
    # the signal at t is the sign of g_{t+1}: close_{t+1}/open_{t+1} = open_{t+2}/open_{t+1}
    signal = np.r_[np.sign(g[1:]), 0.0]
    obs = pd.DataFrame({"signal": signal, "noise": rng.normal(size=T)}, index=idx)
    return bars, obs, g


def test_ppo_learns_a_one_bar_ahead_signal() -> None:
    bars, obs, g = synthetic()
    market = MarketData.from_frames(bars, obs)
    cfg = TrainConfig(
        data=DataConfig(symbols=["SYN"]),
        env=EnvConfig(kind="single", action="discrete", observation="flat", episode_bars=128),
        ppo=PPOConfig(
            total_timesteps=16_384,
            n_envs=4,
            n_steps=256,
            batch_size=256,
            n_epochs=5,
            learning_rate=1e-3,
            net_arch=(32, 32),
            seed=3,
        ),
    )

    def make() -> Monitor:
        return Monitor(StockTradingEnv(market, config=cfg.env, bounds=(0, TRAIN_END), episode_bars=128))

    vec = DummyVecEnv([make] * 4)
    vec.seed(3)
    model = build_model(cfg, vec)
    model.learn(cfg.ppo.total_timesteps)

    test_env = StockTradingEnv(market, config=cfg.env, bounds=(TRAIN_END + 1, T - 1), random_start=False)
    path = order_path(market, CostConfig(), RiskLimits.from_config(RiskConfig()), 100_000.0)
    decide = policy_decider(test_env.observations, path.portfolio, test_env.actions, model, False)
    trace = run_loop(market, path, decide, TRAIN_END + 1, T - 1)
    ppo = trace.equity["equity"].iloc[-1] / trace.equity["equity"].iloc[0] - 1
    positions = trace.equity["net_exposure"].iloc[1:]
    assert positions.round(1).nunique() > 1, "the learned policy never changes its position"

    # references computed here: decisions at t = TRAIN_END+1 .. T-2 earn g_{t+1} when long
    nxt = g[TRAIN_END + 2 : T]
    oracle = np.exp(np.maximum(nxt, 0).sum()) - 1  # long exactly when the next bar rises, no costs
    buy_hold = bars["close"].iloc[-1] / bars["close"].iloc[TRAIN_END + 1] - 1
    assert ppo > 0.5 * oracle, f"PPO {ppo:.2%} < half the oracle's {oracle:.2%}"
    assert ppo > 0.0 and ppo > buy_hold
