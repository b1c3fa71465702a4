"""Exchange trading calendars (``exchange_calendars``), cached per process."""

from __future__ import annotations

import datetime as dt
import warnings
from functools import lru_cache

import exchange_calendars as xcals
import pandas as pd

from stockbot.errors import DataError

_EARLIEST = dt.date(1990, 1, 2)


@lru_cache(maxsize=8)
def _calendar(name: str, first_year: int) -> xcals.ExchangeCalendar:
    try:
        with warnings.catch_warnings():
            # exchange_calendars 4.13 uses Series.values on tz-aware data (a pandas 3.1 deprecation)
            warnings.simplefilter("ignore", pd.errors.Pandas4Warning)
            return xcals.get_calendar(name, start=f"{first_year}-01-01")
    except xcals.errors.InvalidCalendarName as e:
        raise DataError(
            f"unknown exchange calendar {name!r}; use an exchange_calendars code such as XNYS, XNAS, XLON"
        ) from e


def get_calendar(name: str, since: dt.date | None = None) -> xcals.ExchangeCalendar:
    """The calendar ``name`` covering at least ``since`` onwards."""
    year = min((since or _EARLIEST).year, _EARLIEST.year)
    return _calendar(name, year)


def sessions(name: str, start: dt.date, end: dt.date) -> pd.DatetimeIndex:
    """Trading sessions from ``start`` to ``end`` inclusive, as tz-naive midnight dates."""
    cal = get_calendar(name, start)
    lo = max(pd.Timestamp(start), cal.first_session)
    hi = min(pd.Timestamp(end), cal.last_session)
    if hi < lo:
        return pd.DatetimeIndex([])
    return cal.sessions_in_range(lo, hi)


def sessions_before(name: str, day: dt.date, count: int) -> dt.date:
    """The session ``count`` sessions before ``day`` (``day`` itself when count is 0)."""
    if count <= 0:
        return day
    cal = get_calendar(name, day - dt.timedelta(days=2 * count + 10))
    ts = pd.Timestamp(day)
    if ts > cal.last_session:
        raise DataError(
            f"{day} is past the last session the {name} calendar knows ({cal.last_session.date()}): "
            "there are no bars that late"
        )
    if not cal.is_session(ts):
        ts = cal.date_to_session(ts, direction="next")
    idx = cal.sessions.get_loc(ts) - count
    if idx < 0:
        return cal.first_session.date()
    return cal.sessions[idx].date()


def timezone(name: str) -> str:
    return str(get_calendar(name).tz)
