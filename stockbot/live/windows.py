"""When an order decided after one session's close may be sent, so it fills at the next open.

- Paper: any time before the open.
- Alpaca, whole-share market orders: as market-on-open (``opg``), which Alpaca refuses from 09:28
  to 19:00 New York time: from 19:00 (or at once, when decided later in the evening) to 09:28.
- Alpaca's fractional and limit orders, and every Schwab order: market or limit DAY orders sent at
  the open (Alpaca takes fractions only as market DAY orders; Schwab has no market-on-open order),
  within :data:`AT_OPEN` of it.

A replay sends at once: its bars are not the present.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pandas as pd

from stockbot.execution.records import Order

NEW_YORK = ZoneInfo("America/New_York")
OPG_FROM, OPG_UNTIL = dt.time(19, 0), dt.time(9, 28)  # Alpaca takes opg orders 19:00-09:28 ET
AT_OPEN = pd.Timedelta(minutes=15)


def opening_auction(broker: str, order: Order) -> bool:
    """Whether ``order`` goes to ``broker`` as market-on-open."""
    return broker == "alpaca" and order.order_type == "market" and float(order.quantity).is_integer()


def _at(day: dt.date, t: dt.time) -> pd.Timestamp:
    return pd.Timestamp(dt.datetime.combine(day, t), tz=NEW_YORK).tz_convert("UTC")


def send_window(
    broker: str, order: Order, decided: pd.Timestamp, opens: pd.Timestamp
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``[earliest, latest)``: when ``order``, decided at ``decided``, may go to ``broker`` to fill
    at the open at ``opens`` (UTC times)."""
    decided, opens = pd.Timestamp(decided).tz_convert("UTC"), pd.Timestamp(opens).tz_convert("UTC")
    if broker == "paper":
        return decided, opens
    if opening_auction(broker, order):
        local = decided.tz_convert(NEW_YORK)
        in_day = OPG_UNTIL <= local.time() < OPG_FROM  # Alpaca refuses opg orders now
        earliest = _at(local.date(), OPG_FROM) if in_day else decided
        return earliest, _at(opens.tz_convert(NEW_YORK).date(), OPG_UNTIL)
    return max(decided, opens), opens + AT_OPEN
