"""Reading a backtest's results the way a trader does: the P&L each fill realised, and returns by month.

Pure functions (numpy/pandas only, no I/O) over the frames of ``trades.csv`` and ``equity.csv``.
"""

from __future__ import annotations

import calendar

import numpy as np
import pandas as pd

__all__ = ["MONTHS", "TRADE_PNL_COLUMNS", "YEAR", "monthly_returns", "trade_pnl"]

TRADE_PNL_COLUMNS = ("position_after", "avg_cost", "realized_pnl", "cum_realized_pnl")
MONTHS = tuple(calendar.month_abbr[1:])  # "Jan" .. "Dec"
YEAR = "Year"

# a position whose size is below this fraction of the fill that left it is flat: fractional
# shares leave float residues such as 1e-16 after a full sell
_QTY_RTOL = 1e-9
_TRADE_NEEDS = ("timestamp", "symbol", "side", "qty", "price", "fee")


def _check_trades(trades: pd.DataFrame) -> None:
    if not isinstance(trades, pd.DataFrame):
        raise TypeError(f"trades must be a pandas DataFrame, got {type(trades).__name__}")
    missing = [c for c in _TRADE_NEEDS if c not in trades.columns]
    if missing:
        raise ValueError(f"trades is missing columns {missing} (needs {list(_TRADE_NEEDS)})")
    for i, side in enumerate(trades["side"]):
        if side not in ("buy", "sell"):
            raise ValueError(f"trades row {i}: side must be 'buy' or 'sell', got {side!r}")
    for col in ("qty", "price", "fee"):
        values = trades[col].to_numpy(dtype=float)
        bad = ~np.isfinite(values) | (values <= 0 if col != "fee" else values < 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            rule = "finite and >= 0" if col == "fee" else "finite and > 0"
            raise ValueError(f"trades row {i}: {col} must be {rule}, got {values[i]!r}")


def trade_pnl(trades: pd.DataFrame) -> pd.DataFrame:
    """Each fill with the P&L it realised against the average cost of its symbol's position.

    Per symbol, fills are taken in timestamp order (stable). The position ``q`` (shares, > 0 long,
    < 0 short) has an average cost ``c`` per share that includes the fees paid to open it:

    * a fill that opens or adds (a buy when ``q >= 0``, a sell when ``q <= 0``) of ``n`` shares at
      price ``p`` with fee ``f``: ``c <- (|q| c + n p + f) / (|q| + n)`` for a long,
      ``c <- (|q| c + n p - f) / (|q| + n)`` for a short (the fee lowers the net proceeds);
    * a fill that reduces by ``m <= |q|`` shares realises, net of its fee,
      ``m (p - c) - f`` (closing a long) or ``m (c - p) - f`` (closing a short); ``c`` is unchanged;
    * a fill larger than the position closes it and opens the other side with the rest; its fee is
      split pro rata between the two parts.

    Returns a copy of ``trades`` in that order (index kept) with :data:`TRADE_PNL_COLUMNS`:
    ``position_after`` (shares after the fill), ``avg_cost`` (NaN when flat), ``realized_pnl`` (NaN
    for a fill that only opens or adds) and ``cum_realized_pnl`` (the running total over all
    symbols, 0 before the first realisation).
    """
    _check_trades(trades)
    out = trades.sort_values("timestamp", kind="stable").copy()
    n_rows = len(out)
    position = np.zeros(n_rows)
    avg_cost = np.full(n_rows, np.nan)
    realized = np.full(n_rows, np.nan)
    books: dict[object, tuple[float, float]] = {}  # symbol -> (signed shares, average cost)
    rows = zip(
        out["symbol"],
        out["side"],
        out["qty"].to_numpy(dtype=float),
        out["price"].to_numpy(dtype=float),
        out["fee"].to_numpy(dtype=float),
        strict=True,
    )
    for i, (symbol, side, qty, price, fee) in enumerate(rows):
        q, c = books.get(symbol, (0.0, np.nan))
        sign = 1.0 if side == "buy" else -1.0
        closing = min(qty, abs(q)) if q * sign < 0 else 0.0
        opening = qty - closing
        if closing > 0:
            direction = 1.0 if q > 0 else -1.0
            realized[i] = closing * (price - c) * direction - fee * closing / qty
            q += sign * closing
            if abs(q) <= _QTY_RTOL * qty:
                q, c = 0.0, np.nan
        if opening > _QTY_RTOL * qty:
            fee_open = fee * opening / qty
            held = abs(q)
            basis = 0.0 if held == 0 else held * c
            c = (basis + opening * price + sign * fee_open) / (held + opening)
            q += sign * opening
        books[symbol] = (q, c)
        position[i], avg_cost[i] = q, c
    out["position_after"] = position
    out["avg_cost"] = avg_cost
    out["realized_pnl"] = realized
    out["cum_realized_pnl"] = np.cumsum(np.nan_to_num(realized, nan=0.0))
    return out


def monthly_returns(equity: pd.Series) -> pd.DataFrame:
    """Returns by calendar month (UTC), one row per year, columns ``Jan..Dec`` and ``Year``.

    ``equity`` is ``E_0..E_T`` indexed by timestamp (``E_0`` the initial cash). A month's return is
    its last equity over the last equity before the month (``E_0`` for the first month) minus 1; the
    year's is the same over the year, i.e. the product of its months' ``1 + r`` minus 1. Months
    without a bar are NaN. Index: the year (int), named ``year``.
    """
    if not isinstance(equity, pd.Series):
        raise TypeError(f"equity must be a pandas Series, got {type(equity).__name__}")
    if len(equity) == 0:
        raise ValueError("equity is empty: it needs at least the initial cash")
    index = pd.DatetimeIndex(equity.index)
    if not index.is_monotonic_increasing:
        raise ValueError("equity must be indexed by increasing timestamps")
    values = equity.to_numpy(dtype=float)
    if not (np.isfinite(values).all() and (values > 0).all()):
        i = int(np.flatnonzero(~(np.isfinite(values) & (values > 0)))[0])
        raise ValueError(f"equity row {i} ({index[i]}): must be finite and > 0, got {values[i]!r}")
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    series = pd.Series(values, index=index)
    month_end = series.groupby(index.to_period("M")).last()
    year_end = series.groupby(index.year).last()
    start = values[0]
    monthly = month_end / month_end.shift(1).fillna(start) - 1.0
    yearly = year_end / year_end.shift(1).fillna(start) - 1.0
    years = list(year_end.index)
    table = pd.DataFrame(np.nan, index=pd.Index(years, name="year"), columns=[*MONTHS, YEAR])
    for period, r in monthly.items():
        table.loc[period.year, MONTHS[period.month - 1]] = r
    table[YEAR] = yearly.to_numpy()
    return table
