"""The env's fused compiled step and the order path (planner -> order builder -> paper venue ->
portfolio -> risk state) give identical results, step by step, on targets that vary (random weights,
holds, all-cash) under costs and limits that bite: whole shares, a rebalance threshold, minimum and
per-share fees, leverage with borrowing, turnover and position caps, the drawdown kill switch, the
daily loss limit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stockbot.config import CostConfig, EnvConfig, ExecutionConfig, RiskConfig
from stockbot.envs import MarketData, PortfolioEnv
from stockbot.execution import CostModel, OrderPath, RiskLimits

pytestmark = pytest.mark.timeout(120)

CASES = {
    "defaults": ({}, {}, {}),
    "whole_shares_threshold_fees": (
        {"fractional_shares": False, "rebalance_threshold": 0.03, "cash_buffer": 0.02},
        {"commission_bps": 3, "slippage_bps": 7, "per_share": 0.01, "min_fee": 1.5},
        {"max_position_weight": 0.35},
    ),
    "leverage_turnover_kill": (
        {},
        {"slippage_bps": 20},
        {"max_gross_leverage": 1.6, "max_position_weight": 0.9, "max_turnover": 0.7, "max_drawdown": 0.15},
    ),
    "fill_at_close": ({}, {"fill": "close"}, {}),
    "daily_loss": (
        {},
        {},
        {"max_gross_leverage": 1.8, "max_position_weight": 1.8, "daily_loss_limit": 0.015},
    ),
}


def targets(n_assets: int, n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        w = rng.dirichlet(np.ones(n_assets)) * rng.uniform(0.2, 1.8)
        kind = rng.integers(0, 6)
        if kind == 0:
            w[:] = np.nan  # hold everything
        elif kind == 1:
            w[rng.integers(0, n_assets)] = np.nan  # hold one
        elif kind == 2:
            w[:] = 0.0  # all cash
        out.append(w)
    return out


@pytest.mark.parametrize("case", list(CASES))
def test_the_fused_step_is_the_order_path(case: str, dow5_bars: pd.DataFrame) -> None:
    env_kw, cost_kw, risk_kw = CASES[case]
    bars = dow5_bars[dow5_bars.index.get_level_values("timestamp") >= pd.Timestamp("2016-01-01", tz="UTC")]
    market = MarketData.from_bars(bars)
    cfg, costs, risk = EnvConfig(window=1), CostConfig(**cost_kw), RiskConfig(**risk_kw)
    ex = ExecutionConfig(**env_kw)
    env = PortfolioEnv(
        market, config=cfg, costs=costs, risk=risk, execution=ex, initial_cash=50_000.0, random_start=False
    )
    path = OrderPath(
        market.symbols,
        initial_cash=50_000.0,
        costs=CostModel.from_config(costs),
        limits=RiskLimits.from_config(risk),
        execution=ex,
        fill_at_close=costs.fill == "close",
    )
    env.reset()
    path.reset(market.session(0))
    n_fills = halts = 0
    for t, target in enumerate(targets(market.n_assets, market.n_bars - 1, seed=len(case))):
        _, _, nf = env.execute(t, target)
        at = t if path.fill_at_close else t + 1
        step = path.step(
            target, market.bar(t), market.bar(t + 1), [market.timestamps[at]], market.session(t + 1)
        )
        fills, mark = step.fills, step.mark
        rows = env.fills_buffer[:nf]
        assert nf == len(fills), t
        for row, f in zip(rows, fills, strict=True):
            assert market.symbols[int(row[0])] == f.symbol
            assert (row[1], row[2], row[3], row[4]) == (f.signed, f.price, f.fee, f.slippage_cost), t
        p, q = env.portfolio, path.portfolio
        assert (p.cash, p.equity, p.peak) == (q.cash, q.equity, q.peak), t
        assert np.array_equal(p.qty, q.qty) and np.array_equal(p.avg_cost, q.avg_cost), t
        assert env.halted == (path.risk.status == "halted"), t
        assert mark.equity == p.equity
        n_fills += nf
        halts += env.halted
    # the case exercised what it claims: many trades, and the kill switch where it is set
    assert n_fills > 100
    assert (halts > 0) == ("max_drawdown" in risk_kw or "daily_loss_limit" in risk_kw)
    if "daily_loss_limit" in risk_kw:
        assert path.risk.status == "active" and 1 < halts < 100  # halts that lifted, several times
