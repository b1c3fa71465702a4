"""The order path (planner -> order builder -> paper venue -> portfolio -> risk state) on small
hand-computed cases: every expected number below is worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stockbot.config import ExecutionConfig
from stockbot.execution import (
    Bar,
    CostModel,
    Fill,
    Order,
    OrderPath,
    Portfolio,
    RiskLimits,
    limit_weights,
)

pytestmark = pytest.mark.timeout(60)

FREE = CostModel(commission=0.0, slippage=0.0)
DAY0 = pd.Timestamp("2024-01-02", tz="UTC")


class Steps:
    """An order path over hand-written open/close arrays (T, N), one decision per call."""

    def __init__(
        self,
        open_: list,
        close: list,
        *,
        costs: CostModel = FREE,
        limits: RiskLimits | None = None,
        cash: float = 1000.0,
        high: list | None = None,
        low: list | None = None,
        **kw: object,
    ) -> None:
        self.o = np.array(open_, dtype=float).reshape(len(open_), -1)
        self.c = np.array(close, dtype=float).reshape(len(close), -1)
        self.h = (
            np.maximum(self.o, self.c) if high is None else np.array(high, dtype=float).reshape(self.o.shape)
        )
        self.lo = (
            np.minimum(self.o, self.c) if low is None else np.array(low, dtype=float).reshape(self.o.shape)
        )
        symbols = [chr(ord("A") + i) for i in range(self.o.shape[1])]
        fill_at_close = bool(kw.pop("fill_at_close", False))
        self.path = OrderPath(
            symbols,
            initial_cash=cash,
            costs=costs,
            limits=limits or RiskLimits(),
            execution=ExecutionConfig(**kw),  # type: ignore[arg-type]
            fill_at_close=fill_at_close,
        )
        self.path.reset(session=0)
        self.fills: list[tuple[int, int, Fill]] = []  # (fill bar, decision bar, fill)
        self.events: list[str] = []

    def bar(self, t: int) -> Bar:
        o, c = self.o[t], self.c[t]
        return Bar(DAY0 + pd.Timedelta(days=t), o, self.h[t], self.lo[t], c, np.ones_like(c))

    def step(self, t: int, target: list | np.ndarray) -> float:
        at = t if self.path.fill_at_close else t + 1
        times = [self.bar(k).time for k in range(at, min(at + self.path.slices, len(self.o)))]
        step = self.path.step(np.asarray(target, dtype=float), self.bar(t), self.bar(t + 1), times, t + 1)
        self.fills += [(at, t, f) for f in step.fills]
        if step.event:
            self.events.append(step.event)
        return step.mark.equity

    @property
    def qty(self) -> np.ndarray:
        return self.path.portfolio.qty

    @property
    def cash(self) -> float:
        return self.path.portfolio.cash

    @property
    def equity(self) -> float:
        return self.path.portfolio.equity


def test_decision_at_close_fills_at_next_open_and_marks_at_next_close() -> None:
    s = Steps([10, 9, 12], [10, 12, 13])
    equity = s.step(0, [1.0])
    # sized at t=0's close: 1.0 * 1000 / 10 = 100 shares, bought at t=1's open 9 -> cash 100
    assert s.qty[0] == pytest.approx(100.0)
    assert s.cash == pytest.approx(100.0)
    fill_bar, decision_bar, fill = s.fills[0]
    assert (fill_bar, decision_bar, fill.price, fill.side) == (1, 0, 9.0, "buy")
    assert fill.decision_time == DAY0 and fill.fill_time == DAY0 + pd.Timedelta(days=1)
    assert equity == pytest.approx(100 + 100 * 12)  # marked at t=1's close


def test_buys_are_clipped_so_cash_stays_non_negative() -> None:
    s = Steps([10, 11, 12], [10, 12, 13])
    s.step(0, [1.0])
    # wanted 100 shares at 11 = 1100 > 1000 cash: scaled to 1000/11 = 90.909... shares
    assert s.qty[0] == pytest.approx(1000 / 11, rel=1e-9)
    assert s.cash >= 0.0 and s.cash == pytest.approx(0.0, abs=1e-6)
    assert s.equity == pytest.approx(1000 / 11 * 12, rel=1e-9)


def test_whole_shares_round_towards_zero() -> None:
    s = Steps([10, 9, 9], [10, 9, 9], fractional_shares=False)
    s.step(0, [0.55])  # 0.55 * 1000 / 10 = 55 shares at 9
    assert s.qty[0] == 55.0
    assert s.cash == pytest.approx(1000 - 55 * 9)
    s2 = Steps([10, 12, 12], [10, 12, 12], fractional_shares=False)
    s2.step(0, [1.0])  # 100 wanted at 12 = 1200 > 1000: 83 whole shares fit
    assert s2.qty[0] == 83.0
    assert s2.cash == pytest.approx(1000 - 83 * 12)


def test_fees_and_slippage() -> None:
    costs = CostModel(commission=0.001, slippage=0.01)  # 10 bps commission, 100 bps slippage
    s = Steps([10, 10, 10, 10], [10, 10, 10, 10], costs=costs)
    s.step(0, [0.5])  # 50 shares at 10 * 1.01 = 10.1 -> 505 notional, fee 0.505
    ((_, _, buy),) = s.fills
    assert buy.price == pytest.approx(10.1)
    assert buy.fee == pytest.approx(0.505)
    assert buy.slippage_cost == pytest.approx(50 * 0.1)
    assert s.cash == pytest.approx(1000 - 505 - 0.505)
    s.step(1, [0.0])  # sell 50 at 10 * 0.99 = 9.9 -> 495, fee 0.495
    sell = s.fills[1][2]
    assert (sell.side, sell.quantity) == ("sell", pytest.approx(50)) and sell.price == pytest.approx(9.9)
    assert s.cash == pytest.approx(1000 - 505 - 0.505 + 495 - 0.495)
    assert s.equity == pytest.approx(989.0)  # 1000 - 2 * 5 slippage - 1.0 fees


def test_per_share_and_minimum_fee() -> None:
    costs = CostModel(commission=0.0, slippage=0.0, per_share=0.01, min_fee=1.0)
    s = Steps([10, 10, 10], [10, 10, 10], costs=costs)
    s.step(0, [0.05])  # 5 shares: 0.05 per-share fee < 1.0 minimum
    assert s.fills[0][2].fee == pytest.approx(1.0)
    assert s.cash == pytest.approx(1000 - 50 - 1.0)


def test_a_sold_asset_gets_no_phantom_buy() -> None:
    """Selling 787.311... shares down to 188.458... leaves ``target - (old + (target - old))``
    = 5.7e-14 in float arithmetic; the old fill kernel turned that into a buy (and with a minimum fee
    charged the fee for it). One order, one fill."""
    old, target = 787.3112091811947, 188.4582456038102
    assert target - (old + (target - old)) > 0  # the float noise is there
    costs = CostModel(commission=0.0, slippage=0.0, min_fee=1.0)
    s = Steps([10, 10, 10, 10], [10, 10, 10, 10], costs=costs, cash=old * 10 + 1.0)
    s.step(0, [old * 10 / s.equity])
    assert s.qty[0] == pytest.approx(old)
    s.step(1, [target * 10 / s.equity])
    assert [(f.side, f.fee) for _, _, f in s.fills] == [("buy", 1.0), ("sell", 1.0)]


def test_fill_at_close_is_the_optimistic_option() -> None:
    s = Steps([10, 20, 20], [10, 20, 20], fill_at_close=True)
    s.step(0, [1.0])  # buys 100 at t=0's close 10, not at t=1's open 20
    assert s.qty[0] == pytest.approx(100.0)
    assert s.fills[0][0] == 0 and s.fills[0][2].fill_time == DAY0
    assert s.equity == pytest.approx(2000.0)


def test_leverage_cap_and_borrowing() -> None:
    s = Steps([10, 10, 10], [10, 10, 10], limits=RiskLimits(max_gross_leverage=2.0, max_position_weight=3.0))
    s.step(0, [3.0])  # capped to 2x: 200 shares, cash -1000 (allowed by the floor)
    assert s.qty[0] == pytest.approx(200.0)
    assert s.cash == pytest.approx(-1000.0)
    s1 = Steps([10, 10, 10], [10, 10, 10])
    s1.step(0, [3.0])  # no borrowing at 1x
    assert s1.qty[0] == pytest.approx(100.0) and s1.cash == pytest.approx(0.0)


def test_limit_weights_rules() -> None:
    lim = RiskLimits(max_gross_leverage=1.0, max_position_weight=0.4, max_turnover=0.5)
    cur = np.array([0.0, 0.0, 0.0])
    w = limit_weights(np.array([0.9, 0.3, -0.2]), cur, lim)
    # no shorts -> [0.9, 0.3, 0]; position cap -> [0.4, 0.3, 0]; gross 0.7 ok; turnover 0.7 > 0.5
    np.testing.assert_allclose(w, np.array([0.4, 0.3, 0.0]) * 0.5 / 0.7)
    short = RiskLimits(max_gross_leverage=1.0, max_position_weight=1.0, allow_short=True)
    np.testing.assert_allclose(limit_weights(np.array([0.8, -0.8]), np.zeros(2), short), [0.5, -0.5])


def test_turnover_cap_and_what_risk_clipped() -> None:
    s = Steps([10] * 4, [10] * 4, limits=RiskLimits(max_turnover=0.25))
    s.step(0, [1.0])
    assert s.qty[0] == pytest.approx(25.0)  # only a quarter of the way
    plan = s.path.last_plan
    assert plan is not None and plan.target[0] == 1.0 and plan.weights[0] == pytest.approx(0.25)
    s.step(1, [1.0])
    assert s.qty[0] == pytest.approx(50.0)


def test_shorting_on_and_off() -> None:
    off = Steps([10, 10, 8], [10, 10, 8])
    off.step(0, [-1.0])
    assert off.qty[0] == 0.0 and off.cash == 1000.0
    on = Steps([10, 10, 8], [10, 10, 8], limits=RiskLimits(allow_short=True))
    on.step(0, [-1.0])  # short 100 at 10: cash 2000
    assert on.qty[0] == pytest.approx(-100.0) and on.cash == pytest.approx(2000.0)
    equity = on.step(1, [-1.0])
    # target at t=1's close: -1.0 * 1000 / 10 = -100, unchanged: no trade; the fall to 8 gains 200
    assert on.qty[0] == pytest.approx(-100.0)
    assert equity == pytest.approx(1200.0)


def test_drawdown_kill_flattens_at_the_next_open_and_halts() -> None:
    s = Steps([10, 10, 7, 7, 7, 9], [10, 10, 7, 7, 7, 9], limits=RiskLimits(max_drawdown=0.2))
    s.step(0, [1.0])  # 100 shares at 10
    equity = s.step(1, [1.0])  # close 7: equity 700, drawdown -30% -> halted
    assert (
        s.path.risk.status == "halted" and s.path.risk.cause == "drawdown" and equity == pytest.approx(700.0)
    )
    assert "max_drawdown" in s.events[0]
    s.step(2, [1.0])  # flattened at t=3's open (7), by a kill order
    assert s.qty[0] == 0.0 and s.cash == pytest.approx(700.0)
    assert s.fills[-1][2].client_order_id.endswith("-k0")
    s.step(3, [1.0])  # stays flat although the policy wants in
    assert s.qty[0] == 0.0 and len(s.fills) == 2
    s.path.resume()  # only a person lifts a drawdown halt; the kill switch re-arms from 700
    s.step(4, [1.0])  # 700 / 7 = 100 shares wanted at t=5's open 9: 700 / 9 fit
    assert s.qty[0] == pytest.approx(700 / 9) and s.path.risk.status == "active"


def test_daily_loss_limit_halts_until_the_next_session() -> None:
    """From the previous session's closing equity: 1000 -> 900 is a 10% day; limit 5%."""
    s = Steps([10, 10, 9, 9, 9, 9], [10, 10, 9, 9, 9, 9], limits=RiskLimits(daily_loss_limit=0.05))
    s.step(0, [1.0])  # 100 shares at 10; equity 1000 at t=1's close
    s.step(1, [1.0])  # t=2's close 9: 900 = -10% on the day -> halted
    assert s.path.risk.status == "halted" and s.path.risk.cause == "daily_loss"
    s.step(2, [1.0])  # flattened at t=3's open; t=3 is a new session: the halt lifts at its close
    assert s.qty[0] == 0.0 and s.path.risk.status == "active"
    s.step(3, [1.0])  # back in
    assert s.qty[0] == pytest.approx(100.0)


