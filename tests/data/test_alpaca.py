"""AlpacaProvider through the real alpaca-py client against a local stand-in of Alpaca's market data
API that serves the bundled dow29 bars (see ``tests/servers/alpaca.py``).

Expected values are computed with pandas straight from the CSV (``tests/data/reference.py``):
adjusted OHLC = raw OHLC * adj_close/close, raw_close = close, adj_factor = adj_close/close,
volume = volume / adj_factor.
"""

from __future__ import annotations

import datetime as dt
import json
import socket

import pandas as pd
import pytest

from stockbot.config import DataConfig
from stockbot.data import load_bars
from stockbot.data.providers.alpaca import AlpacaProvider
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
from tests.servers.alpaca import BARS_PATH, FakeAlpaca, rate_limited, unauthorized
from tests.servers.http import Request, Response

pytestmark = pytest.mark.timeout(60)

NY = "America/New_York"


def make_provider(server: FakeAlpaca, **kwargs: object) -> AlpacaProvider:
    kwargs.setdefault("api_key", "k")
    kwargs.setdefault("secret_key", "s")
    return AlpacaProvider(url_override=server.url, **kwargs)  # type: ignore[arg-type]


def config(symbols: list[str], start: dt.date, end: dt.date) -> DataConfig:
    return DataConfig(provider="alpaca", symbols=symbols, start=start, end=end, cache=False)


def local_date(iso: str) -> dt.date:
    """The New York date of an RFC 3339 time the client sent."""
    return pd.Timestamp(iso).tz_convert(NY).date()


# ---------------------------------------------------------------------------- happy path


def test_bars_equal_the_csv_adjusted_and_paged(alpaca: FakeAlpaca, dow29_csv: pd.DataFrame) -> None:
    # spans the March DST change, so the vendor's stamps are 05:00Z and 04:00Z; the bar the vendor
    # includes at `end` (next day 00:00 NY) is dropped
    start, end = DAILY_RANGE
    bars = load_bars(config(["AAPL", "MSFT"], start, end), provider=make_provider(alpaca))
    assert assert_daily_panel(bars, dow29_csv, ["AAPL", "MSFT"], adjusted=True) == 124

    reqs = alpaca.bar_requests()
    assert {r.param("adjustment") for r in reqs} == {"raw", "all"}
    for adjustment in ("raw", "all"):
        mine = [r for r in reqs if r.param("adjustment") == adjustment]
        # 2 symbols x 125 bars (the vendor's inclusive end adds one) at 100 a page: 3 pages
        assert len(mine) == 3
        assert [bool(r.param("page_token")) for r in mine] == [False, True, True]
        assert len({r.param("page_token") for r in mine}) == 3
    for r in reqs:
        assert r.param("symbols") == "AAPL,MSFT"
        assert r.param("timeframe") == "1Day"
        assert local_date(r.param("start") or "") == start
        assert local_date(r.param("end") or "") == end + dt.timedelta(days=1)
        assert r.header("APCA-API-KEY-ID") == "k"
        assert r.header("APCA-API-SECRET-KEY") == "s"


def test_weekend_edges_and_provider_bars_directly(alpaca: FakeAlpaca, dow29_csv: pd.DataFrame) -> None:
    assert_weekend_edges(make_provider(alpaca), dow29_csv, adjusted=True)


def test_multi_symbol_bars_are_aligned(alpaca: FakeAlpaca, dow29_csv: pd.DataFrame) -> None:
    """A session the vendor lacks for one symbol is dropped for all (and reported)."""
    alpaca.frame = without_gap_day(dow29_csv, "MSFT")
    bars = load_bars(config(["AAPL", "MSFT"], *GAP_RANGE), provider=make_provider(alpaca))
    assert_gap_aligned(bars, dow29_csv, ["AAPL", "MSFT"], "AAPL", adjusted=True)


def test_oauth_token_is_sent_as_bearer(alpaca: FakeAlpaca, dow29_csv: pd.DataFrame) -> None:
    alpaca.oauth_tokens.add("oauth-abc")
    try:
        provider = AlpacaProvider(oauth_token="oauth-abc", url_override=alpaca.url)
        bars = provider.bars(["XOM"], dt.date(2017, 3, 1), dt.date(2017, 3, 10), "1d")
    finally:
        alpaca.oauth_tokens.discard("oauth-abc")
    assert_same_bars(
        bars, reference_bars(dow29_csv, ["XOM"], dt.date(2017, 3, 1), dt.date(2017, 3, 10), adjusted=True)
    )
    for r in alpaca.bar_requests():
        assert r.header("Authorization") == "Bearer oauth-abc"
        assert r.header("APCA-API-KEY-ID") is None


# ---------------------------------------------------------------------------- errors


def test_rejected_credentials_are_a_data_error_naming_401(alpaca: FakeAlpaca) -> None:
    provider = make_provider(alpaca, api_key="wrong", secret_key="nope")
    with pytest.raises(DataError) as e:
        load_bars(config(["AAPL"], dt.date(2017, 1, 3), dt.date(2017, 1, 31)), provider=provider)
    msg = str(e.value)
    assert "401" in msg
    assert "credentials" in msg
    [req] = alpaca.bar_requests()  # not retried
    assert req.header("APCA-API-KEY-ID") == "wrong"


