"""Per-trade realised P&L (worked by hand) and monthly returns (against a reference computed here)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stockbot.backtest.analysis import MONTHS, YEAR, monthly_returns, trade_pnl


def fills(rows: list[tuple[str, str, str, float, float, float]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["timestamp", "symbol", "side", "qty", "price", "fee"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    frame["notional"] = frame["qty"] * frame["price"]
    return frame


def test_realised_pnl_against_average_cost_net_of_fees() -> None:
    trades = fills(
        [
            ("2017-04-03", "AAPL", "buy", 10, 100.0, 1.0),  # cost (1000 + 1) / 10 = 100.1
            ("2017-04-04", "AAPL", "buy", 10, 110.0, 1.0),  # (1001 + 1100 + 1) / 20 = 105.1
            ("2017-04-05", "AAPL", "sell", 5, 120.0, 0.5),  # 5 * (120 - 105.1) - 0.5 = 74.0
            ("2017-04-05", "MSFT", "buy", 4, 50.0, 0.2),  # (200 + 0.2) / 4 = 50.05
            ("2017-04-06", "AAPL", "sell", 15, 100.0, 1.5),  # 15 * (100 - 105.1) - 1.5 = -78.0
            ("2017-04-07", "MSFT", "sell", 4, 55.0, 0.2),  # 4 * (55 - 50.05) - 0.2 = 19.6
        ]
    )
    out = trade_pnl(trades)
    assert list(out["position_after"]) == [10, 20, 15, 4, 0, 0]
    np.testing.assert_allclose(
        out["avg_cost"], [100.1, 105.1, 105.1, 50.05, np.nan, np.nan], rtol=1e-12, equal_nan=True
    )
    np.testing.assert_allclose(
        out["realized_pnl"], [np.nan, np.nan, 74.0, np.nan, -78.0, 19.6], rtol=1e-12, equal_nan=True
    )
    np.testing.assert_allclose(out["cum_realized_pnl"], [0, 0, 74.0, 74.0, -4.0, 15.6], rtol=1e-12)
    # a closed position's realised P&L is all its cash flows: AAPL 2098 in, 2102 out
    assert out.loc[out["symbol"] == "AAPL", "realized_pnl"].sum() == pytest.approx(2098 - 2102)
    pd.testing.assert_frame_equal(out[trades.columns], trades)  # the fills themselves are kept


def test_a_fill_through_zero_closes_then_opens_with_its_fee_split() -> None:
    trades = fills(
        [
            ("2017-04-03", "XOM", "sell", 10, 50.0, 1.0),  # short 10, net proceeds (500 - 1) / 10 = 49.9
            ("2017-04-04", "XOM", "buy", 15, 40.0, 1.5),  # closes 10: 10 * (49.9 - 40) - 1.0 = 98.0
            # ... and opens 5 long with the other 0.5 of the fee: (200 + 0.5) / 5 = 40.1
        ]
    )
    out = trade_pnl(trades)
    assert list(out["position_after"]) == [-10, 5]
    np.testing.assert_allclose(out["avg_cost"], [49.9, 40.1], rtol=1e-12)
    np.testing.assert_allclose(out["realized_pnl"], [np.nan, 98.0], rtol=1e-12, equal_nan=True)


def test_fills_are_taken_in_time_order_and_fractional_residue_is_flat() -> None:
    trades = fills(
        [
            ("2017-04-05", "KO", "sell", 0.1 + 0.2, 42.0, 0.0),
            ("2017-04-03", "KO", "buy", 0.1, 40.0, 0.0),
            ("2017-04-04", "KO", "buy", 0.2, 41.0, 0.0),
        ]
    )
    out = trade_pnl(trades)
    assert list(out.index) == [1, 2, 0]
    assert out["position_after"].iloc[-1] == 0 and np.isnan(out["avg_cost"].iloc[-1])
    cost = (0.1 * 40 + 0.2 * 41) / 0.3
    assert out["realized_pnl"].iloc[-1] == pytest.approx(0.3 * (42 - cost))


def test_no_trades() -> None:
    out = trade_pnl(fills([]))
    assert out.empty and {"realized_pnl", "avg_cost"} <= set(out.columns)


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("side", "hold", "row 1: side must be 'buy' or 'sell'"),
        ("qty", 0.0, "row 1: qty must be finite and > 0"),
        ("price", np.nan, "row 1: price must be finite and > 0"),
        ("fee", -1.0, "row 1: fee must be finite and >= 0"),
    ],
)
def test_bad_trades_name_the_row_and_rule(column: str, value: object, message: str) -> None:
    trades = fills([("2017-04-03", "KO", "buy", 1, 40.0, 0.0), ("2017-04-04", "KO", "sell", 1, 41.0, 0.0)])
    trades[column] = trades[column].astype(object)
    trades.loc[1, column] = value
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        trade_pnl(trades)
    with pytest.raises(ValueError, match=r"missing columns \['fee'\]"):
        trade_pnl(trades.drop(columns=["fee"]))


def reference_monthly(equity: pd.Series) -> dict[tuple[int, int], float]:
    """Month by month with explicit masks: last value of the month over the last value before it."""
    out = {}
    stamps = equity.index
    for year in sorted(set(stamps.year)):
        for month in range(1, 13):
            inside = (stamps.year == year) & (stamps.month == month)
            if not inside.any():
                continue
            first = int(np.flatnonzero(inside)[0])
            before = equity.iloc[first - 1] if first > 0 else equity.iloc[0]
            out[(year, month)] = equity[inside].iloc[-1] / before - 1
    return out


def test_monthly_returns_against_a_reference() -> None:
    rng = np.random.default_rng(3)
    stamps = pd.bdate_range("2016-11-15", "2018-02-09", tz="UTC")
    stamps = stamps[(stamps.month != 6) | (stamps.year != 2017)]  # a month without bars
    equity = pd.Series(100_000 * np.cumprod(1 + rng.normal(0.0004, 0.01, len(stamps))), index=stamps)
    table = monthly_returns(equity)
    assert list(table.columns) == [*MONTHS, YEAR]
    assert list(table.index) == [2016, 2017, 2018]
    expected = reference_monthly(equity)
    for (year, month), r in expected.items():
        assert table.loc[year, MONTHS[month - 1]] == pytest.approx(r, rel=1e-12)
    cells = table[list(MONTHS)]
    assert int(cells.notna().sum().sum()) == len(expected)
    assert np.isnan(table.loc[2017, "Jun"]) and np.isnan(table.loc[2016, "Jan"])
    for year in (2016, 2017, 2018):
        inside = equity[equity.index.year == year]
        first = equity.index.get_loc(inside.index[0])
        base = equity.iloc[first - 1] if first > 0 else equity.iloc[0]
        assert table.loc[year, YEAR] == pytest.approx(inside.iloc[-1] / base - 1, rel=1e-12)
        months = [expected[k] for k in expected if k[0] == year]
        assert table.loc[year, YEAR] == pytest.approx(np.prod(np.add(months, 1)) - 1, rel=1e-10)


def test_monthly_returns_refuse_bad_equity() -> None:
    stamps = pd.date_range("2017-01-02", periods=3, freq="D", tz="UTC")
    with pytest.raises(ValueError, match=r"equity row 1 .*must be finite and > 0"):
        monthly_returns(pd.Series([1.0, 0.0, 2.0], index=stamps))
    with pytest.raises(ValueError, match="increasing"):
        monthly_returns(pd.Series([1.0, 2.0, 3.0], index=stamps[::-1]))
    with pytest.raises(ValueError, match="empty"):
        monthly_returns(pd.Series([], dtype=float))
