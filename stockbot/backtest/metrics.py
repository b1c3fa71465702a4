"""Metrics of a backtest from its equity curve and fills, with empyrical's conventions.

Pure functions (numpy/pandas only, no I/O). Notation used in the docstrings:

* ``E_0..E_T``: the equity series, one value per bar marked at the close; ``E_0`` is the initial cash.
* ``r_t = E_t / E_{t-1} - 1`` for ``t = 1..T``: the ``n = T`` simple returns (one fewer than bars).
* ``P``: :attr:`Conventions.periods_per_year`; ``rf_p = (1 + rf) ** (1 / P) - 1``: the annual risk-free
  rate de-annualised geometrically to one bar; ``x_t = r_t - rf_p``: the excess returns.

Every undefined value (too few returns, zero dispersion, no downside, no drawdown, no closed round
trip, non-positive equity where a ratio needs it) is ``None``: the output never holds NaN or inf, and
its values are plain Python ``float``/``int``, so it is JSON-serialisable as is.

Where this module and empyrical (empyrical-reloaded 0.7.1) agree, they agree to rounding: ``sharpe``
= ``sharpe_ratio(r, risk_free=rf_p, annualization=P)``, ``sortino`` = ``sortino_ratio(r,
required_return=rf_p, annualization=P)``, ``ann_vol`` = ``annual_volatility(r, annualization=P)``,
``max_drawdown`` = ``max_drawdown(r)``, ``cagr`` = ``annual_return(r, annualization=P)`` (years =
``len(r) / P`` = ``n / P``), ``calmar`` = ``calmar_ratio(r, annualization=P)``. They differ only where
empyrical returns a non-finite or degenerate value: for constant returns empyrical gives a Sharpe
ratio of NaN (excess 0), ``±inf`` (exactly constant non-zero excess) or ~1e13 (returns of a curve
compounded at a constant rate, equal but for their last bits), a volatility of ``0.0`` and, below
``rf_p``, a Sortino ratio of ``-sqrt(P)``; without downside its Sortino ratio is ``inf``. All of these
are ``None`` here: zero dispersion (a return range within 1e-12) or no downside leaves the ratio
undefined.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "METRIC_KEYS",
    "TRADE_COLUMNS",
    "Conventions",
    "compute_metrics",
    "drawdown",
    "equity_returns",
    "max_drawdown_duration",
    "round_trips",
]

TRADE_COLUMNS = (
    "timestamp",
    "decision_timestamp",
    "symbol",
    "side",
    "qty",
    "price",
    "notional",
    "fee",
    "slippage_cost",
)

METRIC_KEYS = (
    "total_return",
    "cagr",
    "ann_vol",
    "sharpe",
    "sortino",
    "max_drawdown",
    "calmar",
    "max_drawdown_duration_bars",
    "exposure",
    "turnover",
    "n_trades",
    "fees_paid",
    "win_rate",
)

ROUND_TRIP_COLUMNS = (
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
)

# a lot whose remaining quantity is below this fraction of its original quantity is fully matched
# (fractional shares leave float residues such as 1e-16 after partial matches)
_QTY_RTOL = 1e-12
# returns whose range (max - min) is within this (relative to max(1, max |r|)) count as constant:
# the float noise of E_t / E_{t-1} is ~1e-16, real return series vary by far more than 1e-12
_RETURN_ATOL = 1e-12


@dataclass(frozen=True)
class Conventions:
    """How returns are annualised and compared with the risk-free rate.

    Attributes:
        periods_per_year: bars per year ``P`` (252 for daily bars).
        rf: annual risk-free rate; per bar it is ``rf_p = (1 + rf) ** (1 / P) - 1``.
        ddof: delta degrees of freedom of the standard deviations (1: sample std, as empyrical).
    """

    periods_per_year: int = 252
    rf: float = 0.0
    ddof: int = 1

    def __post_init__(self) -> None:
        if self.periods_per_year <= 0:
            raise ValueError(f"periods_per_year must be > 0, got {self.periods_per_year}")
        if not math.isfinite(self.rf) or self.rf <= -1.0:
            raise ValueError(f"rf must be a finite annual rate > -1, got {self.rf}")
        if self.ddof < 0:
            raise ValueError(f"ddof must be >= 0, got {self.ddof}")

    @property
    def rf_per_period(self) -> float:
        """``rf_p = (1 + rf) ** (1 / P) - 1``: the annual rate de-annualised geometrically."""
        return (1.0 + self.rf) ** (1.0 / self.periods_per_year) - 1.0

    def to_dict(self) -> dict[str, Any]:
        """``{"periods_per_year": P, "rf": rf, "ddof": ddof}`` (JSON-serialisable)."""
        return {k: (float(v) if k == "rf" else int(v)) for k, v in asdict(self).items()}


def _float_or_none(value: float | None) -> float | None:
    """``float(value)`` if it is finite, else ``None``."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _equity_array(equity: pd.Series) -> np.ndarray:
    if not isinstance(equity, pd.Series):
        raise TypeError(f"equity must be a pandas Series, got {type(equity).__name__}")
    if len(equity) == 0:
        raise ValueError("equity is empty: it needs at least the initial cash")
    values = equity.to_numpy(dtype=float)
    if not np.isfinite(values).all():
        raise ValueError("equity holds NaN or inf values")
    if not equity.index.is_monotonic_increasing:
        raise ValueError("equity must be indexed by increasing timestamps")
    return values


