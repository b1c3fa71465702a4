"""The one in-memory shape of bars (DESIGN.md §2) and the conversion into it.

Providers return a *raw* long frame: ``timestamp, symbol, open, high, low, close, volume`` and
``adj_close`` (NaN where the source has no adjusted close). :func:`to_canonical` turns it into the
frame every other part uses: indexed by ``(timestamp, symbol)`` with UTC timestamps, float64 columns
``open, high, low, close, volume, raw_close, adj_factor``.

Adjustment: with ``adj_factor = adj_close / close``, open/high/low/close are multiplied by the
factor (total-return adjusted, so trading and marking include dividends) and volume is divided by it
(dollar volume is kept). ``raw_close`` is the source's close before that scaling.
Daily bars are stamped with their session date at 00:00 UTC, whatever time of day the vendor used.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stockbot.errors import DataError

PRICE_COLUMNS = ("open", "high", "low", "close")
BAR_COLUMNS = ("open", "high", "low", "close", "volume", "raw_close", "adj_factor")
RAW_COLUMNS = ("timestamp", "symbol", "open", "high", "low", "close", "volume", "adj_close")
INDEX_NAMES = ("timestamp", "symbol")


def empty_raw() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in RAW_COLUMNS})
    frame["timestamp"] = pd.Series(dtype="datetime64[ns, UTC]")
    frame["symbol"] = pd.Series(dtype="object")
    return frame


def empty_bars() -> pd.DataFrame:
    index = pd.MultiIndex.from_arrays(
        [pd.DatetimeIndex([], tz="UTC", dtype="datetime64[ns, UTC]"), pd.Index([], dtype=object)],
        names=INDEX_NAMES,
    )
    return pd.DataFrame({c: pd.Series(dtype="float64") for c in BAR_COLUMNS}, index=index)


def to_utc(values: pd.Series | pd.Index, *, source: str) -> pd.DatetimeIndex:
    """Parse timestamps; tz-naive values are taken as UTC. Errors name the first bad row."""
    series = pd.Series(values)
    try:
        parsed = pd.to_datetime(series, utc=True, format="mixed")
    except (ValueError, TypeError) as e:
        bad = next(
            (i for i, v in enumerate(series) if pd.isna(pd.to_datetime(v, errors="coerce"))),
            None,
        )
        where = f"row {bad}: {series.iloc[bad]!r}" if bad is not None else str(e)
        raise DataError(f"{source}: timestamp is not a date/time at {where}") from e
    if parsed.isna().any():
        bad = int(np.flatnonzero(parsed.isna().to_numpy())[0])
        raise DataError(f"{source}: timestamp is empty at row {bad}")
    return pd.DatetimeIndex(parsed).as_unit("ns")


def local_dates(ts: pd.DatetimeIndex | pd.Series, exchange_tz: str) -> pd.DatetimeIndex:
    """The trading date of each UTC timestamp, tz-naive at midnight.

    A timestamp at exactly 00:00 UTC is a plain date stamp (files, and StockBot's own daily bars)
    and is its own date; any other time is converted to the exchange's time zone first, so a vendor
    that stamps daily bars at local midnight (05:00 UTC) gets the right session.
    """
    idx = pd.DatetimeIndex(ts)
    if idx.tz is None:
        idx = idx.tz_localize("UTC")
    idx = idx.tz_convert("UTC")
    naive = idx.tz_localize(None)
    local = idx.tz_convert(exchange_tz).tz_localize(None)
    midnight = naive == naive.normalize()
    return pd.DatetimeIndex(naive.normalize().where(midnight, local.normalize()))


def coerce_numeric(values: pd.Series, column: str, source: str) -> pd.Series:
    """float64 values; a cell that is present but not a number is an error naming its row."""
    numeric = pd.to_numeric(values, errors="coerce")
    bad = numeric.isna() & values.notna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(f"{source}: column {column!r} must be numeric; row {i} has {values.iloc[i]!r}")
    return numeric.astype("float64")


def session_dates(ts: pd.DatetimeIndex, exchange_tz: str) -> pd.DatetimeIndex:
    """Daily-bar stamps: the trading date of each timestamp, at 00:00 UTC."""
    return local_dates(ts, exchange_tz).tz_localize("UTC").as_unit("ns")


def to_canonical(
    raw: pd.DataFrame, *, interval: str, exchange_tz: str, adjust: bool, source: str
) -> pd.DataFrame:
    """Convert a provider's raw long frame into the canonical bars frame (not yet validated)."""
    missing = [c for c in RAW_COLUMNS if c not in raw.columns and c != "adj_close"]
    if missing:
        raise DataError(f"{source}: missing columns {missing}; expected {list(RAW_COLUMNS)}")
    if raw.empty:
        return empty_bars()
    frame = pd.DataFrame(index=pd.RangeIndex(len(raw)))
    ts = to_utc(raw["timestamp"].reset_index(drop=True), source=source)
    frame["timestamp"] = session_dates(ts, exchange_tz) if interval == "1d" else ts
    frame["symbol"] = raw["symbol"].astype(str).str.upper().to_numpy()
    for col in ("open", "high", "low", "close", "volume", "adj_close"):
        values = raw[col] if col in raw.columns else pd.Series(np.nan, index=raw.index)
        frame[col] = coerce_numeric(values.reset_index(drop=True), col, source)
    close = frame["close"]
    has_adj = adjust and bool(frame["adj_close"].notna().any())
    factor = frame["adj_close"] / close if has_adj else pd.Series(1.0, index=frame.index)
    # a bad factor is flagged by validation (bad_adj_factor); its row keeps the source prices
    scale = factor.where(np.isfinite(factor) & (factor > 0), 1.0)
    frame["raw_close"] = close
    frame["adj_factor"] = factor.astype("float64")
    for col in PRICE_COLUMNS:
        frame[col] = frame[col] * scale
    frame["volume"] = frame["volume"] / scale
    frame = frame.drop(columns="adj_close")
    frame = frame.set_index(list(INDEX_NAMES)).sort_index(kind="stable")
    return frame[list(BAR_COLUMNS)]


def symbols_of(bars: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(bars.index.get_level_values("symbol")))
