"""Shared helpers for network providers: request windows and error wording."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from stockbot.data import calendar
from stockbot.data.schema import local_dates


def utc_window(start: dt.date, end: dt.date, calendar_name: str) -> tuple[dt.datetime, dt.datetime]:
    """[start 00:00, end+1 00:00) in the exchange's time zone, as UTC datetimes."""
    tz = calendar.timezone(calendar_name)
    lo = pd.Timestamp(start).tz_localize(tz).tz_convert("UTC")
    hi = (pd.Timestamp(end) + pd.Timedelta(days=1)).tz_localize(tz).tz_convert("UTC")
    return lo.to_pydatetime(), hi.to_pydatetime()


def within_dates(raw: pd.DataFrame, start: dt.date, end: dt.date, calendar_name: str) -> pd.DataFrame:
    """Rows whose exchange-local date is in [start, end]."""
    if raw.empty:
        return raw
    days = local_dates(pd.to_datetime(raw["timestamp"], utc=True), calendar.timezone(calendar_name))
    keep = (days >= pd.Timestamp(start)) & (days <= pd.Timestamp(end))
    return raw[keep].reset_index(drop=True)


def http_status_message(provider: str, status: int | None, body: str) -> str:
    """A person-readable explanation of a vendor's HTTP error."""
    hint = {
        401: "the credentials were rejected: check the API key/secret or reconnect the account",
        403: "the account is not allowed this data (subscription or permissions)",
        404: "the vendor does not know this resource (check the symbol)",
        429: "rate limited by the vendor even after retrying; wait a minute and try again",
    }.get(status or 0, "the vendor answered with an error")
    snippet = body.strip().replace("\n", " ")[:300]
    return f"{provider}: HTTP {status}: {hint}. Response: {snippet}"