def equity_returns(equity: pd.Series) -> pd.Series:
    """Simple returns ``r_t = E_t / E_{t-1} - 1``, ``t = 1..T`` (indexed by the bar of ``E_t``).

    A return after a non-positive equity value is undefined and comes out as NaN/inf; the metrics
    built on returns are then ``None``.
    """
    values = _equity_array(equity)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = values[1:] / values[:-1] - 1.0
    return pd.Series(r, index=equity.index[1:], name="return")


def drawdown(equity: pd.Series) -> pd.Series:
    """Drawdown of every bar: ``D_t = E_t / max_{s<=t} E_s - 1`` (<= 0; ``E_0`` anchors the peak)."""
    values = _equity_array(equity)
    peak = np.maximum.accumulate(values)
    with np.errstate(divide="ignore", invalid="ignore"):
        dd = values / peak - 1.0
    return pd.Series(dd, index=equity.index, name="drawdown")


def max_drawdown_duration(equity: pd.Series) -> int:
    """The longest run of consecutive bars with ``E_t < max_{s<t} E_s`` (bars spent below a peak).

    A run starts at the bar after the peak and ends before the bar whose equity gets back to at
    least that peak (that bar is not counted), or at the last bar if the equity never recovers.
    ``0`` if the equity never falls below a previous peak.
    """
    values = _equity_array(equity)
    below = values < np.maximum.accumulate(values)
    longest = run = 0
    for flag in below:
        run = run + 1 if flag else 0
        longest = max(longest, run)
    return int(longest)


def _gross_exposure_array(gross_exposure: pd.Series | pd.DataFrame, index: pd.Index) -> np.ndarray:
    """Per-bar gross exposure aligned on the equity index (a DataFrame: sum of |value| per row).

    Every bar of the equity index needs a value (a missing one is an error, not "no position").
    """
    if isinstance(gross_exposure, pd.DataFrame):
        gross = gross_exposure.abs().sum(axis=1)  # NaN (no position in that symbol) counts as 0
    elif isinstance(gross_exposure, pd.Series):
        gross = gross_exposure
    else:
        raise TypeError(
            f"gross_exposure must be a pandas Series or DataFrame, got {type(gross_exposure).__name__}"
        )
    if not gross.index.equals(index):
        if gross.index.has_duplicates:
            raise ValueError("gross_exposure has duplicate timestamps")
        gross = gross.reindex(index)
    values = gross.to_numpy(dtype=float)
    if not np.isfinite(values).all():
        raise ValueError("gross_exposure must hold a finite value for every bar of the equity series")
    return values


def _check_trades(trades: pd.DataFrame) -> pd.DataFrame:
    """The fills sorted by timestamp (stable: same-timestamp fills keep their order), validated."""
    if not isinstance(trades, pd.DataFrame):
        raise TypeError(f"trades must be a pandas DataFrame, got {type(trades).__name__}")
    if len(trades) == 0:
        return trades
    needed = ("timestamp", "symbol", "side", "qty", "price", "notional", "fee")
    missing = [c for c in needed if c not in trades.columns]
    if missing:
        raise ValueError(f"trades is missing columns {missing}")
    sides = set(trades["side"].unique())
    if not sides <= {"buy", "sell"}:
        raise ValueError(f"trade side must be 'buy' or 'sell', got {sorted(map(str, sides))}")
    qty = trades["qty"].to_numpy(dtype=float)
    if not (np.isfinite(qty).all() and (qty > 0).all()):
        raise ValueError("trade qty must be finite and > 0 (the side gives the direction)")
    return trades.sort_values("timestamp", kind="stable")


