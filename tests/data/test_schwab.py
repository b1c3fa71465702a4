"""SchwabProvider through a real schwab-py client (OAuth2 httpx session, bearer token) against a local
stand-in of Schwab's price history endpoint serving the bundled dow29 bars
(see ``tests/servers/schwab.py``).

Schwab's candles carry no adjusted close, so the expected bars are the CSV's raw OHLCV with
adj_factor 1, computed with pandas (``tests/data/reference.py``).
"""

from __future__ import annotations

import datetime as dt
import socket
import time
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

from stockbot.config import DataConfig
from stockbot.data import load_bars
from stockbot.data.providers.schwab import SchwabProvider
from stockbot.errors import DataError
from tests.data.reference import (
    DAILY_RANGE,
    GAP_RANGE,
    assert_daily_panel,
    assert_gap_aligned,
    assert_same_bars,
    assert_weekend_edges,
    reference_bars,
    without_gap_day,
)
from tests.servers.http import Response
from tests.servers.schwab import (
    PRICE_HISTORY_PATH,
    FakeSchwab,
    RedirectTransport,
    rate_limited,
    schwab_client,
)

pytestmark = pytest.mark.timeout(60)

NY = "America/New_York"


@pytest.fixture(scope="session")
def schwab_server(dow29_csv: pd.DataFrame) -> Iterator[FakeSchwab]:
    with FakeSchwab(dow29_csv) as server:
        yield server


@pytest.fixture
def schwab(schwab_server: FakeSchwab) -> Iterator[FakeSchwab]:
    """The session's server with scripted answers, log and data reset for this test."""
    schwab_server.reset()
    yield schwab_server
    assert not schwab_server.errors, schwab_server.errors[0]


def make_provider(server: FakeSchwab, *, client: Any = None, **kwargs: Any) -> SchwabProvider:
    kwargs.setdefault("retry_wait", 0.05)
    return SchwabProvider(client=client if client is not None else schwab_client(server), **kwargs)


def config(symbols: list[str], start: dt.date, end: dt.date) -> DataConfig:
    return DataConfig(provider="schwab", symbols=symbols, start=start, end=end, cache=False)


def ny_date_of_ms(ms: str | None) -> dt.date:
    return pd.Timestamp(int(ms or 0), unit="ms", tz="UTC").tz_convert(NY).date()


# ---------------------------------------------------------------------------- happy path


def test_bars_equal_the_csv_unadjusted(schwab: FakeSchwab, dow29_csv: pd.DataFrame) -> None:
    # candles are stamped at midnight Chicago (05:00/06:00 UTC); the range spans the March DST change
    start, end = DAILY_RANGE
    bars = load_bars(config(["AAPL", "MSFT"], start, end), provider=make_provider(schwab))
    assert_daily_panel(bars, dow29_csv, ["AAPL", "MSFT"], adjusted=False)
    assert (bars["adj_factor"] == 1.0).all()

    reqs = schwab.history_requests()
    assert [r.param("symbol") for r in reqs] == ["AAPL", "MSFT"]
    for r in reqs:
        assert r.header("Authorization") == "Bearer test-access-token"
        assert r.header("Host") == "api.schwabapi.com"
        assert r.param("frequencyType") == "daily"
        assert ny_date_of_ms(r.param("startDate")) == start
        assert ny_date_of_ms(r.param("endDate")) == end + dt.timedelta(days=1)


def test_weekend_edges_and_provider_bars_directly(schwab: FakeSchwab, dow29_csv: pd.DataFrame) -> None:
    assert_weekend_edges(make_provider(schwab), dow29_csv, adjusted=False)


def test_multi_symbol_bars_are_aligned(schwab: FakeSchwab, dow29_csv: pd.DataFrame) -> None:
    schwab.frame = without_gap_day(dow29_csv, "KO")
    bars = load_bars(config(["KO", "PG"], *GAP_RANGE), provider=make_provider(schwab))
    assert_gap_aligned(bars, dow29_csv, ["KO", "PG"], "PG", adjusted=False)


# ---------------------------------------------------------------------------- errors


def test_rejected_token_is_a_data_error_naming_401(schwab: FakeSchwab) -> None:
    client = schwab_client(schwab, access_token="revoked-token")
    with pytest.raises(DataError) as e:
        load_bars(
            config(["AAPL"], dt.date(2017, 1, 3), dt.date(2017, 1, 31)),
            provider=make_provider(schwab, client=client),
        )
    msg = str(e.value)
    assert "401" in msg
    assert "credentials" in msg
    [req] = schwab.history_requests()  # not retried
    assert req.header("Authorization") == "Bearer revoked-token"


