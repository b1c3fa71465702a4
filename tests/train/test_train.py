"""Tiny real training runs of each policy type on bundled data: save, reload, replay, backtest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stockbot.backtest import run_backtest
from stockbot.backtest.runner import backtest_trained, trained_replay
from stockbot.backtest.trained import load_trained
from stockbot.config import (
    BacktestConfig,
    DataConfig,
    EnvConfig,
    EvalConfig,
    PolicyConfig,
    PPOConfig,
    RegimeConfig,
    TrainConfig,
)
from stockbot.errors import DataError
from stockbot.train import train

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]

SYMBOLS = ["AAPL", "KO", "XOM"]


def tiny(policy: str, **kw: object) -> TrainConfig:
    return TrainConfig(
        data=DataConfig(symbols=SYMBOLS, start="2013-03-01", end="2017-12-06"),
        env=EnvConfig(window=8, episode_bars=64),
        ppo=PPOConfig(
            policy=policy,
            total_timesteps=768,
            n_envs=2,
            n_steps=128,
            batch_size=64,
            n_epochs=1,
            net_arch=(16, 16),
            lstm_hidden_size=16,
            cnn_channels=(8,),
        ),
        eval=EvalConfig(every_steps=256, patience=None),
        **kw,
    )


@pytest.fixture(scope="module")
def bars(dow29_bars: pd.DataFrame) -> pd.DataFrame:
    return dow29_bars[dow29_bars.index.get_level_values("symbol").isin(SYMBOLS)]


def decisions(run_dir: Path, bars: pd.DataFrame, start: str) -> np.ndarray:
    run = load_trained(run_dir)
    replay = trained_replay(run, bars, pd.Timestamp(start))
    replay.path.reset()
    return np.array([replay.decide(t) for t in range(replay.first, replay.market.n_bars - 1)])


@pytest.mark.parametrize("policy", ["mlp", "cnn", "lstm"])
def test_train_save_reload_backtest(policy: str, bars: pd.DataFrame, tmp_path: Path) -> None:
    cfg = tiny(policy)
    res = train(cfg, tmp_path / "run", bars=bars)
    out = res.out_dir
    for name in (
        "config.yaml",
        "obsnorm.json",
        "market.json",
        "policy.zip",
        "last.zip",
        "eval.csv",
        "equity.csv",
        "trades.csv",
        "summary.json",
        "plots/equity.png",
        "plots/drawdown.png",
    ):
        assert (out / name).is_file(), name
    assert any((out / "tb").rglob("events.out.tfevents.*"))
    assert res.evaluations == 3 and len(pd.read_csv(out / "eval.csv")) == 3
    # the reloaded policy acts identically, and its actions are not a constant
    a = decisions(out, bars, "2017-04-03")
    b = decisions(out, bars, "2017-04-03")
    np.testing.assert_array_equal(a, b)
    assert np.ptp(a, axis=0).max() > 1e-3, "the policy's target weights never change"
    # a fresh backtest of the reloaded run reproduces the run's own test backtest, byte for byte
    bt = run_backtest(
        BacktestConfig(
            data=cfg.data.model_copy(update={"start": pd.Timestamp("2017-04-03").date()}),
            policy=PolicyConfig(type="run", path=out),
        )
    )
    from stockbot.backtest import write_backtest

    write_backtest(bt, tmp_path / "again")
    assert (tmp_path / "again" / "equity.csv").read_bytes() == (out / "equity.csv").read_bytes()
    assert (tmp_path / "again" / "trades.csv").read_bytes() == (out / "trades.csv").read_bytes()


def test_trained_backtest_is_truncation_invariant_with_regimes(bars: pd.DataFrame, tmp_path: Path) -> None:
    cfg = tiny("mlp", regimes=RegimeConfig(enabled=True, n_states=3, columns=("ret_1", "vol_20")))
    train(cfg, tmp_path / "run", bars=bars)
    run = load_trained(tmp_path / "run")
    assert run.pipeline.regimes is not None
    start = pd.Timestamp("2015-06-01", tz="UTC")
    full = backtest_trained(run, bars, start)
    trades = full.policy.trades
    stamps = bars.index.get_level_values("timestamp").unique()
    first_decision = full.policy.equity["timestamp"].iloc[0]
    days = [
        stamps[30],  # inside the warm-up: nothing to backtest either way
        stamps[stamps.get_loc(first_decision) + 3],
        pd.Timestamp(cfg.split.train_end, tz="UTC") + pd.offsets.BDay(0),
        pd.Timestamp(cfg.split.val_end, tz="UTC") - pd.offsets.BDay(1),
        stamps[-60],
        stamps[-2],
    ]
    assert len(trades[trades["timestamp"] <= days[1]]) > 0, "the policy must trade before the first cut"
    weights_seen = full.policy.equity["net_exposure"].round(4).nunique()
    assert weights_seen > 10, "the policy's actions must vary"
    for day in days:
        want_eq = full.policy.equity[full.policy.equity["timestamp"] <= day].reset_index(drop=True)
        want_tr = trades[trades["timestamp"] <= day].reset_index(drop=True)
        try:
            cut = backtest_trained(run, bars[bars.index.get_level_values("timestamp") <= day], start)
        except DataError:
            assert want_eq.empty, f"cut at {day.date()}: the full run has rows the cut run cannot make"
            continue
        got_eq = cut.policy.equity[cut.policy.equity["timestamp"] <= day].reset_index(drop=True)
        got_tr = cut.policy.trades[cut.policy.trades["timestamp"] <= day].reset_index(drop=True)
        pd.testing.assert_frame_equal(got_eq, want_eq, check_exact=True, obj=f"equity cut at {day.date()}")
        pd.testing.assert_frame_equal(got_tr, want_tr, check_exact=True, obj=f"trades cut at {day.date()}")
