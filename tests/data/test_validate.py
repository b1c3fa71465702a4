"""Validation on load (DESIGN.md §2) with real bad rows and real calendars."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stockbot.config import DataConfig
from stockbot.data import load_bars, load_bars_with_report
from stockbot.errors import DataError

pytestmark = pytest.mark.timeout(60)

FIXTURE = Path(__file__).parent / "fixtures" / "spy_2015-03_original.csv"


def csv_config(path: Path, **kw: object) -> DataConfig:
    return DataConfig(provider="csv", path=path, symbols=None, **kw)


def test_original_spy_rows_fail_with_symbol_date_and_rule() -> None:
    with pytest.raises(DataError) as e:
        load_bars(csv_config(FIXTURE))
    msg = str(e.value)
    assert "2 invalid bar(s)" in msg
    assert "SPY 2015-03-05: ohlc_inconsistent" in msg
    assert "SPY 2015-03-30: ohlc_inconsistent" in msg
    assert "on_invalid" in msg


def test_drop_removes_and_reports_them() -> None:
    bars, report = load_bars_with_report(csv_config(FIXTURE, on_invalid="drop"))
    days = {t.date().isoformat() for t in bars.index.get_level_values("timestamp")}
    assert "2015-03-05" not in days and "2015-03-30" not in days
    assert [(i.rule, i.action) for i in report.dropped] == [("ohlc_inconsistent", "dropped")] * 2
    # the dropped sessions are now gaps, reported against the NYSE calendar (never filled)
    assert report.missing_sessions == {"SPY": ["2015-03-05", "2015-03-30"]}


def test_repair_widens_high_low_to_contain_open_and_close() -> None:
    src = pd.read_csv(FIXTURE)
    bars, report = load_bars_with_report(csv_config(FIXTURE, on_invalid="repair", adjust=False))
    assert len(bars) == len(src)
    assert [i.action for i in report.repaired] == ["repaired", "repaired"]
    row = bars.xs(pd.Timestamp("2015-03-05", tz="UTC"), level="timestamp").iloc[0]
    raw = src[src["date"] == "2015-03-05"].iloc[0]
    assert row["low"] == min(raw["low"], raw["open"], raw["close"]) == raw["open"]
    assert row["high"] == raw["high"]
    lo = np.minimum(bars["open"], bars["close"])
    hi = np.maximum(bars["open"], bars["close"])
    assert ((bars["low"] <= lo) & (hi <= bars["high"])).all()


def test_bundled_spy_is_the_repaired_copy() -> None:
    bars, report = load_bars_with_report(DataConfig(dataset="spy", symbols=["SPY"]))
    assert report.is_clean()
    assert len(bars) == 2519
    repairs = (Path(__file__).parents[2] / "stockbot" / "data" / "sample" / "REPAIRS.md").read_text()
    assert "2015-03-05" in repairs and "2015-03-30" in repairs


def _write(tmp_path: Path, frame: pd.DataFrame) -> Path:
    path = tmp_path / "bars.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("column", "value", "rule"),
    [
        ("close", np.nan, "missing_value"),
        ("open", -1.0, "non_positive_price"),
        ("volume", -5.0, "negative_volume"),
        ("adj_close", 0.0, "bad_adj_factor"),
        ("adj_close", np.nan, "bad_adj_factor"),  # never silently unadjusted among adjusted rows
    ],
)
def test_each_rule_is_named(tmp_path: Path, column: str, value: float, rule: str) -> None:
    frame = pd.read_csv(FIXTURE)
    frame = frame[~frame["date"].isin(["2015-03-05", "2015-03-30"])].copy()
    frame.loc[frame.index[3], column] = value
    day = frame.loc[frame.index[3], "date"]
    with pytest.raises(DataError, match=rf"SPY {day}: {rule}"):
        load_bars(csv_config(_write(tmp_path, frame)))
    bars, report = load_bars_with_report(csv_config(_write(tmp_path, frame), on_invalid="repair"))
    # one row, dropped (not repairable); a bad value can break more than one rule at once
    assert rule in {i.rule for i in report.issues}
    assert {(i.timestamp.date().isoformat(), i.action) for i in report.issues} == {(day, "dropped")}
    assert len(bars) == len(frame) - 1


def test_duplicates_and_non_sessions(tmp_path: Path) -> None:
    frame = pd.read_csv(FIXTURE)
    frame = frame[~frame["date"].isin(["2015-03-05", "2015-03-30"])]
    dup = frame.iloc[[4]].assign(close=frame.iloc[4]["close"] * 1.0001)
    weekend = frame.iloc[[5]].assign(date="2015-03-14")  # a Saturday
    bad = pd.concat([frame, dup, weekend], ignore_index=True)
    with pytest.raises(DataError) as e:
        load_bars(csv_config(_write(tmp_path, bad)))
    assert "duplicate_timestamp" in str(e.value) and "SPY 2015-03-14: non_session" in str(e.value)
    bars, report = load_bars_with_report(csv_config(_write(tmp_path, bad), on_invalid="repair"))
    assert bars.index.is_unique
    kept = bars.xs(pd.Timestamp(frame.iloc[4]["date"], tz="UTC"), level="timestamp")["raw_close"].iloc[0]
    assert kept == dup["close"].iloc[0]  # the later delivery wins
    assert {i.rule for i in report.issues} == {"duplicate_timestamp", "non_session"}


def test_gaps_are_reported_against_the_exchange_calendar(tmp_path: Path) -> None:
    frame = pd.read_csv(FIXTURE)
    _, clean = load_bars_with_report(csv_config(FIXTURE, on_invalid="repair"))
    assert clean.missing_sessions == {}  # weekends are not gaps
    frame = frame[~frame["date"].isin(["2015-03-17", "2015-03-18"])]
    bars, report = load_bars_with_report(csv_config(_write(tmp_path, frame), on_invalid="repair"))
    assert report.missing_sessions == {"SPY": ["2015-03-17", "2015-03-18"]}
    days = [t.date().isoformat() for t in bars.index.get_level_values("timestamp")]
    assert "2015-03-17" not in days  # never filled


def test_exchange_holidays_are_not_gaps() -> None:
    # wiki5 spans 2001-09-11..14 (NYSE closed) and Hurricane Sandy (2012-10-29/30)
    _, report = load_bars_with_report(DataConfig(dataset="wiki5", symbols=["IBM"]))
    assert report.missing_sessions == {}


def test_multi_symbol_inner_join_is_reported() -> None:
    bars, report = load_bars_with_report(DataConfig(dataset="wiki5", symbols=["AAPL", "FB", "IBM"]))
    per_symbol = bars.groupby(level="symbol").size()
    assert per_symbol.nunique() == 1 and per_symbol.iloc[0] == 196  # FB's history since its IPO
    first = bars.index.get_level_values("timestamp").min()
    assert first == pd.Timestamp("2012-05-18", tz="UTC")
    assert set(report.alignment_dropped) == {"AAPL", "IBM"}
    assert len(report.alignment_dropped["AAPL"]) == 3270 - 196
    assert "timestamps dropped to align symbols" in report.summary()