def test_one_429_is_retried(schwab: FakeSchwab, dow29_csv: pd.DataFrame) -> None:
    schwab.script("GET", PRICE_HISTORY_PATH, rate_limited())
    start, end = dt.date(2017, 5, 1), dt.date(2017, 5, 31)
    bars = load_bars(config(["JPM"], start, end), provider=make_provider(schwab))
    assert_same_bars(bars, reference_bars(dow29_csv, ["JPM"], start, end, adjusted=False))
    reqs = schwab.history_requests()
    assert len(reqs) == 2
    assert reqs[0].query == reqs[1].query


def test_429_retry_after_is_honoured(schwab: FakeSchwab) -> None:
    schwab.script("GET", PRICE_HISTORY_PATH, rate_limited(retry_after=0.3))
    t0 = time.monotonic()
    make_provider(schwab, retry_wait=0.01).bars(["JPM"], dt.date(2017, 5, 1), dt.date(2017, 5, 31), "1d")
    assert time.monotonic() - t0 >= 0.3
    assert len(schwab.history_requests()) == 2


def test_429_forever_is_a_data_error_about_the_rate_limit(schwab: FakeSchwab) -> None:
    schwab.script("GET", PRICE_HISTORY_PATH, rate_limited(), times=None)
    with pytest.raises(DataError) as e:
        make_provider(schwab, retries=3, retry_wait=0.01).bars(
            ["JPM"], dt.date(2017, 5, 1), dt.date(2017, 5, 31), "1d"
        )
    assert "429" in str(e.value)
    assert "rate limit" in str(e.value)
    assert len(schwab.history_requests()) == 4


def test_no_candles_in_range_names_the_symbol(schwab: FakeSchwab) -> None:
    # a weekend: {"candles": [], "symbol": "AAPL", "empty": true}
    with pytest.raises(DataError, match="no bars for AAPL"):
        load_bars(config(["AAPL"], dt.date(2017, 1, 7), dt.date(2017, 1, 8)), provider=make_provider(schwab))


def test_unknown_symbol_among_known_ones_is_named(schwab: FakeSchwab) -> None:
    with pytest.raises(DataError, match="no bars for ZZZZ from"):
        load_bars(
            config(["AAPL", "ZZZZ"], dt.date(2017, 1, 3), dt.date(2017, 1, 31)),
            provider=make_provider(schwab),
        )


def _candle(**overrides: object) -> dict[str, object]:
    candle: dict[str, object] = {
        "open": 115.8,
        "high": 116.33,
        "low": 114.76,
        "close": 116.15,
        "volume": 28781900,
        "datetime": 1483423200000,
    }
    candle.update(overrides)
    return {k: v for k, v in candle.items() if v is not None}


MALFORMED = {
    "no-candles-key": Response.json({"symbol": "AAPL", "empty": False}),
    "candles-is-a-string": Response.json({"symbol": "AAPL", "empty": False, "candles": "none"}),
    "candle-missing-close": Response.json(
        {"symbol": "AAPL", "empty": False, "candles": [_candle(close=None)]}
    ),
    "candle-is-null": Response.json({"symbol": "AAPL", "empty": False, "candles": [None]}),
    "price-not-a-number": Response.json({"symbol": "AAPL", "empty": False, "candles": [_candle(open="n/a")]}),
    "datetime-not-a-number": Response.json(
        {"symbol": "AAPL", "empty": False, "candles": [_candle(datetime="2017-01-03")]}
    ),
    "payload-is-a-list": Response.json([_candle()]),
    "not-json": Response.text("<html><body>Service unavailable</body></html>", content_type="text/html"),
}


@pytest.mark.parametrize("payload", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_payload_is_a_data_error(schwab: FakeSchwab, payload: Response) -> None:
    schwab.script("GET", PRICE_HISTORY_PATH, payload)
    with pytest.raises(DataError, match="schwab: malformed price history for AAPL"):
        load_bars(config(["AAPL"], dt.date(2017, 1, 3), dt.date(2017, 1, 31)), provider=make_provider(schwab))


def test_server_error_is_a_data_error(schwab: FakeSchwab) -> None:
    schwab.script("GET", PRICE_HISTORY_PATH, Response.text("upstream timed out", status=502))
    with pytest.raises(DataError, match="HTTP 502"):
        make_provider(schwab).bars(["AAPL"], dt.date(2017, 1, 3), dt.date(2017, 1, 31), "1d")


def test_unreachable_server_is_a_data_error(schwab: FakeSchwab) -> None:
    client = schwab_client(schwab)
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client.session._transport = RedirectTransport(port)
    with pytest.raises(DataError, match="cannot reach"):
        make_provider(schwab, client=client).bars(["AAPL"], dt.date(2017, 1, 3), dt.date(2017, 1, 31), "1d")