def test_paused_entries_only_reduce() -> None:
    s = Steps([[10, 10]] * 5, [[10, 10]] * 5)
    s.step(0, [0.5, 0.0])  # A 50 shares
    s.path.risk.pause()
    s.step(1, [0.8, 0.2])  # A may not grow, B may not open
    assert list(s.qty) == [50.0, 0.0]
    s.step(2, [0.2, 0.2])  # A may shrink to 20
    assert list(s.qty) == pytest.approx([20.0, 0.0])


def test_rebalance_threshold_skips_small_changes() -> None:
    s = Steps([10] * 4, [10] * 4, rebalance_threshold=0.1)
    s.step(0, [0.5])
    n = len(s.fills)
    s.step(1, [0.55])  # |0.55 - 0.5| < 0.1: no trade
    assert len(s.fills) == n
    s.step(2, [0.7])
    assert s.qty[0] == pytest.approx(70.0)


def fill(symbol: str, side: str, quantity: float, price: float, fee: float = 0.0) -> Fill:
    return Fill("x", symbol, side, quantity, price, fee, 0.0, DAY0, DAY0, price)  # type: ignore[arg-type]


def test_the_portfolio_applies_fills_one_at_a_time_with_average_cost() -> None:
    p = Portfolio(["A"], 10_000.0)
    p.apply(fill("A", "buy", 10, 100.0))
    p.apply(fill("A", "buy", 5, 110.0))  # a partial fill of the same order is just another fill
    p.apply(fill("A", "buy", 5, 110.0, fee=1.0))
    assert p.avg_cost[0] == pytest.approx(105.0)
    assert p.cash == pytest.approx(10_000 - 1000 - 1100 - 1.0)
    p.apply(fill("A", "sell", 15, 120.0))  # reducing keeps the average
    assert p.avg_cost[0] == pytest.approx(105.0) and p.qty[0] == pytest.approx(5.0)
    p.apply(fill("A", "sell", 10, 90.0))  # crossing zero starts at the fill price
    assert p.qty[0] == pytest.approx(-5.0) and p.avg_cost[0] == pytest.approx(90.0)
    mark = p.mark(np.array([80.0]))
    assert mark.equity == pytest.approx(p.cash - 400.0) and mark.net == pytest.approx(-400.0 / mark.equity)
    assert Portfolio.restore(p.snapshot()).snapshot() == p.snapshot()
    with pytest.raises(ValueError, match="not one of"):
        p.apply(fill("B", "buy", 1, 1.0))