def round_trips(trades: pd.DataFrame) -> pd.DataFrame:
    """Closed round trips by FIFO lot matching per symbol.

    Fills are taken in timestamp order. Per symbol, open lots form a FIFO queue, all long or all
    short. A buy first closes short lots (oldest first), a sell first closes long lots; the rest
    of the fill (a partial match splits it, and a lot is split the same way) opens a new lot. Each
    matched piece of ``q`` shares is one round trip, with:

    * ``gross_pnl = (exit_price - entry_price) * q`` for a long lot, ``(entry_price - exit_price) * q``
      for a short lot (prices are fill prices, slippage included, so ``slippage_cost`` is not
      charged again);
    * ``fees = entry_fee * q / entry_qty + exit_fee * q / exit_qty``: each fill's fee allocated pro
      rata to the quantity matched;
    * ``pnl = gross_pnl - fees`` (after fees).

    Lots still open at the end are not round trips. Rows come in the order they close (exit fill
    order, then FIFO order); columns: ``symbol, direction ('long'|'short'), entry_timestamp,
    exit_timestamp, qty, entry_price, exit_price, gross_pnl, fees, pnl``.
    """
    fills = _check_trades(trades)
    rows: list[dict[str, Any]] = []
    # per symbol: FIFO of open lots [remaining qty, original qty, price, fee per share, timestamp];
    # direction +1 (long) or -1 (short) of all of them
    books: dict[Any, tuple[int, list[list[Any]]]] = {}
    if len(fills):
        columns = zip(
            fills["timestamp"],
            fills["symbol"],
            fills["side"],
            fills["qty"].to_numpy(dtype=float),
            fills["price"].to_numpy(dtype=float),
            fills["fee"].to_numpy(dtype=float),
            strict=True,
        )
        for ts, symbol, side, qty, price, fee in columns:
            sign = 1 if side == "buy" else -1
            fee_per_share = fee / qty
            direction, lots = books.get(symbol, (sign, []))
            remaining = qty
            if lots and direction != sign:  # closes open lots of the other direction, oldest first
                while lots and remaining > _QTY_RTOL * qty:
                    lot = lots[0]
                    matched = min(lot[0], remaining)
                    gross = (price - lot[2]) * matched * direction
                    fees = (lot[3] + fee_per_share) * matched
                    rows.append(
                        {
                            "symbol": symbol,
                            "direction": "long" if direction > 0 else "short",
                            "entry_timestamp": lot[4],
                            "exit_timestamp": ts,
                            "qty": matched,
                            "entry_price": lot[2],
                            "exit_price": price,
                            "gross_pnl": gross,
                            "fees": fees,
                            "pnl": gross - fees,
                        }
                    )
                    lot[0] -= matched
                    remaining -= matched
                    if lot[0] <= _QTY_RTOL * lot[1]:
                        lots.pop(0)
            if remaining > _QTY_RTOL * qty:  # the rest opens (or adds to) a position of this side
                if not lots:
                    direction = sign
                lots.append([remaining, qty, price, fee_per_share, ts])
            books[symbol] = (direction, lots)
    out = pd.DataFrame(rows, columns=list(ROUND_TRIP_COLUMNS))
    for col in ("qty", "entry_price", "exit_price", "gross_pnl", "fees", "pnl"):
        out[col] = out[col].astype(float)
    return out


