"""The daily schedule on XNYS around Thanksgiving 2026 (closed 11-26, 13:00 ET close on 11-27), a
weekend and a missed open. Expected times are written out by hand (ET = UTC-5 in November)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from stockbot.live.schedule import DailySchedule

pytestmark = pytest.mark.timeout(60)
S = DailySchedule("XNYS", data_lag=dt.timedelta(minutes=15))


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="America/New_York").tz_convert("UTC")


def test_the_day_after_thanksgiving_closes_early_and_fills_monday() -> None:
    d = S.decision(dt.date(2026, 11, 27), utc("2026-11-27 13:20"))
    assert d.decide_at == utc("2026-11-27 13:15")  # early close 13:00 + 15 min
    assert d.fill_session == dt.date(2026, 11, 30) and d.fills_at == utc("2026-11-30 09:30")
    assert not d.late
    # at 13:10 the early close has been but not the lag; at 13:16 the 27th is the last closed bar
    assert S.last_closed(utc("2026-11-27 13:10")) == dt.date(2026, 11, 25)
    assert S.last_closed(utc("2026-11-27 13:16")) == dt.date(2026, 11, 27)


def test_a_holiday_is_no_session_and_the_day_before_fills_after_it() -> None:
    assert not S.is_session(dt.date(2026, 11, 26))
    d = S.decision(dt.date(2026, 11, 25), utc("2026-11-25 16:30"))
    assert d.decide_at == utc("2026-11-25 16:15") and d.fill_session == dt.date(2026, 11, 27)
    assert S.last_closed(utc("2026-11-26 12:00")) == dt.date(2026, 11, 25)  # on the holiday


def test_friday_fills_monday() -> None:
    d = S.decision(dt.date(2026, 12, 4), utc("2026-12-05 10:00"))
    assert d.fill_session == dt.date(2026, 12, 7) and not d.late
    assert S.last_closed(utc("2026-12-06 10:00")) == dt.date(2026, 12, 4)  # a Sunday


def test_a_decision_past_the_next_open_is_late() -> None:
    d = S.decision(dt.date(2026, 12, 1), utc("2026-12-02 09:30"))
    assert d.late and d.fills_at == utc("2026-12-02 09:30")
    assert not S.decision(dt.date(2026, 12, 1), utc("2026-12-02 09:29")).late
