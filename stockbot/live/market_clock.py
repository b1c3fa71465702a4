"""A live session on the exchange's clock (``clock.kind: market``): today's daily bars from a feed,
decided on the exchange schedule (:mod:`stockbot.live.schedule`).

The session's first decision is fixed when it is created (the last session whose close plus the data
lag has passed, unless its orders would already be late, else the next session), so its warm-up
start, and with it every feature, never moves. Each bar is taken once its session has closed and the
data lag has passed; a bar still forming is never used. A bar that has not come by then is waited
for and, past ``stale_after_minutes``, reported as stale; when it comes after the next open its
decision is skipped (a decision is never sent into a session it was not sized for), but its fills
and marks are taken as they happened.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from stockbot.config import ClockConfig, DataConfig, LiveConfig
from stockbot.data import load_bars
from stockbot.data.loader import NETWORK_PROVIDERS
from stockbot.errors import ConfigError, DataError
from stockbot.live.schedule import DailySchedule, Decision


def schedule_of(clock: ClockConfig) -> DailySchedule:
    return DailySchedule(clock.calendar, dt.timedelta(minutes=clock.data_lag_minutes))


def check_feed(data: DataConfig) -> None:
    """A market clock needs a provider with today's bars."""
    if data.provider not in NETWORK_PROVIDERS:
        raise ConfigError.at(
            "data.provider",
            f"a market clock needs a feed with today's bars ({', '.join(sorted(NETWORK_PROVIDERS))}); "
            f"{data.provider!r} ends in the past: replay it with clock.kind 'replay'",
        )
    if data.interval != "1d":
        raise ConfigError.at("data.interval", "the market clock trades daily bars ('1d') for now")


def first_decision(config: LiveConfig, now: pd.Timestamp) -> dt.date:
    """The first session a new market session decides: the last one closed (plus the data lag) if
    its orders can still go out before the next open, else the next session."""
    schedule = schedule_of(config.clock)
    last = schedule.last_closed(now)
    if last is not None and not schedule.decision(last, now).late:
        return last
    day = schedule.local_date(now)
    return day if schedule.is_session(day) else schedule.next_session(day)


class MarketClock:
    def __init__(self, clock: ClockConfig, data: DataConfig, warmup_bars: int) -> None:
        check_feed(data)
        self.clock = clock
        self.schedule = schedule_of(clock)
        self.data = data.model_copy(update={"cache": False})  # every look asks the feed
        self.warmup_bars = warmup_bars
        if data.start is None:
            raise ConfigError.at("data.start", "a market session fixes its first decision day when it starts")
        self.first_day: dt.date = data.start

    def bars(self, now: pd.Timestamp) -> pd.DataFrame:
        """The feed's bars from the warm-up start through the last session closed by ``now``."""
        last = self.schedule.last_closed(now)
        if last is None:
            raise DataError(f"no session of {self.schedule.name} has closed by {now}")
        data = self.data.model_copy(update={"end": max(last, self.first_day)})
        bars = load_bars(data, warmup_bars=self.warmup_bars)
        stamps = bars.index.get_level_values("timestamp")
        return bars[stamps < pd.Timestamp(last + dt.timedelta(days=1), tz="UTC")]

    def session_of(self, times: pd.DatetimeIndex, k: int, first: int) -> dt.date:
        """The exchange session bar ``k`` belongs to (it may not be loaded yet)."""
        if k < len(times):
            return pd.Timestamp(times[k]).date()
        if k <= first:
            return self.first_day
        day = pd.Timestamp(times[k - 1]).date()
        for _ in range(k - len(times) + 1):
            day = self.schedule.next_session(day)
        return day

    def due(self, day: dt.date) -> pd.Timestamp:
        """When the bar of ``day`` is taken: its close plus the data lag."""
        return self.schedule.close(day) + self.schedule.data_lag

    def stale_at(self, day: dt.date) -> pd.Timestamp:
        return self.due(day) + pd.Timedelta(minutes=self.clock.stale_after_minutes)

    def decision(self, day: dt.date, now: pd.Timestamp) -> Decision:
        return self.schedule.decision(day, now)

    def fill_times(self, after: pd.Timestamp, n: int) -> list[pd.Timestamp]:
        """The next ``n`` bars' timestamps after the bar at ``after`` (the sessions to come)."""
        out: list[pd.Timestamp] = []
        day = pd.Timestamp(after).date()
        for _ in range(n):
            day = self.schedule.next_session(day)
            out.append(pd.Timestamp(day, tz="UTC"))
        return out
