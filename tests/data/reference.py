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
