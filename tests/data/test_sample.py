"""The bundled sample data in the canonical shape, values checked against the raw CSV."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stockbot.config import DataConfig
from stockbot.data import BAR_COLUMNS, load_bars, load_bars_with_report
from stockbot.data.providers.sample import sample_path
from stockbot.errors import DataError

pytestmark = pytest.mark.timeout(60)


def test_canonical_shape(dow29_bars: pd.DataFrame) -> None:
    assert list(dow29_bars.columns) == list(BAR_COLUMNS)
    assert dow29_bars.index.names == ["timestamp", "symbol"]
    ts = dow29_bars.index.get_level_values("timestamp")
    assert str(ts.dtype) == "datetime64[ns, UTC]"
    assert (ts == ts.normalize()).all()  # daily bars at 00:00 UTC of the session date
    assert (dow29_bars.dtypes == "float64").all()
    assert dow29_bars.index.is_monotonic_increasing and dow29_bars.index.is_unique
    assert dow29_bars.shape == (36540, 7)
    assert dow29_bars.index.get_level_values("symbol").nunique() == 29


def test_total_return_adjustment_against_the_csv(dow29_bars: pd.DataFrame, sample_csv: Path) -> None:
    src = pd.read_csv(sample_csv)
    src = src.set_index([pd.to_datetime(src["date"]).dt.tz_localize("UTC"), "tic"]).sort_index()
    src.index.names = ["timestamp", "symbol"]
    factor = src["adj_close"] / src["close"]
    got = dow29_bars.loc[src.index]
    for col in ("open", "high", "low", "close"):
        np.testing.assert_allclose(got[col], src[col] * factor, rtol=1e-13)
    np.testing.assert_allclose(got["close"], src["adj_close"], rtol=1e-13)
    np.testing.assert_allclose(got["volume"], src["volume"] / factor, rtol=1e-13)
    np.testing.assert_array_equal(got["raw_close"], src["close"])
    np.testing.assert_allclose(got["adj_factor"], factor, rtol=1e-15)


def test_adjust_false_keeps_source_prices(sample_csv: Path) -> None:
    bars = load_bars(DataConfig(symbols=["AAPL"], adjust=False))
    src = pd.read_csv(sample_csv).query("tic == 'AAPL'")
    np.testing.assert_array_equal(bars["close"].to_numpy(), src["close"].to_numpy())
    assert (bars["adj_factor"] == 1.0).all()


def test_wiki5_split_shows_in_raw_close_not_in_adjusted_close() -> None:
    bars = load_bars(DataConfig(dataset="wiki5", symbols=["AAPL"], start="2005-02-24", end="2005-03-03"))
    close = bars.xs("AAPL", level="symbol")
    raw_jump = close["raw_close"].pct_change().min()
    adj_jump = close["close"].pct_change().abs().max()
    assert raw_jump < -0.45  # the 2:1 split of 2005-02-28 halves the raw price
    assert adj_jump < 0.1  # the adjusted series is continuous


def test_date_range_is_inclusive_and_symbols_selectable() -> None:
    bars = load_bars(DataConfig(symbols=["MSFT", "AAPL"], start="2015-01-02", end="2015-01-09"))
    days = bars.index.get_level_values("timestamp").unique()
    assert days[0] == pd.Timestamp("2015-01-02", tz="UTC") and days[-1] == pd.Timestamp(
        "2015-01-09", tz="UTC"
    )
    assert sorted(bars.index.get_level_values("symbol").unique()) == ["AAPL", "MSFT"]


def test_warmup_bars_loads_sessions_before_start() -> None:
    bars = load_bars(DataConfig(symbols=["AAPL"], start="2015-01-02", end="2015-01-09"), warmup_bars=5)
    first = bars.index.get_level_values("timestamp")[0]
    assert first == pd.Timestamp("2014-12-24", tz="UTC")  # 5 NYSE sessions back (25 Dec closed)


def test_unknown_symbol_and_dataset_are_named() -> None:
    with pytest.raises(DataError, match=r"symbols \['TSLA'\] are not in dow29.csv.gz; available: AAPL"):
        load_bars(DataConfig(symbols=["TSLA"]))
    with pytest.raises(DataError, match="choose one of dow29, spy, wiki5"):
        sample_path("nasdaq")


def test_empty_range_is_an_error() -> None:
    with pytest.raises(DataError, match="no bars for AAPL from 2020-01-01 to 2020-02-01"):
        load_bars(DataConfig(symbols=["AAPL"], start="2020-01-01", end="2020-02-01"))


def test_report_travels_with_the_bars() -> None:
    bars = load_bars(DataConfig(dataset="wiki5", symbols=["AAPL", "GOOG"]))
    assert bars.attrs["data_report"]["alignment_dropped"]["AAPL"]
    _, report = load_bars_with_report(DataConfig(symbols=["AAPL"]))
    assert report.is_clean()