def test_multi_asset_sells_fund_buys() -> None:
    s = Steps([[10, 20], [10, 20], [10, 20]], [[10, 20], [10, 20], [10, 20]])
    s.step(0, [1.0, 0.0])
    s.step(1, [0.0, 1.0])  # sell 100 A first, then buy 50 B with the proceeds
    assert s.qty == pytest.approx([0.0, 50.0])
    assert s.cash == pytest.approx(0.0, abs=1e-6)
    assert [f.side for _, _, f in s.fills[1:]] == ["sell", "buy"]


def test_nan_target_holds_the_position() -> None:
    s = Steps([[10, 10]] * 4, [[10, 10], [10, 10], [20, 10], [20, 10]])
    s.step(0, [0.5, 0.5])
    n = len(s.fills)
    s.step(1, [np.nan, 0.2])  # keep A's 50 shares, cut B to 0.2 * 1000 / 10 = 20
    assert s.qty == pytest.approx([50.0, 20.0])
    assert len(s.fills) == n + 1
    s.step(2, [np.nan, np.nan])  # A doubled: weights drift, nothing trades
    assert len(s.fills) == n + 1


def test_minimum_fee_does_not_cancel_an_affordable_buy() -> None:
    costs = CostModel(commission=0.0, slippage=0.0, min_fee=5.0)
    s = Steps([1, 1, 1], [1, 1, 1], costs=costs, cash=100.0)
    s.step(0, [1.0])  # 100 + 5 > 100: 95 shares + 5 fee fit exactly
    assert s.qty[0] == pytest.approx(95.0, rel=1e-9)
    assert s.cash == pytest.approx(0.0, abs=1e-6) and s.cash >= 0.0


