"""Numbers, names and axes formatted for people: the one place pages take their labels from.

Pure (no Panel, no Bokeh): pages and charts import it, and the tests read expected strings off it.
A missing or undefined value (None, NaN, inf) is shown as :data:`MISSING`, never as "nan".
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
from collections.abc import Callable, Mapping, Sequence

import pandas as pd

from stockbot.backtest.metrics import METRIC_KEYS

__all__ = [
    "COLUMN_LABELS",
    "METRIC_FORMATS",
    "METRIC_LABELS",
    "MISSING",
    "MONEY_AXIS",
    "PCT_AXIS",
    "column_label",
    "count",
    "duration",
    "format_metric",
    "money",
    "pct",
    "ratio",
    "timestamp",
]

MISSING = "—"

METRIC_LABELS: dict[str, str] = {
    "total_return": "Total return",
    "cagr": "CAGR",
    "ann_vol": "Volatility (annual)",
    "sharpe": "Sharpe",
    "sortino": "Sortino",
    "max_drawdown": "Max drawdown",
    "calmar": "Calmar",
    "max_drawdown_duration_bars": "Longest drawdown (bars)",
    "exposure": "Time in market",
    "turnover": "Turnover (annual)",
    "n_trades": "Trades",
    "fees_paid": "Fees paid",
    "win_rate": "Win rate",
}

# how each metric reads: a share as a percentage, money in dollars, a count, a ratio to 2 decimals
METRIC_FORMATS: dict[str, str] = {
    "total_return": "pct",
    "cagr": "pct",
    "ann_vol": "pct",
    "sharpe": "ratio",
    "sortino": "ratio",
    "max_drawdown": "pct",
    "calmar": "ratio",
    "max_drawdown_duration_bars": "count",
    "exposure": "pct",
    "turnover": "pct",
    "n_trades": "count",
    "fees_paid": "money",
    "win_rate": "pct",
}

COLUMN_LABELS: dict[str, str] = {
    # trades.csv
    "timestamp": "Time",
    "decision_timestamp": "Decided",
    "symbol": "Symbol",
    "side": "Side",
    "qty": "Quantity",
    "price": "Price",
    "notional": "Notional",
    "fee": "Fee",
    "slippage_cost": "Slippage cost",
    # per-trade P&L (stockbot.backtest.analysis)
    "position_after": "Position after",
    "avg_cost": "Average cost",
    "realized_pnl": "Realised P&L",
    "cum_realized_pnl": "Cumulative P&L",
    # equity.csv
    "equity": "Equity",
    "cash": "Cash",
    "gross_exposure": "Gross exposure",
    "net_exposure": "Net exposure",
    "drawdown": "Drawdown",
    "benchmark_equity": "Buy & hold equity",
    # run list and comparison
    "run": "Run",
    "name": "Name",
    "kind": "Kind",
    "owner": "Owner",
    "status": "Status",
    "tags": "Tags",
    "note": "Note",
    "created_at": "Created",
    "started_at": "Started",
    "finished_at": "Finished",
    "progress": "Progress",
    "message": "Message",
    "series": "Series",
    "label": "Curve",
    "parent": "Parent run",
    # training curves (eval.csv and SB3's TensorBoard keys)
    "timesteps": "Timesteps",
    "val_return": "Validation return",
    "val_reward": "Validation reward",
    "best_val_reward": "Best validation reward",
    "eval/mean_reward": "Validation reward",
    "rollout/ep_rew_mean": "Episode reward (mean)",
    "rollout/ep_len_mean": "Episode length (mean)",
    "train/loss": "Total loss",
    "train/value_loss": "Value loss",
    "train/policy_gradient_loss": "Policy-gradient loss",
    "train/entropy_loss": "Entropy loss",
    # metrics table
    "metric": "Metric",
    "policy": "Policy",
    "benchmark": "Buy & hold",
    **METRIC_LABELS,
}

# numeral.js formats (Bokeh's NumeralTickFormatter) for hvplot's xformatter=/yformatter=;
# charts.py wraps them, so this module stays free of Bokeh. "0.0%" multiplies by 100 itself.
MONEY_AXIS = "$0,0"
PCT_AXIS = "0.0%"


def _finite(x: object, what: str) -> float | None:
    """``x`` as a float, None for None/NaN/inf; a non-number is a TypeError naming ``what``."""
    if x is None:
        return None
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"{what} must be a number or None, got {type(x).__name__} {x!r}")
    value = float(x)
    return value if math.isfinite(value) else None


def _fixed(value: float, digits: int) -> str:
    """``value`` with thousands separators and ``digits`` decimals; no "-0.00"."""
    text = f"{value:,.{digits}f}"
    if text.startswith("-") and not any(c in "123456789" for c in text):
        text = text[1:]
    return text


def _digits(digits: int) -> int:
    if isinstance(digits, bool) or not isinstance(digits, int) or not 0 <= digits <= 10:
        raise ValueError(f"digits must be an integer in [0, 10], got {digits!r}")
    return digits


def pct(x: float | None, digits: int = 2) -> str:
    """A fraction as a percentage: ``0.1234`` -> ``"12.34%"``, ``-0.05`` -> ``"-5.00%"``."""
    value = _finite(x, "a percentage")
    if value is None:
        return MISSING
    return f"{_fixed(value * 100.0, _digits(digits))}%"


def money(x: float | None) -> str:
    """Dollars with thousands separators and cents: ``1250`` -> ``"$1,250.00"``, ``-3`` ->
    ``"-$3.00"``."""
    value = _finite(x, "an amount of money")
    if value is None:
        return MISSING
    text = _fixed(value, 2)
    return f"-${text[1:]}" if text.startswith("-") else f"${text}"


def count(x: int | float | None) -> str:
    """A count as a whole number with thousands separators: ``12345`` -> ``"12,345"``."""
    value = _finite(x, "a count")
    if value is None:
        return MISSING
    return _fixed(round(value), 0)


def ratio(x: float | None, digits: int = 2) -> str:
    """A ratio (Sharpe, Sortino, Calmar) with ``digits`` decimals: ``1.23456`` -> ``"1.23"``."""
    value = _finite(x, "a ratio")
    if value is None:
        return MISSING
    return _fixed(value, _digits(digits))


_FORMATTERS: dict[str, Callable[[float | None], str]] = {
    "pct": pct,
    "money": money,
    "count": count,
    "ratio": ratio,
}


def format_metric(key: str, value: float | int | None) -> str:
    """One metric of ``summary.json`` as people read it (see :data:`METRIC_FORMATS`)."""
    kind = METRIC_FORMATS.get(key)
    if kind is None:
        raise KeyError(f"unknown metric {key!r}; known metrics: {', '.join(METRIC_KEYS)}")
    try:
        return _FORMATTERS[kind](value)
    except TypeError as e:
        raise TypeError(f"metric {key!r}: {e}") from None


def column_label(name: str) -> str:
    """The readable name of a column: :data:`COLUMN_LABELS`, else ``snake_case`` -> ``Snake case``."""
    if name in COLUMN_LABELS:
        return COLUMN_LABELS[name]
    text = str(name).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def duration(seconds: float | None) -> str:
    """A span of time: ``75`` -> ``"1m 15s"``, ``3725`` -> ``"1h 02m 05s"``, ``90000`` ->
    ``"1d 01h 00m"``; negative, None or NaN -> :data:`MISSING`."""
    value = _finite(seconds, "a duration in seconds")
    if value is None or value < 0:
        return MISSING
    total = round(value)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h {minutes:02d}m"
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def timestamp(value: dt.datetime | dt.date | str | None) -> str:
    """A time as ``YYYY-MM-DD HH:MM UTC`` (a date, or a midnight UTC bar, as ``YYYY-MM-DD``)."""
    if value is None:
        return MISSING
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"not an ISO date or time: {value!r}") from None
    if isinstance(value, dt.datetime):
        if value is pd.NaT:  # pandas' missing time is a datetime subclass
            return MISSING
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        if (value.hour, value.minute, value.second, value.microsecond) == (0, 0, 0, 0):
            return value.strftime("%Y-%m-%d")
        return value.strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"a timestamp must be a datetime, date or ISO string, got {type(value).__name__}")


def text_table(columns: Mapping[str, Sequence[object]]) -> pd.DataFrame:
    """A table of text columns, object-typed even while empty: Tabulator keeps the formatter it
    picked for a column's first value (an empty float column, then text shown as NaN)."""
    return pd.DataFrame({k: pd.Series(list(v), dtype=object) for k, v in columns.items()})