def test_scripted_401_is_a_data_error(alpaca: FakeAlpaca) -> None:
    alpaca.script("GET", BARS_PATH, unauthorized())
    with pytest.raises(DataError, match=r"HTTP 401.*credentials"):
        make_provider(alpaca).bars(["AAPL"], dt.date(2017, 1, 3), dt.date(2017, 1, 31), "1d")


def test_one_429_is_retried_by_the_client(alpaca: FakeAlpaca, dow29_csv: pd.DataFrame) -> None:
    """alpaca-py sleeps 3 s before retrying a 429."""
    alpaca.script("GET", BARS_PATH, rate_limited())
    start, end = dt.date(2017, 5, 1), dt.date(2017, 5, 31)
    bars = load_bars(config(["JPM"], start, end), provider=make_provider(alpaca))
    assert_same_bars(bars, reference_bars(dow29_csv, ["JPM"], start, end, adjusted=True))
    reqs = alpaca.bar_requests()
    assert len(reqs) == 3  # raw (429), raw again, all
    assert reqs[0].query == reqs[1].query


@pytest.mark.slow
def test_429_forever_is_a_data_error_about_the_rate_limit(alpaca: FakeAlpaca) -> None:
    """alpaca-py retries 3 times, 3 s apart, then gives up."""
    alpaca.script("GET", BARS_PATH, rate_limited(), times=None)
    with pytest.raises(DataError) as e:
        make_provider(alpaca).bars(["JPM"], dt.date(2017, 5, 1), dt.date(2017, 5, 31), "1d")
    assert "429" in str(e.value)
    assert "rate limit" in str(e.value)
    assert len(alpaca.bar_requests()) == 4


def test_no_bars_in_range_names_the_symbol(alpaca: FakeAlpaca) -> None:
    # a weekend: the vendor answers {"bars": {}, "next_page_token": null}
    with pytest.raises(DataError, match="no bars for AAPL"):
        load_bars(config(["AAPL"], dt.date(2017, 1, 7), dt.date(2017, 1, 8)), provider=make_provider(alpaca))


def test_unknown_symbol_among_known_ones_is_named(alpaca: FakeAlpaca) -> None:
    with pytest.raises(DataError) as e:
        load_bars(
            config(["AAPL", "ZZZZ"], dt.date(2017, 1, 3), dt.date(2017, 1, 31)),
            provider=make_provider(alpaca),
        )
    assert "ZZZZ" in str(e.value)
    assert "AAPL" not in str(e.value).split("no bars for", 1)[1]


def _bar(**overrides: object) -> dict[str, object]:
    bar: dict[str, object] = {
        "t": "2017-01-03T05:00:00Z",
        "o": 115.8,
        "h": 116.33,
        "l": 114.76,
        "c": 116.15,
        "v": 28781900,
        "n": 115127,
        "vw": 115.75,
    }
    bar.update(overrides)
    return {k: v for k, v in bar.items() if v is not None}


MALFORMED = {
    "bars-is-a-string": Response.json({"bars": "AAPL", "next_page_token": None}),
    "no-bars-key": Response.json({"next_page_token": None}),
    "bar-missing-c": Response.json({"bars": {"AAPL": [_bar(c=None)]}, "next_page_token": None}),
    "price-not-a-number": Response.json({"bars": {"AAPL": [_bar(o="n/a")]}, "next_page_token": None}),
    "bad-timestamp": Response.json({"bars": {"AAPL": [_bar(t="yesterday")]}, "next_page_token": None}),
    "bars-list-not-dict": Response.json({"bars": [_bar()], "next_page_token": None}),
    "not-json": Response.text("<html><body>Bad gateway</body></html>", content_type="text/html"),
    "null-body": Response.json(None),
}


@pytest.mark.parametrize("payload", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_payload_is_a_data_error(alpaca: FakeAlpaca, payload: Response) -> None:
    alpaca.script("GET", BARS_PATH, payload)
    with pytest.raises(DataError, match="alpaca"):
        load_bars(config(["AAPL"], dt.date(2017, 1, 3), dt.date(2017, 1, 31)), provider=make_provider(alpaca))


def test_adjusted_answer_lacking_a_bar_is_a_data_error(alpaca: FakeAlpaca) -> None:
    """The raw and the adjusted responses must describe the same bars."""

    def drop_last_adjusted_bar(req: Request) -> Response:
        resp = alpaca.handle_bars(req)
        if req.param("adjustment") != "all":
            return resp
        payload = json.loads(resp.body)
        payload["bars"]["AAPL"].pop()
        return Response.json(payload)

    alpaca.script("GET", BARS_PATH, drop_last_adjusted_bar, times=None)
    with pytest.raises(DataError, match="no adjusted counterpart"):
        make_provider(alpaca).bars(["AAPL"], dt.date(2017, 1, 3), dt.date(2017, 1, 31), "1d")


def test_server_error_is_a_data_error(alpaca: FakeAlpaca) -> None:
    alpaca.script("GET", BARS_PATH, Response.json({"code": 50010000, "message": "internal error"}, 500))
    with pytest.raises(DataError, match="HTTP 500"):
        make_provider(alpaca).bars(["AAPL"], dt.date(2017, 1, 3), dt.date(2017, 1, 31), "1d")


def test_unreachable_server_is_a_data_error() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    provider = AlpacaProvider(api_key="k", secret_key="s", url_override=f"http://127.0.0.1:{port}")
    with pytest.raises(DataError, match="cannot reach"):
        provider.bars(["AAPL"], dt.date(2017, 1, 3), dt.date(2017, 1, 31), "1d")
