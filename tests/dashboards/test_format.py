"""Formatting for people: every expected string is written out by hand."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from dashboards.format import (
    COLUMN_LABELS,
    METRIC_LABELS,
    column_label,
    count,
    duration,
    format_metric,
    money,
    pct,
    ratio,
    timestamp,
)
from stockbot.backtest.metrics import METRIC_KEYS, TRADE_COLUMNS


def test_every_metric_has_a_readable_label() -> None:
    assert set(METRIC_LABELS) == set(METRIC_KEYS)
    assert METRIC_LABELS["total_return"] == "Total return"
    assert METRIC_LABELS["max_drawdown_duration_bars"] == "Longest drawdown (bars)"
    assert all("_" not in label for label in METRIC_LABELS.values())


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("total_return", 0.1234, "12.34%"),
        ("total_return", -0.05, "-5.00%"),
        ("cagr", 0.07891, "7.89%"),
        ("ann_vol", 0.2, "20.00%"),
        ("max_drawdown", -0.3456, "-34.56%"),
        ("exposure", 1.0, "100.00%"),
        ("win_rate", 0.5, "50.00%"),
        ("turnover", 12.5, "1,250.00%"),
        ("fees_paid", 1250.0, "$1,250.00"),
        ("fees_paid", 0.004, "$0.00"),
        ("fees_paid", 1234567.891, "$1,234,567.89"),
        ("n_trades", 12345, "12,345"),
        ("n_trades", 0, "0"),
        ("max_drawdown_duration_bars", 87, "87"),
        ("sharpe", 1.23456, "1.23"),
        ("sortino", -0.456, "-0.46"),
        ("calmar", 2.0, "2.00"),
        ("sharpe", None, "—"),
        ("win_rate", math.nan, "—"),
        ("total_return", math.inf, "—"),
        ("fees_paid", np.float64(10.5), "$10.50"),
        ("n_trades", np.int64(3), "3"),
    ],
)
def test_format_metric(key: str, value: float | int | None, expected: str) -> None:
    assert format_metric(key, value) == expected


def test_format_metric_refuses_unknown_keys_and_non_numbers() -> None:
    with pytest.raises(KeyError, match=r"'sharp'.*total_return"):
        format_metric("sharp", 1.0)
    with pytest.raises(TypeError, match=r"'sharpe'.*str"):
        format_metric("sharpe", "1.2")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"'n_trades'.*bool"):
        format_metric("n_trades", True)


def test_pct() -> None:
    assert pct(0.123456) == "12.35%"
    assert pct(0.123456, digits=1) == "12.3%"
    assert pct(0.5, digits=0) == "50%"
    assert pct(-0.00001) == "0.00%"  # no "-0.00%"
    assert pct(None) == "—"
    with pytest.raises(ValueError, match="digits"):
        pct(0.1, digits=-1)


def test_money() -> None:
    assert money(1250) == "$1,250.00"
    assert money(-3) == "-$3.00"
    assert money(100000) == "$100,000.00"
    assert money(-0.001) == "$0.00"
    assert money(float("nan")) == "—"


def test_count() -> None:
    assert count(1234567) == "1,234,567"
    assert count(2.6) == "3"
    assert count(None) == "—"


def test_ratio() -> None:
    assert ratio(1.005) in ("1.00", "1.01")  # binary float: 1.005 is 1.00499999...
    assert ratio(1.236) == "1.24"
    assert ratio(-12345.0) == "-12,345.00"


def test_column_labels() -> None:
    assert set(TRADE_COLUMNS) <= set(COLUMN_LABELS)
    assert column_label("timestamp") == "Time"
    assert column_label("decision_timestamp") == "Decided"
    assert column_label("qty") == "Quantity"
    assert column_label("benchmark_equity") == "Buy & hold equity"
    assert column_label("created_at") == "Created"
    assert column_label("sharpe") == "Sharpe"  # what traders say (and browser tests look for)
    assert column_label("some_new_column") == "Some new column"


def test_duration() -> None:
    assert duration(0) == "0s"
    assert duration(42.4) == "42s"
    assert duration(75) == "1m 15s"
    assert duration(3725) == "1h 02m 05s"
    assert duration(90000) == "1d 01h 00m"
    assert duration(-1) == "—"
    assert duration(None) == "—"


def test_timestamp() -> None:
    assert timestamp(pd.Timestamp("2017-04-03", tz="UTC")) == "2017-04-03"
    assert timestamp(dt.datetime(2026, 12, 2, 4, 47, 51, tzinfo=dt.UTC)) == "2026-12-02 04:47 UTC"
    assert timestamp("2026-12-02T05:47:00+01:00") == "2026-12-02 04:47 UTC"
    assert timestamp(dt.date(2017, 1, 2)) == "2017-01-02"
    assert timestamp(None) == "—"
    assert timestamp(pd.NaT) == "—"
    with pytest.raises(ValueError, match="not an ISO"):
        timestamp("yesterday")
