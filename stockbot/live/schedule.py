"""When a live session decides and when its orders may go out, on an exchange calendar
(``exchange_calendars``; XNYS for US equities).

Daily bars: the bar of a session is decided once that session has closed and a data lag has passed
(late prints; free data plans embargo the last 15 minutes), and its orders must go out before the
next session opens, where they fill. A decision that misses that open is late: it is skipped and
logged, never sent into a session it was not sized for. Holidays and weekends are not sessions (a
Friday decision fills Monday; Thanksgiving has no session), early closes (the day after
Thanksgiving, Christmas Eve: 13:00 ET) move the decision earlier.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from stockbot.data.calendar import get_calendar


@dataclass(frozen=True, slots=True)
class Decision:
    """What the schedule says about one session's bar at a moment ``now``."""

    session: dt.date  # the bar's session (exchange date)
    decide_at: pd.Timestamp  # its close plus the data lag (UTC)
    fills_at: pd.Timestamp  # the next session's open (UTC), where its orders fill
    fill_session: dt.date
    late: bool  # now is past the next open: skip it


class DailySchedule:
    def __init__(self, calendar: str = "XNYS", data_lag: dt.timedelta = dt.timedelta(minutes=15)) -> None:
        self.name = calendar
        self.data_lag = data_lag

    def _cal(self, day: dt.date):  # type: ignore[no-untyped-def]
        return get_calendar(self.name, day - dt.timedelta(days=30))

    def local_date(self, now: pd.Timestamp) -> dt.date:
        """The exchange's calendar date at ``now``."""
        now = _utc(now)
        return now.tz_convert(self._cal(now.date()).tz).date()

    def is_session(self, day: dt.date) -> bool:
        return bool(self._cal(day).is_session(pd.Timestamp(day)))

    def close(self, session: dt.date) -> pd.Timestamp:
        return self._cal(session).session_close(pd.Timestamp(session)).tz_convert("UTC")

    def open(self, session: dt.date) -> pd.Timestamp:
        return self._cal(session).session_open(pd.Timestamp(session)).tz_convert("UTC")

    def next_session(self, session: dt.date) -> dt.date:
        cal = self._cal(session)
        ts = pd.Timestamp(session)
        nxt = cal.next_session(ts) if cal.is_session(ts) else cal.date_to_session(ts, direction="next")
        return nxt.date()

    def last_closed(self, now: pd.Timestamp) -> dt.date | None:
        """The latest session whose close plus the data lag is at or before ``now``."""
        now = _utc(now)
        cal = self._cal(now.date())
        day = now.tz_convert(cal.tz).date()
        ts = pd.Timestamp(day)
        session = ts if cal.is_session(ts) else cal.date_to_session(ts, direction="previous")
        for _ in range(10):
            if self.close(session.date()) + self.data_lag <= now:
                return session.date()
            session = cal.previous_session(session)
        return None

    def decision(self, session: dt.date, now: pd.Timestamp) -> Decision:
        """The decision of ``session``'s bar as seen at ``now``."""
        fill_session = self.next_session(session)
        fills_at = self.open(fill_session)
        return Decision(
            session=session,
            decide_at=self.close(session) + self.data_lag,
            fills_at=fills_at,
            fill_session=fill_session,
            late=_utc(now) >= fills_at,
        )


def _utc(ts: pd.Timestamp | dt.datetime) -> pd.Timestamp:
    t = pd.Timestamp(ts)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
