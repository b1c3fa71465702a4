"""The csv/parquet providers: a user's own long-format files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stockbot.config import DataConfig
from stockbot.data import load_bars
from stockbot.errors import DataError

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def long_frame(sample_csv: Path) -> pd.DataFrame:
    df = pd.read_csv(sample_csv).query("tic in ['KO', 'PG']")
    return df.rename(columns={"date": "timestamp", "tic": "symbol"})


def test_csv_and_parquet_agree_with_the_sample(tmp_path: Path, long_frame: pd.DataFrame) -> None:
    long_frame.to_csv(tmp_path / "b.csv", index=False)
    long_frame.to_parquet(tmp_path / "b.parquet", index=False)
    a = load_bars(DataConfig(provider="csv", path=tmp_path / "b.csv", symbols=None))
    b = load_bars(DataConfig(provider="parquet", path=tmp_path / "b.parquet", symbols=None))
    c = load_bars(DataConfig(provider="sample", symbols=["KO", "PG"]))
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(a, c)


def test_without_adj_close_prices_are_unadjusted(tmp_path: Path, long_frame: pd.DataFrame) -> None:
    long_frame.drop(columns="adj_close").to_csv(tmp_path / "b.csv", index=False)
    bars = load_bars(DataConfig(provider="csv", path=tmp_path / "b.csv", symbols=["KO"]))
    assert (bars["adj_factor"] == 1.0).all()
    np.testing.assert_array_equal(bars["close"], long_frame.query("symbol == 'KO'")["close"])


def test_timezone_aware_timestamps_map_to_session_dates(tmp_path: Path, long_frame: pd.DataFrame) -> None:
    frame = long_frame.copy()
    # a vendor that stamps daily bars at New York midnight (05:00 UTC in winter)
    frame["timestamp"] = (
        pd.to_datetime(frame["timestamp"]).dt.tz_localize("America/New_York").dt.tz_convert("UTC").astype(str)
    )
    frame.to_csv(tmp_path / "b.csv", index=False)
    bars = load_bars(DataConfig(provider="csv", path=tmp_path / "b.csv", symbols=["PG"]))
    expected = pd.to_datetime(long_frame.query("symbol == 'PG'")["timestamp"]).dt.tz_localize("UTC")
    assert list(bars.index.get_level_values("timestamp")) == list(expected)


def test_missing_columns_are_listed(tmp_path: Path, long_frame: pd.DataFrame) -> None:
    long_frame.drop(columns=["volume", "low"]).to_csv(tmp_path / "b.csv", index=False)
    with pytest.raises(DataError, match=r"missing columns \['low', 'volume'\]"):
        load_bars(DataConfig(provider="csv", path=tmp_path / "b.csv", symbols=None))


def test_bad_cells_name_the_row(tmp_path: Path, long_frame: pd.DataFrame) -> None:
    frame = long_frame.reset_index(drop=True).astype({"close": object, "timestamp": object})
    frame.loc[7, "close"] = "twelve"
    frame.to_csv(tmp_path / "b.csv", index=False)
    with pytest.raises(DataError, match=r"column 'close' must be numeric; row 7 has 'twelve'"):
        load_bars(DataConfig(provider="csv", path=tmp_path / "b.csv", symbols=None))
    frame.loc[7, "close"] = 1.0
    frame.loc[3, "timestamp"] = "yesterday-ish"
    frame.to_csv(tmp_path / "b.csv", index=False)
    with pytest.raises(DataError, match="timestamp is not a date/time at row 3: 'yesterday-ish'"):
        load_bars(DataConfig(provider="csv", path=tmp_path / "b.csv", symbols=None))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found"):
        load_bars(DataConfig(provider="csv", path=tmp_path / "nope.csv", symbols=None))


def test_a_day_past_the_calendar_is_a_data_error_not_a_vendor_one() -> None:
    from stockbot.data.calendar import get_calendar, sessions_before

    last = get_calendar("XNYS").last_session.date()
    with pytest.raises(DataError, match="past the last session the XNYS calendar knows"):
        sessions_before("XNYS", last + dt.timedelta(days=30), 10)
    assert sessions_before("XNYS", last, 0) == last
