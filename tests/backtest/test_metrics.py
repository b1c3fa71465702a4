"""Backtest metrics: against empyrical-reloaded on real and random curves, hand-computed cases, FIFO
round trips and None for every undefined value.

Reference values are computed here, from the equity curve, with empyrical or with numpy.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from stockbot.backtest.metrics import (
    METRIC_KEYS,
    Conventions,
    compute_metrics,
    max_drawdown_duration,
    round_trips,
)
from tests.conftest import need

try:  # empyrical-reloaded==0.7.1: a dev dependency (constraints.txt); its absence fails in CI
    import empyrical
except ImportError:  # pragma: no cover
    empyrical = None

pytestmark = pytest.mark.timeout(60)

REL = 1e-9
TRADE_COLS = [
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


def _bars(n: int, start: str = "2020-01-02") -> pd.DatetimeIndex:
    return pd.date_range(start, periods=n, freq="B", tz="UTC")


def _no_trades() -> pd.DataFrame:
    return pd.DataFrame(columns=TRADE_COLS)


def _trades(rows: list[tuple]) -> pd.DataFrame:
    """rows: (timestamp, symbol, side, qty, price, fee); notional = qty * price, no slippage."""
    df = pd.DataFrame(rows, columns=["timestamp", "symbol", "side", "qty", "price", "fee"])
    df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True)
    df["decision_timestamp"] = df["timestamp"] - pd.Timedelta(days=1)
    df["notional"] = df["qty"] * df["price"]
    df["slippage_cost"] = 0.0
    return df[TRADE_COLS]


def _aapl_buy_and_hold(sample_csv: Path) -> pd.Series:
    raw = pd.read_csv(sample_csv)
    aapl = raw[raw["tic"] == "AAPL"].sort_values("date")
    px = aapl["adj_close"].to_numpy(dtype=float)
    return pd.Series(100_000.0 * px / px[0], index=pd.to_datetime(aapl["date"], utc=True), name="equity")


def _random_walk() -> pd.Series:
    rng = np.random.default_rng(20240611)
    r = rng.normal(0.0004, 0.012, size=1500)
    values = 100_000.0 * np.concatenate([[1.0], np.cumprod(1.0 + r)])
    return pd.Series(values, index=_bars(len(values)), name="equity")


@pytest.fixture
def emp() -> ModuleType:
    """The empyrical module (skipped without it, a failure in CI)."""
    need(empyrical is not None, "empyrical-reloaded")
    return empyrical


@pytest.fixture(params=["aapl", "random_walk"])
def curve(request: pytest.FixtureRequest, sample_csv: Path) -> pd.Series:
    return _aapl_buy_and_hold(sample_csv) if request.param == "aapl" else _random_walk()


# ---------------------------------------------------------------------------------------------------
# against empyrical
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("periods_per_year", [252, 12])
@pytest.mark.parametrize("rf", [0.0, 0.02])
def test_matches_empyrical(curve: pd.Series, rf: float, periods_per_year: int, emp: ModuleType) -> None:
    p = periods_per_year
    conv = Conventions(periods_per_year=p, rf=rf)
    gross = pd.Series(1.0, index=curve.index)
    m = compute_metrics(curve, _no_trades(), gross, conv)

    # the returns empyrical takes; our rf is annual, empyrical's risk_free/required_return is per
    # period (subtracted arithmetically), so it gets rf de-annualised geometrically
    returns = curve.pct_change().iloc[1:]
    rf_p = (1.0 + rf) ** (1.0 / p) - 1.0
    assert len(returns) == len(curve) - 1
    assert returns.std() > 0 and (returns < rf_p).any()  # every ratio below is defined

    # same definitions as ours (empyrical uses ddof=1 like our default):
    assert m["sharpe"] == pytest.approx(emp.sharpe_ratio(returns, risk_free=rf_p, annualization=p), rel=REL)
    # empyrical's downside risk is sqrt(mean(min(r - required_return, 0)^2)) * sqrt(P), the mean over
    # *all* returns (not the std of the negative ones): ours too
    assert m["sortino"] == pytest.approx(
        emp.sortino_ratio(returns, required_return=rf_p, annualization=p), rel=REL
    )
    # annual volatility is of the raw returns (rf does not enter)
    assert m["ann_vol"] == pytest.approx(emp.annual_volatility(returns, annualization=p), rel=REL)
    # empyrical anchors the running peak at the start value before the first return: that is E_0
    assert m["max_drawdown"] == pytest.approx(emp.max_drawdown(returns), rel=REL)
    # empyrical's annual_return/cagr use len(returns) / P years, i.e. our n (returns, not bars)
    assert m["cagr"] == pytest.approx(emp.cagr(returns, annualization=p), rel=REL)
    assert m["cagr"] == pytest.approx(emp.annual_return(returns, annualization=p), rel=REL)
    # calmar: annual_return / |max_drawdown|; independent of rf
    assert m["calmar"] == pytest.approx(emp.calmar_ratio(returns, annualization=p), rel=REL)
    assert m["total_return"] == pytest.approx(emp.cum_returns_final(returns), rel=REL)

    # rf matters, and it is de-annualised geometrically, not rf / P: the arithmetic per-period rate
    # gives a Sharpe ratio farther than the tolerance
    if rf > 0:
        arithmetic = emp.sharpe_ratio(returns, risk_free=rf / p, annualization=p)
        assert m["sharpe"] != pytest.approx(arithmetic, rel=REL)
        m0 = compute_metrics(curve, _no_trades(), gross, Conventions(periods_per_year=p, rf=0.0))
        assert m["sharpe"] < m0["sharpe"] and m["sortino"] < m0["sortino"]

    # and the straightforward numpy versions of the formulas
    r = curve.to_numpy()[1:] / curve.to_numpy()[:-1] - 1.0
    x = r - rf_p
    assert m["sharpe"] == pytest.approx(x.mean() / x.std(ddof=1) * math.sqrt(p), rel=REL)
    downside = math.sqrt(np.mean(np.minimum(x, 0.0) ** 2))
    assert m["sortino"] == pytest.approx(x.mean() * p / (downside * math.sqrt(p)), rel=REL)
    e = curve.to_numpy()
    assert m["cagr"] == pytest.approx((e[-1] / e[0]) ** (p / len(r)) - 1.0, rel=REL)
    assert m["max_drawdown"] == pytest.approx((e / np.maximum.accumulate(e) - 1.0).min(), rel=REL)
    assert m["exposure"] == 1.0


def test_ddof_convention(curve: pd.Series) -> None:
    """ddof=0 is the population std (empyrical has ddof=1 fixed): numpy gives the reference."""
    m = compute_metrics(curve, _no_trades(), None, Conventions(ddof=0))
    r = curve.pct_change().iloc[1:].to_numpy()
    assert m["ann_vol"] == pytest.approx(r.std(ddof=0) * math.sqrt(252), rel=REL)
    assert m["sharpe"] == pytest.approx(r.mean() / r.std(ddof=0) * math.sqrt(252), rel=REL)
    assert m["exposure"] is None  # no exposure information given


# ---------------------------------------------------------------------------------------------------
# hand-computed cases
# ---------------------------------------------------------------------------------------------------


def test_hand_computed_equity_metrics() -> None:
    #            peak  peak  -25%  -10%  =peak  peak   -10%   -20%   -5% (end, not recovered)
    values = [100.0, 120.0, 90.0, 108.0, 120.0, 132.0, 118.8, 105.6, 125.4]
    equity = pd.Series(values, index=_bars(len(values)))
    m = compute_metrics(equity, _no_trades(), pd.Series(0.0, index=equity.index))
    assert m["total_return"] == pytest.approx(0.254, rel=1e-12)  # 125.4 / 100 - 1
    # deepest: 90 against the peak 120
    assert m["max_drawdown"] == pytest.approx(-0.25, rel=1e-12)
    # runs below a peak: bars 2-3 (bar 4 is back at exactly 120: recovered) = 2 bars; bars 6-8 below
    # 132 until the end = 3 bars. The longest is not the deepest.
    assert m["max_drawdown_duration_bars"] == 3
    # cagr over n = 8 returns, P = 252; calmar = cagr / 0.25
    cagr = 1.254 ** (252 / 8) - 1.0
    assert m["cagr"] == pytest.approx(cagr, rel=1e-9)
    assert m["calmar"] == pytest.approx(cagr / 0.25, rel=1e-9)
    assert m["exposure"] == 0.0
    assert m["turnover"] == 0.0 and m["n_trades"] == 0 and m["fees_paid"] == 0.0


@pytest.mark.parametrize(
    ("values", "max_dd", "duration"),
    [
        ([100.0, 90.0, 100.0, 95.0, 100.0], -0.1, 1),  # each dip lasts 1 bar; equal to the peak = recovered
        ([100.0, 101.0, 102.0], 0.0, 0),  # never below a peak
        ([100.0, 90.0, 80.0], -0.2, 2),  # never recovers: counts until the end
        ([100.0, 100.0, 100.0], 0.0, 0),  # flat is not below the peak
        ([100.0, 50.0, 60.0, 70.0, 99.0, 101.0, 100.0], -0.5, 4),  # peak bar 0, back above at bar 5
        ([100.0], 0.0, 0),
    ],
)
def test_drawdown_and_duration(values: list[float], max_dd: float, duration: int) -> None:
    equity = pd.Series(values, index=_bars(len(values)))
    m = compute_metrics(equity, _no_trades())
    assert m["max_drawdown"] == pytest.approx(max_dd, abs=1e-12)
    assert m["max_drawdown_duration_bars"] == duration
    assert max_drawdown_duration(equity) == duration


def test_exposure_turnover_fees_n_trades() -> None:
    equity = pd.Series([1000.0, 1100.0, 1000.0, 900.0, 1000.0], index=_bars(5))  # mean 1000, n = 4
    idx = equity.index
    trades = _trades(
        [
            (idx[1], "AAA", "buy", 5.0, 100.0, 1.0),  # notional 500
            (idx[2], "AAA", "sell", 5.0, 200.0, 2.5),  # notional 1000
            (idx[2], "BBB", "sell", 10.0, 150.0, 0.5),  # notional 1500 (a short sale)
        ]
    )
    # exposed at bars 1 and 2 (a long), 3 (gross of a long and a short of equal value: net 0)
    gross = pd.Series([0.0, 500.0, 1500.0, 0.0, 0.0], index=idx)
    m = compute_metrics(equity, trades, gross, Conventions(periods_per_year=252))
    assert m["exposure"] == pytest.approx(2 / 5)
    # turnover = 3000 / 1000 * 252 / 4
    assert m["turnover"] == pytest.approx(189.0, rel=1e-12)
    assert m["fees_paid"] == pytest.approx(4.0, rel=1e-12)
    assert m["n_trades"] == 3
    assert m["total_return"] == 0.0
    # 100 -> the one long round trip: (200 - 100) * 5 - 1 - 2.5 > 0; the short is still open
    assert m["win_rate"] == 1.0

    # position values per symbol: a long and a short cancelling out still count as exposed, and a
    # NaN (no position in that symbol) counts as zero
    positions = pd.DataFrame(
        {"AAA": [0.0, 500.0, np.nan, 0.0, 0.0], "BBB": [0.0, 0.0, -1500.0, 0.0, 0.0], "CCC": 0.0},
        index=idx,
    )
    positions.loc[idx[3], ["AAA", "BBB"]] = [700.0, -700.0]
    m = compute_metrics(equity, trades, positions)
    assert m["exposure"] == pytest.approx(3 / 5)

    # an exposure series not covering every bar is an error, not silently "flat"
    with pytest.raises(ValueError, match="every bar"):
        compute_metrics(equity, trades, gross.iloc[:-1])


# ---------------------------------------------------------------------------------------------------
# FIFO round trips
# ---------------------------------------------------------------------------------------------------


def _fifo_trades() -> pd.DataFrame:
    return _trades(
        [
            ("2021-01-04", "AAA", "buy", 10.0, 100.0, 1.0),  # lot L1: 10 @ 100, fee 0.1/share
            ("2021-01-05", "AAA", "buy", 5.0, 110.0, 0.5),  # scale in, lot L2: 5 @ 110, fee 0.1/share
            ("2021-01-05", "BBB", "sell", 4.0, 50.0, 0.4),  # short lot S1: 4 @ 50 (other symbol)
            ("2021-01-06", "AAA", "sell", 12.0, 120.0, 1.2),  # closes L1 (10) and 2 of L2: 0.1/share
            ("2021-01-07", "AAA", "sell", 3.0, 105.0, 0.3),  # scale out: the last 3 of L2
            ("2021-01-08", "BBB", "buy", 4.0, 45.0, 0.4),  # covers S1
            ("2021-01-11", "AAA", "buy", 1.0, 100.0, 1.0),  # lot L3: 1 @ 100, fee 1/share
            ("2021-01-12", "AAA", "sell", 2.0, 100.5, 2.0),  # closes L3, opens short S2: 1 @ 100.5
            ("2021-01-13", "AAA", "buy", 1.0, 99.0, 0.1),  # covers S2
            ("2021-01-14", "BBB", "buy", 3.0, 46.0, 0.3),  # still open at the end: no round trip
        ]
    )


# per matched piece: gross pnl, fees pro rata (entry fee * q / entry qty + exit fee * q / exit qty)
EXPECTED_TRIPS = [
    # symbol, direction, entry, exit, qty, entry px, exit px, gross, fees, pnl
    # L1 x sell 12: (120 - 100) * 10 = 200; fees 1.0 * 10/10 + 1.2 * 10/12 = 2.0; pnl 198 (win)
    ("AAA", "long", "2021-01-04", "2021-01-06", 10.0, 100.0, 120.0, 200.0, 2.0, 198.0),
    # L2 (2 of 5) x sell 12: (120 - 110) * 2 = 20; fees 0.5 * 2/5 + 1.2 * 2/12 = 0.4; pnl 19.6 (win)
    ("AAA", "long", "2021-01-05", "2021-01-06", 2.0, 110.0, 120.0, 20.0, 0.4, 19.6),
    # L2 (last 3 of 5) x sell 3: (105 - 110) * 3 = -15; fees 0.5 * 3/5 + 0.3 = 0.6; pnl -15.6 (loss)
    ("AAA", "long", "2021-01-05", "2021-01-07", 3.0, 110.0, 105.0, -15.0, 0.6, -15.6),
    # S1 x buy 4: short, (50 - 45) * 4 = 20; fees 0.4 + 0.4 = 0.8; pnl 19.2 (win)
    ("BBB", "short", "2021-01-05", "2021-01-08", 4.0, 50.0, 45.0, 20.0, 0.8, 19.2),
    # L3 x sell 2 (1 of 2): (100.5 - 100) * 1 = 0.5 > 0 but fees 1.0 + 2.0 * 1/2 = 2.0; pnl -1.5 (loss)
    ("AAA", "long", "2021-01-11", "2021-01-12", 1.0, 100.0, 100.5, 0.5, 2.0, -1.5),
    # S2 (the other half of the sell 2) x buy 1: (100.5 - 99) * 1 = 1.5; fees 2.0 * 1/2 + 0.1 = 1.1;
    # pnl 0.4 (win)
    ("AAA", "short", "2021-01-12", "2021-01-13", 1.0, 100.5, 99.0, 1.5, 1.1, 0.4),
]
# win rate: 4 wins (198, 19.6, 19.2, 0.4) out of 6 closed round trips = 2/3
# (ignoring fees would make the 5th a win: 5/6; counting the open BBB lot would give 4/7)


def test_round_trips_fifo() -> None:
    trips = round_trips(_fifo_trades())
    expected = pd.DataFrame(
        EXPECTED_TRIPS,
        columns=[
            "symbol",
            "direction",
            "entry_timestamp",
            "exit_timestamp",
            "qty",
            "entry_price",
            "exit_price",
            "gross_pnl",
            "fees",
            "pnl",
        ],
    )
    for col in ("entry_timestamp", "exit_timestamp"):
        expected[col] = pd.to_datetime(expected[col], utc=True)
    assert list(trips.columns) == list(expected.columns)
    assert len(trips) == len(expected)
    assert trips[["symbol", "direction"]].values.tolist() == expected[["symbol", "direction"]].values.tolist()
    for col in ("entry_timestamp", "exit_timestamp"):
        assert list(trips[col]) == list(expected[col]), col
    for col in ("qty", "entry_price", "exit_price", "gross_pnl", "fees", "pnl"):
        np.testing.assert_allclose(trips[col].to_numpy(), expected[col].to_numpy(), rtol=1e-12, atol=1e-12)


def test_win_rate_and_order_independence() -> None:
    trades = _fifo_trades()
    equity = pd.Series(100_000.0, index=pd.date_range("2021-01-01", "2021-01-15", freq="D", tz="UTC"))
    m = compute_metrics(equity, trades, pd.Series(1.0, index=equity.index))
    assert m["win_rate"] == pytest.approx(4 / 6, rel=1e-12)
    assert m["n_trades"] == 10
    assert m["fees_paid"] == pytest.approx(
        1.0 + 0.5 + 0.4 + 1.2 + 0.3 + 0.4 + 1.0 + 2.0 + 0.1 + 0.3, rel=1e-12
    )

    # fills given out of time order are matched in time order (same-timestamp fills keep their order)
    shuffled = trades.sample(frac=1.0, random_state=3)
    assert not shuffled.index.equals(trades.index)
    pd.testing.assert_frame_equal(round_trips(shuffled), round_trips(trades))


def test_round_trips_fractional_shares_and_empty() -> None:
    # 0.1 + 0.2 bought, 0.3 sold: the float residue of the matched lots must not stay open, and the
    # later buy must open a long lot (not cover a phantom short)
    trades = _trades(
        [
            ("2021-01-04", "AAA", "buy", 0.1, 10.0, 0.0),
            ("2021-01-05", "AAA", "buy", 0.2, 10.0, 0.0),
            ("2021-01-06", "AAA", "sell", 0.3, 12.0, 0.0),
            ("2021-01-07", "AAA", "buy", 1.0, 11.0, 0.0),
            ("2021-01-08", "AAA", "sell", 1.0, 10.0, 0.0),
        ]
    )
    trips = round_trips(trades)
    assert trips["direction"].tolist() == ["long", "long", "long"]
    np.testing.assert_allclose(trips["qty"].to_numpy(), [0.1, 0.2, 1.0])
    np.testing.assert_allclose(trips["pnl"].to_numpy(), [0.2, 0.4, -1.0])

    empty = round_trips(_no_trades())
    assert empty.empty and "pnl" in empty.columns

    with pytest.raises(ValueError, match="side"):
        round_trips(_trades([("2021-01-04", "AAA", "short", 1.0, 10.0, 0.0)]))
    with pytest.raises(ValueError, match="qty"):
        round_trips(_trades([("2021-01-04", "AAA", "sell", -1.0, 10.0, 0.0)]))


# ---------------------------------------------------------------------------------------------------
# undefined values are None; output is JSON
# ---------------------------------------------------------------------------------------------------


def _assert_plain(m: dict[str, float | int | None]) -> None:
    assert tuple(m) == METRIC_KEYS
    for key, value in m.items():
        assert value is None or type(value) in (float, int), (key, type(value))
        assert value is None or math.isfinite(value), key
    assert isinstance(m["n_trades"], int) and isinstance(m["max_drawdown_duration_bars"], int)
    json.dumps(m, allow_nan=False)


@pytest.mark.parametrize("rf", [0.0, 0.02])
def test_all_cash_run(rf: float, emp: ModuleType) -> None:
    equity = pd.Series(100_000.0, index=_bars(30))
    m = compute_metrics(equity, _no_trades(), pd.Series(0.0, index=equity.index), Conventions(rf=rf))
    _assert_plain(m)
    for key in ("sharpe", "sortino", "ann_vol", "calmar", "win_rate"):
        assert m[key] is None, key
    assert m["total_return"] == 0.0 and m["cagr"] == 0.0
    assert m["max_drawdown"] == 0.0 and m["max_drawdown_duration_bars"] == 0
    assert m["exposure"] == 0.0 and m["turnover"] == 0.0
    assert m["n_trades"] == 0 and m["fees_paid"] == 0.0
    # empyrical, for comparison: Sharpe NaN (rf = 0) or -inf (rf > 0), volatility 0.0, and with rf > 0
    # its Sortino ratio of the constant return 0 < rf_p is -sqrt(P). Zero dispersion makes all three
    # None here.
    returns = equity.pct_change().iloc[1:]
    rf_p = (1.0 + rf) ** (1.0 / 252) - 1.0
    emp_sharpe = emp.sharpe_ratio(returns, risk_free=rf_p)
    assert math.isnan(emp_sharpe) if rf == 0 else emp_sharpe == -math.inf
    assert emp.annual_volatility(returns) == 0.0
    if rf > 0:
        assert emp.sortino_ratio(returns, required_return=rf_p) == pytest.approx(-math.sqrt(252))


def test_other_undefined_values(emp: ModuleType) -> None:
    # steadily rising with different returns: no drawdown (calmar None), no negative excess return
    # (sortino None; empyrical gives inf) but sharpe and ann_vol are defined
    rising = pd.Series([100.0, 101.0, 103.0, 103.5, 106.0], index=_bars(5))
    m = compute_metrics(rising, _no_trades())
    _assert_plain(m)
    assert m["sortino"] is None and m["calmar"] is None and m["max_drawdown"] == 0.0
    assert m["sharpe"] is not None and m["sharpe"] > 0 and m["ann_vol"] is not None
    assert math.isinf(emp.sortino_ratio(rising.pct_change().iloc[1:]))

    # constant non-zero return: zero dispersion, sharpe None. The returns recovered from the compounded
    # curve differ in their last bits, so empyrical (and a bare std > 0 test) gives a huge finite value
    compounding = pd.Series(100_000.0 * 1.001 ** np.arange(10), index=_bars(10))
    r = compounding.pct_change().iloc[1:]
    assert r.std() > 0 and abs(emp.sharpe_ratio(r)) > 1e9
    m = compute_metrics(compounding, _no_trades())
    _assert_plain(m)
    assert m["sharpe"] is None and m["ann_vol"] is None and m["sortino"] is None
    assert m["cagr"] == pytest.approx(1.001**252 - 1.0, rel=1e-9)

    # one bar: no return at all; two bars: one return, no std
    for n_bars in (1, 2):
        equity = pd.Series([100.0, 90.0][:n_bars], index=_bars(n_bars))
        m = compute_metrics(equity, _no_trades(), pd.Series(1.0, index=equity.index))
        _assert_plain(m)
        assert m["sharpe"] is None and m["sortino"] is None and m["ann_vol"] is None
        if n_bars == 1:
            assert m["total_return"] == 0.0 and m["cagr"] is None and m["turnover"] is None
            assert m["calmar"] is None
        else:
            assert m["cagr"] == pytest.approx(0.9**252 - 1.0) and m["calmar"] is not None

    # a wipe-out: the returns after a zero equity are undefined, cagr is -100%
    wiped = pd.Series([100.0, 50.0, 0.0, 0.0], index=_bars(4))
    m = compute_metrics(wiped, _no_trades())
    _assert_plain(m)
    assert m["total_return"] == -1.0 and m["cagr"] == -1.0 and m["max_drawdown"] == -1.0
    assert m["sharpe"] is None and m["ann_vol"] is None


def test_real_curve_output_is_json(sample_csv: Path) -> None:
    equity = _aapl_buy_and_hold(sample_csv)
    idx = equity.index
    shares = 1000.0
    trades = _trades(
        [(idx[0], "AAPL", "buy", shares, 100.0, 1.0), (idx[-1], "AAPL", "sell", shares, 150.0, 1.5)]
    )
    m = compute_metrics(equity, trades, pd.Series(1.0, index=idx), Conventions(rf=0.02))
    _assert_plain(m)
    assert m["win_rate"] == 1.0 and m["n_trades"] == 2 and m["exposure"] == 1.0
    assert json.loads(json.dumps(Conventions(rf=0.02).to_dict())) == {
        "periods_per_year": 252,
        "rf": 0.02,
        "ddof": 1,
    }


def test_conventions_validation() -> None:
    with pytest.raises(ValueError):
        Conventions(periods_per_year=0)
    with pytest.raises(ValueError):
        Conventions(rf=-1.0)
    with pytest.raises(ValueError):
        Conventions(ddof=-1)
    with pytest.raises(ValueError, match="NaN"):
        compute_metrics(pd.Series([100.0, np.nan], index=_bars(2)), _no_trades())
