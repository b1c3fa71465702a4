"""Ledger and simulator on small hand-computed cases (every number below is worked out by hand)."""

from __future__ import annotations

import numpy as np
import pytest

from stockbot.execution import CostModel, Ledger, RiskLimits, Simulator, TradeLog, limit_weights

pytestmark = pytest.mark.timeout(60)

FREE = CostModel(commission=0.0, slippage=0.0)


def sim(
    open_: list,
    close: list,
    *,
    costs: CostModel = FREE,
    limits: RiskLimits | None = None,
    cash: float = 1000.0,
    **kw: object,
) -> Simulator:
    o = np.array(open_, dtype=float).reshape(len(open_), -1)
    c = np.array(close, dtype=float).reshape(len(close), -1)
    return Simulator(
        o, c, initial_cash=cash, costs=costs, limits=limits or RiskLimits(), log=TradeLog(), **kw
    )


def test_decision_at_close_fills_at_next_open_and_marks_at_next_close() -> None:
    s = sim([10, 9, 12], [10, 12, 13])
    r = s.step(0, np.array([1.0]))
    # sized at t=0's close: 1.0 * 1000 / 10 = 100 shares, bought at t=1's open 9 -> cash 100
    assert s.qty[0] == pytest.approx(100.0)
    assert s.cash == pytest.approx(100.0)
    fill_bar, decision_bar, fill = s.log.rows[0]  # type: ignore[union-attr]
    assert (fill_bar, decision_bar, fill.price) == (1, 0, 9.0)
    assert r.equity == pytest.approx(100 + 100 * 12)  # marked at t=1's close


def test_buys_are_clipped_so_cash_stays_non_negative() -> None:
    s = sim([10, 11, 12], [10, 12, 13])
    s.step(0, np.array([1.0]))
    # wanted 100 shares at 11 = 1100 > 1000 cash: scaled to 1000/11 = 90.909... shares
    assert s.qty[0] == pytest.approx(1000 / 11, rel=1e-9)
    assert s.cash >= 0.0 and s.cash == pytest.approx(0.0, abs=1e-6)
    assert s.equity == pytest.approx(1000 / 11 * 12, rel=1e-9)


def test_whole_shares_round_towards_zero() -> None:
    s = sim([10, 9, 9], [10, 9, 9], fractional=False)
    s.step(0, np.array([0.55]))  # 0.55 * 1000 / 10 = 55 shares at 9
    assert s.qty[0] == 55.0
    assert s.cash == pytest.approx(1000 - 55 * 9)
    s2 = sim([10, 12, 12], [10, 12, 12], fractional=False)
    s2.step(0, np.array([1.0]))  # 100 wanted at 12 = 1200 > 1000: 83 whole shares fit
    assert s2.qty[0] == 83.0
    assert s2.cash == pytest.approx(1000 - 83 * 12)


def test_fees_and_slippage() -> None:
    costs = CostModel(commission=0.001, slippage=0.01)  # 10 bps commission, 100 bps slippage
    s = sim([10, 10, 10, 10], [10, 10, 10, 10], costs=costs)
    s.step(0, np.array([0.5]))  # 50 shares at 10 * 1.01 = 10.1 -> 505 notional, fee 0.505
    ((_, _, buy),) = s.log.rows  # type: ignore[union-attr]
    assert buy.price == pytest.approx(10.1)
    assert buy.fee == pytest.approx(0.505)
    assert buy.slippage_cost == pytest.approx(50 * 0.1)
    assert s.cash == pytest.approx(1000 - 505 - 0.505)
    s.step(1, np.array([0.0]))  # sell 50 at 10 * 0.99 = 9.9 -> 495, fee 0.495
    sell = s.log.rows[1][2]  # type: ignore[union-attr]
    assert sell.qty == pytest.approx(-50) and sell.price == pytest.approx(9.9)
    assert s.cash == pytest.approx(1000 - 505 - 0.505 + 495 - 0.495)
    assert s.equity == pytest.approx(989.0)  # 1000 - 2 * 5 slippage - 1.0 fees