def test_held_assets_do_not_use_the_budgets() -> None:
    # A is held at 0.9 (above the 0.5 cap, which is not enforced on a held position); B may use
    # what is left of the gross budget (0.1) within the turnover cap (0.5)
    lim = RiskLimits(max_gross_leverage=1.0, max_position_weight=0.5, max_turnover=0.5)
    w = limit_weights(np.array([np.nan, 0.5]), np.array([0.9, 0.0]), lim)
    np.testing.assert_allclose(w, [0.9, 0.1])


def test_bad_targets_and_orders_are_refused() -> None:
    s = Steps([[10, 10]] * 3, [[10, 10]] * 3)
    with pytest.raises(ValueError, match="one weight per asset"):
        s.step(0, [0.5])
    with pytest.raises(ValueError, match="quantity must be > 0"):
        Order("id", "A", "buy", 0.0, DAY0, 10.0)
    with pytest.raises(ValueError, match="quantity must be > 0"):
        Order("id", "A", "buy", float("nan"), DAY0, 10.0)
    with pytest.raises(ValueError, match="limit price"):
        Order("id", "A", "buy", 1.0, DAY0, 10.0, order_type="limit")


def test_limit_buys_fill_at_the_open_at_the_limit_or_not_at_all() -> None:
    """Decided at close 10 with a 100 bps offset: buy limit 9.9 (slippage 1% would apply to a
    market order, never to a limit fill)."""
    costs = CostModel(commission=0.0, slippage=0.01)
    kw = {"costs": costs, "order_type": "limit", "limit_offset_bps": 100}
    opens_below = Steps([10, 9.8, 9.8], [10, 10, 10], low=[10, 9.7, 9.7], **kw)
    opens_below.step(0, [0.5])  # 50 shares wanted; the open 9.8 <= 9.9: filled at the open
    ((_, _, f),) = opens_below.fills
    assert f.price == 9.8 and f.slippage_cost == 0.0 and f.quantity == pytest.approx(50.0)
    assert opens_below.path.expired == []
    touched = Steps([10, 10.2, 10], [10, 10, 10], low=[10, 9.85, 10], **kw)
    touched.step(0, [0.5])  # opens above, the low 9.85 reaches 9.9: filled at the limit
    assert touched.fills[0][2].price == pytest.approx(9.9)
    missed = Steps([10, 10.2, 10], [10, 10, 10], low=[10, 9.95, 10], **kw)
    missed.step(0, [0.5])  # never at 9.9: expires unfilled at the end of the bar
    assert missed.fills == [] and missed.qty[0] == 0.0
    assert [o.limit_price for o in missed.path.expired] == [pytest.approx(9.9)] and missed.path.pending == []


