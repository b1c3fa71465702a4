"""Validation of canonical bars (DESIGN.md §2): rules, ``on_invalid``, calendar gaps, alignment.

Rules, each checked per row: ``missing_value`` (NaN in OHLCV), ``non_positive_price``,
``negative_volume``, ``ohlc_inconsistent`` (low <= min(open, close) <= max(open, close) <= high),
``bad_adj_factor`` (factor not finite and positive), ``duplicate_timestamp`` and, for daily bars,
``non_session`` (a bar on a day the exchange was closed).

``on_invalid``: ``error`` raises a :class:`DataError` naming symbol, date and rule; ``drop`` removes
the rows; ``repair`` widens high/low to contain open and close, keeps the last of duplicated
timestamps and drops what cannot be repaired. Whatever is dropped or repaired is in the report.
Gaps are never filled: missing sessions are reported, and multi-symbol requests keep only the
timestamps every symbol has (inner join), with the dropped ones reported.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stockbot.data import calendar
from stockbot.data.report import DataReport, Issue
from stockbot.data.schema import PRICE_COLUMNS, local_dates
from stockbot.errors import DataError

RULES = (
    "missing_value",
    "non_positive_price",
    "negative_volume",
    "ohlc_inconsistent",
    "bad_adj_factor",
    "duplicate_timestamp",
    "non_session",
)
REPAIRABLE = {"ohlc_inconsistent", "duplicate_timestamp"}
_SHOW = 10


def _rule_masks(bars: pd.DataFrame, interval: str, calendar_name: str) -> dict[str, np.ndarray]:
    o, h, lo, c = (bars[k].to_numpy() for k in PRICE_COLUMNS)
    v = bars["volume"].to_numpy()
    f = bars["adj_factor"].to_numpy()
    ohlcv = bars[[*PRICE_COLUMNS, "volume"]].to_numpy()
    missing = np.isnan(ohlcv).any(axis=1)
    with np.errstate(invalid="ignore"):
        masks = {
            "missing_value": missing,
            "non_positive_price": ~missing & (np.minimum.reduce([o, h, lo, c]) <= 0),
            "negative_volume": ~missing & (v < 0),
            "ohlc_inconsistent": ~missing & ((lo > np.minimum(o, c)) | (np.maximum(o, c) > h)),
            "bad_adj_factor": ~(np.isfinite(f) & (f > 0)),
        }
    masks["duplicate_timestamp"] = bars.index.duplicated(keep="last")
    if interval == "1d" and len(bars):
        days = bars.index.get_level_values("timestamp").tz_localize(None)
        valid = calendar.sessions(calendar_name, days.min().date(), days.max().date())
        masks["non_session"] = ~days.isin(valid)
    else:
        masks["non_session"] = np.zeros(len(bars), dtype=bool)
    return masks


def _detail(rule: str, row: pd.Series) -> str:
    if rule in ("ohlc_inconsistent", "non_positive_price"):
        return "open={open:.6g} high={high:.6g} low={low:.6g} close={close:.6g}".format(**row)
    if rule == "negative_volume":
        return f"volume={row['volume']:.6g}"
    if rule == "missing_value":
        empty = [k for k in (*PRICE_COLUMNS, "volume") if pd.isna(row[k])]
        return f"empty: {', '.join(empty)}"
    if rule == "bad_adj_factor":
        return f"adj_factor={row['adj_factor']:.6g} (adj_close/close must be finite and > 0)"
    if rule == "duplicate_timestamp":
        return "the same timestamp appears again later; the last one is kept"
    return "the exchange calendar has no session on this day"


def validate_bars(
    bars: pd.DataFrame,
    *,
    on_invalid: str,
    interval: str,
    calendar_name: str,
    report: DataReport,
) -> pd.DataFrame:
    """Apply the rules; return the kept (and possibly repaired) bars, recording issues in ``report``."""
    if on_invalid not in ("error", "drop", "repair"):
        raise DataError(f"on_invalid must be one of error, drop, repair; got {on_invalid!r}")
    if bars.empty:
        return bars
    masks = _rule_masks(bars, interval, calendar_name)
    any_bad = np.logical_or.reduce(list(masks.values()))
    if not any_bad.any():
        return bars

    found: list[tuple[int, str]] = [(int(i), rule) for rule in RULES for i in np.flatnonzero(masks[rule])]
    found.sort()
    if on_invalid == "error":
        issues = [_issue(bars, i, rule, "error") for i, rule in found]
        shown = "\n  ".join(x.describe() for x in issues[:_SHOW])
        more = f"\n  ... and {len(issues) - _SHOW} more" if len(issues) > _SHOW else ""
        raise DataError(
            f"{report.source}: {len(issues)} invalid bar(s):\n  {shown}{more}\n"
            "Fix the source, or set data.on_invalid to 'drop' (remove them) or 'repair' "
            "(widen high/low, keep the last duplicate; the rest is dropped). Either is reported."
        )

    keep = np.ones(len(bars), dtype=bool)
    repair_ohlc = np.zeros(len(bars), dtype=bool)
    rows_rules: dict[int, list[str]] = {}
    for i, rule in found:
        rows_rules.setdefault(i, []).append(rule)
    for i, rules in rows_rules.items():
        fixable = on_invalid == "repair" and all(r in REPAIRABLE for r in rules)
        for rule in rules:
            if fixable and rule == "ohlc_inconsistent":
                repair_ohlc[i] = True
                report.issues.append(_issue(bars, i, rule, "repaired"))
            else:
                keep[i] = False
                report.issues.append(_issue(bars, i, rule, "dropped"))
    out = bars.copy()
    if repair_ohlc.any():
        prices = out[list(PRICE_COLUMNS)].to_numpy()
        out.loc[repair_ohlc, "high"] = prices[repair_ohlc].max(axis=1)
        out.loc[repair_ohlc, "low"] = prices[repair_ohlc].min(axis=1)
    return out[keep]


def _issue(bars: pd.DataFrame, i: int, rule: str, action: str) -> Issue:
    ts, sym = bars.index[i]
    return Issue(str(sym), pd.Timestamp(ts), rule, _detail(rule, bars.iloc[i]), action)


def find_gaps(bars: pd.DataFrame, *, interval: str, calendar_name: str, report: DataReport) -> None:
    """Record sessions with no bar between each symbol's first and last bar (never filled)."""
    if bars.empty:
        return
    for sym, frame in bars.groupby(level="symbol", sort=False):
        stamps = frame.index.get_level_values("timestamp")
        dates = local_dates(stamps, calendar.timezone(calendar_name)).unique()
        expected = calendar.sessions(calendar_name, dates.min().date(), dates.max().date())
        missing = expected.difference(dates)
        if len(missing):
            report.missing_sessions[str(sym)] = [d.date().isoformat() for d in missing]


def align_symbols(bars: pd.DataFrame, report: DataReport) -> pd.DataFrame:
    """Keep only timestamps every symbol has (inner join); record what was dropped per symbol."""
    if bars.empty:
        return bars
    symbols = bars.index.get_level_values("symbol")
    n_symbols = symbols.nunique()
    if n_symbols == 1:
        return bars
    stamps = bars.index.get_level_values("timestamp")
    counts = pd.Series(1, index=stamps).groupby(level=0).size()
    full = counts.index[counts.to_numpy() == n_symbols]
    keep = stamps.isin(full)
    if keep.all():
        return bars
    dropped = bars.index[~keep]
    for sym in pd.unique(dropped.get_level_values("symbol")):
        ts = dropped[dropped.get_level_values("symbol") == sym].get_level_values("timestamp")
        report.alignment_dropped[str(sym)] = [t.isoformat() for t in ts]
    return bars[keep]
