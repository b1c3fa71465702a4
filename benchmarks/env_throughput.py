"""Env steps per second with random actions: StockBot's envs vs a FinRL-style pandas env.

The FinRL-style env below follows the design of FinRL's StockTradingEnv (written here for the
comparison, not imported): each step looks its day up in a long pandas frame (``df.loc[day, :]``),
rebuilds the state as Python lists (cash, closes, holdings, indicators), checking the number of
stocks with ``df.tic.unique()`` once per state as FinRL does, and trades stock by stock in a Python
loop. Both
run over the bundled dow29 panel with the same feature columns. Prints JSON.

    .venv/bin/python benchmarks/env_throughput.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np
import pandas as pd

from stockbot.config import DataConfig, EnvConfig, TrainConfig
from stockbot.data import load_bars
from stockbot.envs import TradingEnv, make_env


class FinRLStyleEnv:
    """Pandas row lookups per step, list-built state, per-stock Python trading loop."""

    def __init__(self, df: pd.DataFrame, indicators: list[str], hmax: int = 100, cash: float = 1e6) -> None:
        self.df = df  # index: day number (repeated per symbol), columns close + indicators
        self.indicators = indicators
        self.n = int((df.index == 0).sum())
        self.hmax, self.initial_cash = hmax, cash
        self.last_day = int(df.index.max())
        self.cost = 0.001

    def reset(self) -> list[float]:
        self.day = 0
        self.data = self.df.loc[self.day, :]
        self.state = self._state(self.initial_cash, [0.0] * self.n)
        return self.state

    def _state(self, cash: float, holdings: list[float]) -> list[float]:
        # FinRL's _update_state branches on the number of stocks with len(df.tic.unique()) > 1: one
        # scan of the whole frame per step, kept because it is what FinRL does
        multi = len(self.df["symbol"].unique()) > 1

        def col(name: str) -> list[float]:
            return self.data[name].tolist() if multi else [self.data[name]]

        state = [cash, *col("close"), *holdings]
        for ind in self.indicators:
            state += col(ind)
        return state

    def step(self, actions: np.ndarray) -> tuple[list[float], float, bool]:
        n = self.n
        begin = self.state[0] + float(np.dot(self.state[1 : n + 1], self.state[n + 1 : 2 * n + 1]))
        acts = (actions * self.hmax).astype(int)
        order = np.argsort(acts)
        for i in order[: np.where(acts < 0)[0].shape[0]]:  # sells
            held = self.state[n + 1 + i]
            q = min(abs(acts[i]), held)
            self.state[0] += self.state[1 + i] * q * (1 - self.cost)
            self.state[n + 1 + i] -= q
        for i in order[::-1][: np.where(acts > 0)[0].shape[0]]:  # buys
            price = self.state[1 + i]
            q = min(self.state[0] // (price * (1 + self.cost)), acts[i])
            self.state[0] -= price * q * (1 + self.cost)
            self.state[n + 1 + i] += q
        self.day += 1
        self.data = self.df.loc[self.day, :]
        holdings = self.state[n + 1 : 2 * n + 1]
        self.state = self._state(self.state[0], holdings)
        end = self.state[0] + float(np.dot(self.state[1 : n + 1], holdings))
        return self.state, end - begin, self.day >= self.last_day


def rate_ours(env: TradingEnv, seconds: float, seed: int = 0) -> float:
    actions = [env.action_space.sample() for _ in range(4096)]
    env.action_space.seed(seed)
    env.reset(seed=seed)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(1000):
            _, _, term, trunc, _ = env.step(actions[n & 4095])
            n += 1
            if term or trunc:
                env.reset()
    return n / (time.perf_counter() - t0)


def rate_finrl(env: FinRLStyleEnv, seconds: float, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    actions = rng.uniform(-1, 1, size=(4096, env.n))
    env.reset()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(100):
            _, _, done = env.step(actions[n & 4095])
            n += 1
            if done:
                env.reset()
    return n / (time.perf_counter() - t0)


def finrl_frame(bars: pd.DataFrame, features: pd.DataFrame) -> pd.DataFrame:
    joined = features.join(bars["close"]).reset_index()
    days = {t: i for i, t in enumerate(joined["timestamp"].unique())}
    joined.index = joined["timestamp"].map(days).to_numpy()
    return joined.sort_index(kind="stable")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args()
    out: dict[str, Any] = {"machine_cores": 2}
    for name, symbols, env_cfg in (
        ("single", ["AAPL"], EnvConfig(kind="single", action="continuous", episode_bars=None)),
        ("portfolio", None, EnvConfig(kind="portfolio", action="weights", episode_bars=None)),
    ):
        cfg = TrainConfig(data=DataConfig(symbols=symbols), env=env_cfg)
        bars = load_bars(cfg.data, warmup_bars=cfg.features.warmup_bars())
        env = make_env(cfg, bars, split="all")
        rate_ours(env, 0.3)  # compile and warm up
        ours = rate_ours(env, args.seconds)
        feats = env.pipeline.transform(bars)  # type: ignore[attr-defined]
        base = FinRLStyleEnv(finrl_frame(bars, feats), list(feats.columns))
        theirs = rate_finrl(base, args.seconds)
        out[name] = {
            "symbols": env.market.n_assets,
            "observation": list(env.observation_space["features"].shape),
            "stockbot_steps_per_s": round(ours),
            "finrl_style_steps_per_s": round(theirs),
            "ratio": round(ours / theirs, 1),
        }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
