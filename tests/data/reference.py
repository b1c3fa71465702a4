"""Expected bars for the provider tests, computed from the bundled dow29 CSV with pandas alone.

``adjusted=True`` (Alpaca, yfinance): total-return adjusted, adj_factor = adj_close/close, OHLC = raw
OHLC * adj_factor, volume = volume / adj_factor, raw_close = close. ``adjusted=False`` (Schwab, whose
candles carry no adjusted close): the raw OHLCV with adj_factor 1.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd


def reference_bars(
    csv: pd.DataFrame, symbols: list[str], start: dt.date, end: dt.date, *, adjusted: bool
) -> pd.DataFrame:
    """Canonical bars of ``symbols`` from ``start`` to ``end`` inclusive."""
    rows = csv[
        csv["tic"].isin(symbols) & (csv["date"] >= start.isoformat()) & (csv["date"] <= end.isoformat())
    ]
    factor = (rows["adj_close"] / rows["close"]).to_numpy() if adjusted else np.ones(len(rows))
    index = pd.MultiIndex.from_arrays(
        [
            pd.DatetimeIndex(pd.to_datetime(rows["date"].to_numpy())).tz_localize("UTC").as_unit("ns"),
            rows["tic"].to_numpy(),
        ],
        names=["timestamp", "symbol"],
    )
    out = pd.DataFrame(
        {
            "open": rows["open"].to_numpy(float) * factor,
            "high": rows["high"].to_numpy(float) * factor,
            "low": rows["low"].to_numpy(float) * factor,
            "close": rows["close"].to_numpy(float) * factor,
            "volume": rows["volume"].to_numpy(float) / factor,
            "raw_close": rows["close"].to_numpy(float),
            "adj_factor": factor,
        },
        index=index,
    )
    return out.sort_index()


def assert_same_bars(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-12, atol=0)
    assert list(got.index.names) == ["timestamp", "symbol"]
    assert str(got.index.get_level_values("timestamp").dtype) == "datetime64[ns, UTC]"


# ---------------------------------------------------------------------- checks every provider passes

DAILY_RANGE = (dt.date(2017, 1, 3), dt.date(2017, 6, 29))  # spans the March DST change
# 2017-01-01 is a Sunday (and the 2nd a holiday); 2017-02-04 a Saturday
WEEKEND_RANGE = (dt.date(2017, 1, 1), dt.date(2017, 2, 4))
GAP_RANGE = (dt.date(2017, 2, 1), dt.date(2017, 2, 28))
GAP_DAY = "2017-02-15"


def assert_daily_panel(bars: pd.DataFrame, csv: pd.DataFrame, symbols: list[str], *, adjusted: bool) -> int:
    """``bars`` of ``symbols`` over :data:`DAILY_RANGE` are the CSV's, canonical, 00:00 UTC daily
    stamps, inclusive at both ends, the same sessions for every symbol; returns how many sessions."""
    from stockbot.data.schema import BAR_COLUMNS

    start, end = DAILY_RANGE
    assert list(bars.columns) == list(BAR_COLUMNS)
    assert all(bars[c].dtype == np.float64 for c in BAR_COLUMNS)
    expected = reference_bars(csv, symbols, start, end, adjusted=adjusted)
    assert_same_bars(bars, expected)
    stamps = bars.index.get_level_values("timestamp")
    assert (stamps == stamps.normalize()).all(), "daily bars are stamped 00:00 UTC"
    assert stamps.min().date() == start
    assert stamps.max().date() == end
    per_symbol = {s: set(g.index.get_level_values("timestamp")) for s, g in bars.groupby(level="symbol")}
    sessions = per_symbol[symbols[0]]
    assert all(s == sessions for s in per_symbol.values())
    assert len(sessions) == len(expected) // len(symbols)
    return len(sessions)


def assert_weekend_edges(provider: object, csv: pd.DataFrame, *, adjusted: bool) -> None:
    """A provider's own ``bars`` over :data:`WEEKEND_RANGE`: first and last sessions inside it."""
    bars = provider.bars(["KO"], *WEEKEND_RANGE, "1d")  # type: ignore[attr-defined]
    assert_same_bars(bars, reference_bars(csv, ["KO"], *WEEKEND_RANGE, adjusted=adjusted))
    stamps = bars.index.get_level_values("timestamp")
    assert stamps.min() == pd.Timestamp("2017-01-03", tz="UTC")
    assert stamps.max() == pd.Timestamp("2017-02-03", tz="UTC")


def without_gap_day(csv: pd.DataFrame, symbol: str) -> pd.DataFrame:
    """The CSV as a vendor that lacks :data:`GAP_DAY` for ``symbol`` serves it."""
    return csv[~((csv["tic"] == symbol) & (csv["date"] == GAP_DAY))]


def assert_gap_aligned(
    bars: pd.DataFrame, csv: pd.DataFrame, symbols: list[str], kept: str, *, adjusted: bool
) -> None:
    """Bars over :data:`GAP_RANGE` lack :data:`GAP_DAY` for every symbol, reported as dropped for
    ``kept`` (the symbol that had it)."""
    expected = reference_bars(csv, symbols, *GAP_RANGE, adjusted=adjusted).drop(
        pd.Timestamp(GAP_DAY, tz="UTC"), level="timestamp"
    )
    assert_same_bars(bars, expected)
    assert bars.attrs["data_report"]["alignment_dropped"] == {kept: [f"{GAP_DAY}T00:00:00+00:00"]}