def test_limit_sells_mirror_and_buys_are_clipped_to_cash_at_the_open() -> None:
    kw = {"order_type": "limit", "limit_offset_bps": 100}
    s = Steps([10, 10, 10.05, 10], [10, 10, 10, 10], high=[10, 10, 10.2, 10], **kw)
    s.step(0, [1.0])  # buy limit 9.9, open 10 > 9.9 and low 10: no fill
    assert s.fills == []
    s2 = Steps([10, 9, 10.05, 10], [10, 10, 10, 10], high=[10, 9, 10.2, 10], **kw)
    s2.step(0, [1.0])  # 100 shares wanted at the open 9 <= 9.9: 100 * 9 = 900 fits
    assert s2.qty[0] == pytest.approx(100.0)
    s2.step(1, [0.0])  # sell limit 10 * 1.01 = 10.1: opens 10.05 < 10.1, the high 10.2 reaches it
    assert s2.fills[-1][2].side == "sell" and s2.fills[-1][2].price == pytest.approx(10.1)
    s3 = Steps([10, 9.5], [10, 10], **{**kw, "limit_offset_bps": -500})  # crosses: limit 10.5
    s3.step(0, [1.0])  # 100 shares at the open 9.5 = 950 <= 1000; sized at 10 -> 100 wanted
    assert s3.qty[0] == pytest.approx(100.0)
    s4 = Steps([10, 10.4], [10, 10], **{**kw, "limit_offset_bps": -500})
    s4.step(0, [1.0])  # fills at the open 10.4 <= 10.5: 100 * 10.4 > 1000, clipped to the cash
    assert s4.qty[0] == pytest.approx(1000 / 10.4) and s4.cash == pytest.approx(0.0, abs=1e-6)