def test_per_share_and_minimum_fee() -> None:
    costs = CostModel(commission=0.0, slippage=0.0, per_share=0.01, min_fee=1.0)
    s = sim([10, 10, 10], [10, 10, 10], costs=costs)
    s.step(0, np.array([0.05]))  # 5 shares: 0.05 per-share fee < 1.0 minimum
    assert s.log.rows[0][2].fee == pytest.approx(1.0)  # type: ignore[union-attr]
    assert s.cash == pytest.approx(1000 - 50 - 1.0)


def test_fill_at_close_is_the_optimistic_option() -> None:
    s = sim([10, 20, 20], [10, 20, 20], fill_at_close=True)
    s.step(0, np.array([1.0]))  # buys 100 at t=0's close 10, not at t=1's open 20
    assert s.qty[0] == pytest.approx(100.0)
    assert s.log.rows[0][0] == 0  # type: ignore[union-attr]
    assert s.equity == pytest.approx(2000.0)


def test_leverage_cap_and_borrowing() -> None:
    s = sim([10, 10, 10], [10, 10, 10], limits=RiskLimits(max_gross_leverage=2.0, max_position_weight=3.0))
    s.step(0, np.array([3.0]))  # capped to 2x: 200 shares, cash -1000 (allowed by the floor)
    assert s.qty[0] == pytest.approx(200.0)
    assert s.cash == pytest.approx(-1000.0)
    s1 = sim([10, 10, 10], [10, 10, 10])
    s1.step(0, np.array([3.0]))  # no borrowing at 1x
    assert s1.qty[0] == pytest.approx(100.0) and s1.cash == pytest.approx(0.0)


def test_limit_weights_rules() -> None:
    lim = RiskLimits(max_gross_leverage=1.0, max_position_weight=0.4, max_turnover=0.5)
    cur = np.array([0.0, 0.0, 0.0])
    w = limit_weights(np.array([0.9, 0.3, -0.2]), cur, lim)
    # no shorts -> [0.9, 0.3, 0]; position cap -> [0.4, 0.3, 0]; gross 0.7 ok; turnover 0.7 > 0.5
    np.testing.assert_allclose(w, np.array([0.4, 0.3, 0.0]) * 0.5 / 0.7)
    short = RiskLimits(max_gross_leverage=1.0, max_position_weight=1.0, allow_short=True)
    np.testing.assert_allclose(limit_weights(np.array([0.8, -0.8]), np.zeros(2), short), [0.5, -0.5])


def test_turnover_cap_in_the_simulator() -> None:
    s = sim([10] * 4, [10] * 4, limits=RiskLimits(max_turnover=0.25))
    s.step(0, np.array([1.0]))
    assert s.qty[0] == pytest.approx(25.0)  # only a quarter of the way
    s.step(1, np.array([1.0]))
    assert s.qty[0] == pytest.approx(50.0)


def test_shorting_on_and_off() -> None:
    off = sim([10, 10, 8], [10, 10, 8])
    off.step(0, np.array([-1.0]))
    assert off.qty[0] == 0.0 and off.cash == 1000.0
    on = sim([10, 10, 8], [10, 10, 8], limits=RiskLimits(allow_short=True))
    on.step(0, np.array([-1.0]))  # short 100 at 10: cash 2000
    assert on.qty[0] == pytest.approx(-100.0) and on.cash == pytest.approx(2000.0)
    r = on.step(1, np.array([-1.0]))  # price falls to 8: equity 2000 - 800 = 1200, 20 short shares more?
    # target at t=1's close: -1.0 * 1000 / 10 = -100, unchanged: no trade
    assert on.qty[0] == pytest.approx(-100.0)
    assert r.equity == pytest.approx(1200.0)


def test_drawdown_kill_flattens_and_stays_flat() -> None:
    s = sim([10, 10, 7, 7, 7, 9], [10, 10, 7, 7, 7, 9], limits=RiskLimits(max_drawdown=0.2))
    s.step(0, np.array([1.0]))  # 100 shares at 10
    r = s.step(1, np.array([1.0]))  # close 7: equity 700, drawdown -30% -> killed
    assert r.killed and r.equity == pytest.approx(700.0)
    s.step(2, np.array([1.0]))  # flattened at t=3's open (7)
    assert s.qty[0] == 0.0 and s.cash == pytest.approx(700.0)
    s.step(3, np.array([1.0]))  # stays flat although the policy wants in
    assert s.qty[0] == 0.0


