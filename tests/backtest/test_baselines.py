"""Baselines through the shared execution path, checked against a ledger written here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stockbot.backtest import run_backtest, write_backtest
from stockbot.config import BacktestConfig, CostConfig, DataConfig, PolicyConfig
from stockbot.errors import DataError

pytestmark = pytest.mark.timeout(120)

SYMBOLS = ["AAPL", "KO", "XOM"]
DATA = DataConfig(symbols=SYMBOLS, start="2017-01-03", end="2017-12-06")
COMMISSION, SLIPPAGE = 1e-4, 2e-4


def reference_equity(bars: pd.DataFrame, weights: pd.DataFrame, cash0: float) -> np.ndarray:
    """Own ledger: decide at close t (size with equity and close_t), sells then buys at open t+1
    with slippage and commission, buys scaled to the cash; mark at close t+1. NaN = hold."""
    o = bars["open"].unstack("symbol")[SYMBOLS].to_numpy()
    c = bars["close"].unstack("symbol")[SYMBOLS].to_numpy()
    w = weights.to_numpy()
    qty, cash = np.zeros(len(SYMBOLS)), cash0
    equity = [cash0]
    for t in range(len(c) - 1):
        eq = cash + qty @ c[t]
        target = np.where(np.isnan(w[t]), qty, w[t] * eq / c[t])
        delta = target - qty
        for i in range(len(SYMBOLS)):  # sells
            if delta[i] < 0:
                p = o[t + 1, i] * (1 - SLIPPAGE)
                cash += -delta[i] * p * (1 - COMMISSION)
                qty[i] += delta[i]
        buys = np.maximum(delta, 0)
        p_buy = o[t + 1] * (1 + SLIPPAGE)
        cost = (buys * p_buy).sum() * (1 + COMMISSION)
        if cost > cash:
            buys = buys * cash / cost * (1 - 1e-12)
        cash -= (buys * p_buy).sum() * (1 + COMMISSION)
        qty += buys
        equity.append(cash + qty @ c[t + 1])
    return np.array(equity)


@pytest.fixture(scope="module")
def bars(dow29_bars: pd.DataFrame) -> pd.DataFrame:
    b = dow29_bars[dow29_bars.index.get_level_values("symbol").isin(SYMBOLS)]
    ts = b.index.get_level_values("timestamp")
    return b[(ts >= pd.Timestamp("2017-01-03", tz="UTC")) & (ts <= pd.Timestamp("2017-12-06", tz="UTC"))]


def test_weights_csv_matches_an_independent_ledger(bars: pd.DataFrame, tmp_path: Path) -> None:
    stamps = bars.index.get_level_values("timestamp").unique()
    rng = np.random.default_rng(7)
    raw = rng.dirichlet(np.ones(len(SYMBOLS) + 1), size=len(stamps))[:, : len(SYMBOLS)]
    raw[rng.random(len(stamps)) < 0.3] = np.nan  # some bars: no instruction, hold
    weights = pd.DataFrame(raw, index=stamps, columns=SYMBOLS)
    rows = [
        {"timestamp": t.date().isoformat(), "symbol": s, "weight": weights.loc[t, s]}
        for t in stamps
        for s in SYMBOLS
        if not np.isnan(weights.loc[t, s])
    ]
    pd.DataFrame(rows).to_csv(tmp_path / "w.csv", index=False)
    cfg = BacktestConfig(
        data=DATA,
        policy=PolicyConfig(type="weights_csv", path=tmp_path / "w.csv"),
        costs=CostConfig(commission_bps=1, slippage_bps=2),
    )
    res = run_backtest(cfg, bars=bars)
    want = reference_equity(bars, weights, cfg.initial_cash)
    np.testing.assert_allclose(res.policy.equity["equity"].to_numpy(), want, rtol=1e-10)
    assert len(res.policy.trades) > 100


def test_buy_and_hold_and_cash(bars: pd.DataFrame) -> None:
    bh = run_backtest(BacktestConfig(data=DATA, policy=PolicyConfig(type="buy_and_hold")), bars=bars)
    first = np.full(len(SYMBOLS), 1 / 3)
    w = pd.DataFrame(np.nan, index=bars.index.get_level_values("timestamp").unique(), columns=SYMBOLS)
    w.iloc[0] = first
    np.testing.assert_allclose(bh.policy.equity["equity"], reference_equity(bars, w, 100_000), rtol=1e-10)
    assert len(bh.policy.trades) == 3  # three buys, then held
    np.testing.assert_array_equal(bh.policy.equity["equity"], bh.benchmark.equity["equity"])
    cash = run_backtest(BacktestConfig(data=DATA, policy=PolicyConfig(type="cash")), bars=bars)
    assert (cash.policy.equity["equity"] == 100_000).all() and cash.policy.trades.empty
    assert cash.summary["policy"]["sharpe"] is None and cash.summary["policy"]["total_return"] == 0


def test_equal_weight_rebalances_on_schedule(bars: pd.DataFrame) -> None:
    res = run_backtest(
        BacktestConfig(data=DATA, policy=PolicyConfig(type="equal_weight", rebalance=21)), bars=bars
    )
    decided = pd.DatetimeIndex(res.policy.trades["decision_timestamp"].unique())
    stamps = bars.index.get_level_values("timestamp").unique()
    assert set(decided) <= set(stamps[::21])
    assert len(decided) >= 9


def test_outputs_follow_the_design(bars: pd.DataFrame, tmp_path: Path) -> None:
    res = run_backtest(
        BacktestConfig(data=DATA, policy=PolicyConfig(type="equal_weight", rebalance=5)), bars=bars
    )
    write_backtest(res, tmp_path)
    eq = pd.read_csv(tmp_path / "equity.csv")
    assert list(eq.columns) == [
        "timestamp",
        "equity",
        "cash",
        "gross_exposure",
        "net_exposure",
        "drawdown",
        "benchmark_equity",
    ]
    assert eq["equity"].iloc[0] == 100_000 and eq["benchmark_equity"].iloc[0] == 100_000
    assert (eq["drawdown"] <= 0).all()
    tr = pd.read_csv(tmp_path / "trades.csv")
    assert list(tr.columns) == [
        "timestamp",
        "decision_timestamp",
        "symbol",
        "side",
        "qty",
        "price",
        "notional",
        "fee",
        "slippage_cost",
    ]
    assert (tr["qty"] > 0).all() and set(tr["side"]) <= {"buy", "sell"}
    assert (pd.to_datetime(tr["timestamp"]) > pd.to_datetime(tr["decision_timestamp"])).all()
    np.testing.assert_allclose(tr["notional"], tr["qty"] * tr["price"])
    for name in ("equity.png", "drawdown.png"):
        assert (tmp_path / "plots" / name).stat().st_size > 10_000
    first = (tmp_path / "equity.csv").read_bytes()
    write_backtest(
        run_backtest(
            BacktestConfig(data=DATA, policy=PolicyConfig(type="equal_weight", rebalance=5)), bars=bars
        ),
        tmp_path,
    )
    assert (tmp_path / "equity.csv").read_bytes() == first  # deterministic, byte for byte


def test_bad_weights_files(bars: pd.DataFrame, tmp_path: Path) -> None:
    (tmp_path / "w.csv").write_text("timestamp,symbol,weight\n2017-02-01,TSLA,0.5\n")
    cfg = BacktestConfig(data=DATA, policy=PolicyConfig(type="weights_csv", path=tmp_path / "w.csv"))
    with pytest.raises(DataError, match="TSLA"):
        run_backtest(cfg, bars=bars)
    (tmp_path / "w.csv").write_text("timestamp,symbol,weight\n2017-02-01,KO,half\n")
    with pytest.raises(DataError, match="column 'weight' must be numeric; row 0 has 'half'"):
        run_backtest(cfg, bars=bars)
    (tmp_path / "w.csv").write_text("timestamp,symbol,weight\n2017-02-01,KO,-0.5\n")
    with pytest.raises(DataError, match=r"row 0 has weight -0\.5; weights must be >= 0"):
        run_backtest(cfg, bars=bars)
    (tmp_path / "w.csv").write_text("timestamp,symbol,weight\n2017-02-04,KO,0.5\n")  # a Saturday
    with pytest.raises(DataError, match="1 timestamp\\(s\\) match no bar"):
        run_backtest(cfg, bars=bars)