def test_twap_children_fill_on_the_next_bars_and_sum_to_the_parent() -> None:
    s = Steps([10] * 6, [10] * 6, twap_slices=3)
    s.step(0, [1.0])  # 100 shares in 3 children: bars 1, 2, 3
    assert [o.slice for o in s.path.pending] == [1, 2]
    s.step(1, [np.nan])  # a hold lets the children go on
    s.step(2, [np.nan])
    children = [f for _, _, f in s.fills]
    assert [f.fill_time for f in children] == [DAY0 + pd.Timedelta(days=k) for k in (1, 2, 3)]
    assert sum(f.quantity for f in children) == 100.0 and s.qty[0] == 100.0
    assert [f.client_order_id[-2:] for f in children] == ["d0", "d1", "d2"]


def test_whole_share_twap_puts_the_remainder_last_and_a_new_decision_cancels() -> None:
    s = Steps([10] * 6, [10] * 6, twap_slices=3, fractional_shares=False)
    s.step(0, [1.0])  # 100 shares: 33, 33, 34
    assert [o.quantity for o in [*s.path.pending]] == [33.0, 34.0]
    s.step(1, [0.5])  # a new decision for A: the pending 33 and 34 are cancelled
    assert [o.quantity for o in s.path.cancelled] == [33.0, 34.0]
    # the first child (33 at bar 1) filled; the new plan sizes from it: 50 - 33 = 17 -> 5, 5, 7
    assert [o.quantity for o in s.path.pending] == [5.0, 7.0]
    assert s.qty[0] == 33.0 + 5.0


def test_a_halt_exits_at_once_and_small_orders_are_not_sent() -> None:
    s = Steps([10, 10, 5, 5, 5], [10, 10, 5, 5, 5], twap_slices=3, limits=RiskLimits(max_drawdown=0.1))
    s.step(0, [1.0])
    s.step(1, [np.nan])  # the second child at the open 5, then the close at 5: -16.7% breaches 10%
    assert s.path.risk.status == "halted"
    s.step(2, [1.0])  # the kill: one market order for everything, the last child cancelled
    assert s.qty[0] == 0.0 and s.fills[-1][2].client_order_id.endswith("-k0")
    assert s.path.pending == [] and s.path.cancelled[-1].slice == 2
    tiny = Steps([10, 10, 10], [10, 10, 10], min_order_notional=50.0)
    tiny.step(0, [0.04])  # 40 worth: not sent
    assert tiny.fills == [] and tiny.path.pending == []
    tiny.step(1, [0.06])  # 60 worth: sent
    assert tiny.qty[0] == pytest.approx(6.0)


def test_twap_slices_sum_exactly() -> None:
    from stockbot.execution.orders import slice_quantity

    rng = np.random.default_rng(1)
    for _ in range(2000):
        q, n = float(rng.uniform(0.001, 1e5)), int(rng.integers(1, 12))
        parts = slice_quantity(q, n, True)
        assert len(parts) == n and all(p > 0 for p in parts)
        acc = 0.0
        for p in parts:
            acc += p
        assert acc == q
    assert slice_quantity(100.0, 3, False) == [33.0, 33.0, 34.0]
    assert slice_quantity(2.0, 3, False) == [1.0, 1.0]


def test_client_order_ids_are_deterministic_unique_and_short() -> None:
    from stockbot.execution import client_order_id

    t = pd.Timestamp("2017-11-24", tz="UTC")
    a = client_order_id("session-1", t, "AAPL", "decision", 0)
    assert a == client_order_id("session-1", t, "AAPL", "decision", 0)
    others = {
        client_order_id("session-2", t, "AAPL", "decision", 0),
        client_order_id("session-1", t + pd.Timedelta(days=1), "AAPL", "decision", 0),
        client_order_id("session-1", t, "MSFT", "decision", 0),
        client_order_id("session-1", t, "AAPL", "kill", 0),
        client_order_id("session-1", t, "AAPL", "decision", 1),
    }
    assert a not in others and len(others) == 5
    assert len(client_order_id("s", t, "A-VERY-LONG-SYMBOL-NAME.XNYS", "flatten", 99)) <= 48