def test_rebalance_threshold_skips_small_changes() -> None:
    s = sim([10] * 4, [10] * 4, rebalance_threshold=0.1)
    s.step(0, np.array([0.5]))
    n = len(s.log.rows)  # type: ignore[union-attr]
    s.step(1, np.array([0.55]))  # |0.55 - 0.5| < 0.1: no trade
    assert len(s.log.rows) == n  # type: ignore[union-attr]
    s.step(2, np.array([0.7]))
    assert s.qty[0] == pytest.approx(70.0)


def test_average_cost_for_unrealised_pnl() -> None:
    led = Ledger(1, 10_000.0, FREE)
    led.execute(np.array([10.0]), np.array([100.0]))
    led.execute(np.array([20.0]), np.array([110.0]))
    assert led.avg_cost[0] == pytest.approx(105.0)
    led.execute(np.array([5.0]), np.array([120.0]))  # reducing keeps the average
    assert led.avg_cost[0] == pytest.approx(105.0)
    led.execute(np.array([-5.0]), np.array([90.0]))  # crossing zero starts at the fill price
    assert led.avg_cost[0] == pytest.approx(90.0)


def test_multi_asset_sells_fund_buys() -> None:
    s = sim([[10, 20], [10, 20], [10, 20]], [[10, 20], [10, 20], [10, 20]])
    s.step(0, np.array([1.0, 0.0]))
    s.step(1, np.array([0.0, 1.0]))  # sell 100 A first, then buy 50 B with the proceeds
    assert s.qty == pytest.approx([0.0, 50.0])
    assert s.cash == pytest.approx(0.0, abs=1e-6)


def test_nan_target_holds_the_position() -> None:
    s = sim([[10, 10]] * 4, [[10, 10], [10, 10], [20, 10], [20, 10]])
    s.step(0, np.array([0.5, 0.5]))
    n = len(s.log.rows)  # type: ignore[union-attr]
    s.step(1, np.array([np.nan, 0.2]))  # keep A's 50 shares, cut B to 0.2 * 1000 / 10 = 20
    assert s.qty == pytest.approx([50.0, 20.0])
    assert len(s.log.rows) == n + 1  # type: ignore[union-attr]
    s.step(2, np.array([np.nan, np.nan]))  # A doubled: weights drift, nothing trades
    assert len(s.log.rows) == n + 1  # type: ignore[union-attr]


def test_minimum_fee_does_not_cancel_an_affordable_buy() -> None:
    costs = CostModel(commission=0.0, slippage=0.0, min_fee=5.0)
    led = Ledger(1, 100.0, costs)
    led.execute(np.array([100.0]), np.array([1.0]))  # 100 + 5 > 100: 95 shares + 5 fee fit exactly
    assert led.qty[0] == pytest.approx(95.0, rel=1e-9)
    assert led.cash == pytest.approx(0.0, abs=1e-6) and led.cash >= 0.0


def test_held_assets_do_not_use_the_budgets() -> None:
    # A is held at 0.9 (above the 0.5 cap, which is not enforced on a held position); B may use
    # what is left of the gross budget (0.1) within the turnover cap (0.5)
    lim = RiskLimits(max_gross_leverage=1.0, max_position_weight=0.5, max_turnover=0.5)
    w = limit_weights(np.array([np.nan, 0.5]), np.array([0.9, 0.0]), lim)
    np.testing.assert_allclose(w, [0.9, 0.1])


def test_simulator_refuses_bad_bars_and_shapes() -> None:
    s = sim([[10, 10]] * 3, [[10, 10]] * 3)
    with pytest.raises(IndexError, match="decision bar 2"):
        s.step(2, np.array([0.5, 0.5]))
    with pytest.raises(ValueError, match="one weight per asset"):
        s.step(0, np.array([0.5]))