def compute_metrics(
    equity: pd.Series,
    trades: pd.DataFrame,
    gross_exposure: pd.Series | pd.DataFrame | None = None,
    conventions: Conventions | None = None,
) -> dict[str, float | int | None]:
    """The metrics of one backtest, keyed as :data:`METRIC_KEYS`.

    Args:
        equity: ``E_0..E_T``, one value per bar (UTC timestamps, increasing), marked at the close;
            ``E_0`` is the initial cash.
        trades: the fills, columns :data:`TRADE_COLUMNS` (``side`` 'buy'|'sell', ``qty`` > 0).
        gross_exposure: per bar, the gross exposure (Series, e.g. sum of |position value|), or the
            position values per symbol (DataFrame, one column per symbol; summed as |value|),
            on the equity index. ``None``: ``exposure`` is ``None``.
        conventions: annualisation, risk-free rate and ddof (default :class:`Conventions`).

    Formulas (``n = T`` returns, ``P`` periods per year, ``x_t = r_t - rf_p``):

    * ``total_return = E_T / E_0 - 1``
    * ``cagr = (E_T / E_0) ** (P / n) - 1`` (None if ``n == 0`` or ``E_T / E_0 < 0``)
    * ``ann_vol = std(r, ddof) * sqrt(P)`` (None if ``n < 2`` or the returns are constant: their
      range ``max(r) - min(r)`` is within 1e-12, float noise, so ``std == 0``)
    * ``sharpe = mean(x) / std(x, ddof) * sqrt(P)`` (None if ``n < 2`` or the returns are constant)
    * ``sortino = mean(x) * P / (sqrt(mean(min(x, 0) ** 2)) * sqrt(P))`` (None if ``n < 2``, if the
      returns are constant, or if no ``x_t`` is negative)
    * ``max_drawdown = min_t (E_t / max_{s<=t} E_s - 1)`` (<= 0)
    * ``calmar = cagr / |max_drawdown|`` (None if ``max_drawdown == 0``)
    * ``max_drawdown_duration_bars``: see :func:`max_drawdown_duration`
    * ``exposure = #{t in 0..T : |gross_exposure_t| > 0} / (T + 1)`` (share of the equity bars)
    * ``turnover = sum(|notional|) / mean(E_0..E_T) * P / n`` (None if ``n == 0``)
    * ``n_trades``: number of fills (rows of ``trades``); ``fees_paid = sum(fee)``
    * ``win_rate = #{round trips with pnl > 0} / #{round trips}`` (see :func:`round_trips`; None
      without a closed round trip)
    """
    conv = conventions if conventions is not None else Conventions()
    values = _equity_array(equity)
    trades = _check_trades(trades)
    p = conv.periods_per_year
    n = len(values) - 1
    e0, e_t = values[0], values[-1]
    growth = e_t / e0 if e0 > 0 else math.nan

    total_return = _float_or_none(growth - 1.0)

    cagr: float | None = None
    if n > 0 and growth >= 0:
        with np.errstate(over="ignore"):
            cagr = _float_or_none(np.power(growth, p / n) - 1.0)

    r = equity_returns(equity).to_numpy()
    returns_defined = n >= 2 and n > conv.ddof and bool(np.isfinite(r).all())
    # returns within float noise of each other have zero dispersion: np.std of equal values can
    # leave a ~1e-18 residue from the mean, and a curve compounding at a constant rate gives returns
    # that differ in their last bits; either would turn an undefined ratio into a number ~1e13
    dispersed = returns_defined and bool(np.ptp(r) > _RETURN_ATOL * max(1.0, float(np.abs(r).max())))
    ann_vol = sharpe = sortino = None
    if dispersed:
        ann_vol = _float_or_none(np.std(r, ddof=conv.ddof) * math.sqrt(p))
        x = r - conv.rf_per_period
        std_x = float(np.std(x, ddof=conv.ddof))
        if std_x > 0:
            sharpe = _float_or_none(np.mean(x) / std_x * math.sqrt(p))
        downside = math.sqrt(float(np.mean(np.minimum(x, 0.0) ** 2)))
        if downside > 0:
            sortino = _float_or_none(np.mean(x) * p / (downside * math.sqrt(p)))

    dd = drawdown(equity).to_numpy()
    max_dd = _float_or_none(dd.min()) if e0 > 0 else None
    calmar = None
    if cagr is not None and max_dd is not None and max_dd < 0:
        calmar = _float_or_none(cagr / abs(max_dd))

    exposure = None
    if gross_exposure is not None:
        gross = _gross_exposure_array(gross_exposure, equity.index)
        exposure = float(np.mean(np.abs(gross) > 0))

    notional = float(np.abs(trades["notional"].to_numpy(dtype=float)).sum()) if len(trades) else 0.0
    mean_equity = float(values.mean())
    turnover = None
    if n > 0 and mean_equity > 0:
        turnover = _float_or_none(notional / mean_equity * p / n)

    fees_paid = float(trades["fee"].to_numpy(dtype=float).sum()) if len(trades) else 0.0

    trips = round_trips(trades)
    win_rate = float((trips["pnl"] > 0).mean()) if len(trips) else None

    return {
        "total_return": total_return,
        "cagr": cagr,
        "ann_vol": ann_vol,
        "sharpe": sharpe,
        "sortino": sortino,
        "max_drawdown": max_dd,
        "calmar": calmar,
        "max_drawdown_duration_bars": max_drawdown_duration(equity),
        "exposure": exposure,
        "turnover": turnover,
        "n_trades": len(trades),
        "fees_paid": _float_or_none(fees_paid),
        "win_rate": win_rate,
    }
