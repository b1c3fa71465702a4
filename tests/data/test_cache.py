"""The on-disk bar cache (``BarCache``) in front of AlpacaProvider, against the local Alpaca stand-in
serving the bundled dow29 bars; network use is measured by the requests the server received."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

from stockbot.config import DataConfig
from stockbot.data import load_bars
from stockbot.data.cache import BarCache
from stockbot.data.providers.alpaca import AlpacaProvider
from tests.servers.alpaca import FakeAlpaca
from tests.servers.http import Request

pytestmark = pytest.mark.timeout(60)

NY = "America/New_York"
TODAY = dt.date(2018, 1, 1)  # after the sample's last bar (2017-12-06)


def cached(server: FakeAlpaca, root: Path, today: dt.date = TODAY) -> AlpacaProvider:
    cache = BarCache(root, today=lambda: today)
    return AlpacaProvider(api_key="k", secret_key="s", url_override=server.url, cache=cache)


def uncached(server: FakeAlpaca) -> AlpacaProvider:
    return AlpacaProvider(api_key="k", secret_key="s", url_override=server.url)


class Counter:
    """The bar requests the server received after a mark."""

    def __init__(self, server: FakeAlpaca) -> None:
        self.server = server
        self.seen = 0

    def new(self) -> list[Request]:
        reqs = self.server.bar_requests()
        fresh, self.seen = reqs[self.seen :], len(reqs)
        return fresh


def local_date(iso: str | None) -> dt.date:
    return pd.Timestamp(iso or "").tz_convert(NY).date()


def windows(reqs: list[Request]) -> set[tuple[str, dt.date, dt.date]]:
    """(symbols, first day, day after the last) of each request, as the client asked."""
    return {
        (r.param("symbols") or "", local_date(r.param("start")), local_date(r.param("end"))) for r in reqs
    }


def fetch(provider: AlpacaProvider, symbols: list[str], start: dt.date, end: dt.date) -> pd.DataFrame:
    return provider.bars(symbols, start, end, "1d")


def same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_second_request_for_the_same_range_makes_no_call(alpaca: FakeAlpaca, tmp_path: Path) -> None:
    provider = cached(alpaca, tmp_path)
    count = Counter(alpaca)
    start, end = dt.date(2017, 1, 3), dt.date(2017, 6, 30)

    first = fetch(provider, ["AAPL", "MSFT"], start, end)
    assert len(count.new()) > 0
    again = fetch(provider, ["AAPL", "MSFT"], start, end)
    assert count.new() == []
    same(again, first)

    inside = fetch(provider, ["MSFT"], dt.date(2017, 2, 1), dt.date(2017, 2, 28))
    assert count.new() == []
    same(inside, first.xs("MSFT", level="symbol", drop_level=False).loc["2017-02-01":"2017-02-28"])

    same(first, fetch(uncached(alpaca), ["AAPL", "MSFT"], start, end))
    assert (tmp_path / "alpaca" / "1d" / "AAPL.parquet").exists()


def test_load_bars_uses_the_cache_under_stockbot_home(
    alpaca: FakeAlpaca, stockbot_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The production path: credentials and URL from the environment, cache from the config."""
    monkeypatch.setenv("APCA_API_KEY_ID", "k")
    monkeypatch.setenv("APCA_API_SECRET_KEY", "s")
    monkeypatch.setenv("STOCKBOT_ALPACA_DATA_URL", alpaca.url)
    cfg = DataConfig(
        provider="alpaca", symbols=["KO", "PG"], start=dt.date(2016, 1, 4), end=dt.date(2016, 3, 31)
    )
    count = Counter(alpaca)
    first = load_bars(cfg)
    assert len(count.new()) > 0
    again = load_bars(cfg)
    assert count.new() == []
    same(again, first)
    meta = json.loads((stockbot_home / "cache" / "alpaca" / "1d" / "KO.json").read_text())
    assert (meta["start"], meta["end"]) == ("2016-01-04", "2016-03-31")


def test_later_end_fetches_only_the_missing_part(alpaca: FakeAlpaca, tmp_path: Path) -> None:
    provider = cached(alpaca, tmp_path)
    count = Counter(alpaca)
    fetch(provider, ["AAPL", "MSFT"], dt.date(2017, 1, 3), dt.date(2017, 3, 31))
    count.new()

    got = fetch(provider, ["AAPL", "MSFT"], dt.date(2017, 1, 3), dt.date(2017, 6, 30))
    new = count.new()
    # from the last cached bar (overlap to compare) to the new end; one symbol per request
    assert windows(new) == {
        ("AAPL", dt.date(2017, 3, 31), dt.date(2017, 7, 1)),
        ("MSFT", dt.date(2017, 3, 31), dt.date(2017, 7, 1)),
    }
    same(got, fetch(uncached(alpaca), ["AAPL", "MSFT"], dt.date(2017, 1, 3), dt.date(2017, 6, 30)))
    count.new()
    fetch(provider, ["AAPL", "MSFT"], dt.date(2017, 1, 3), dt.date(2017, 6, 30))
    assert count.new() == []


def test_earlier_start_fetches_only_the_missing_part(alpaca: FakeAlpaca, tmp_path: Path) -> None:
    provider = cached(alpaca, tmp_path)
    count = Counter(alpaca)
    fetch(provider, ["AAPL"], dt.date(2017, 3, 1), dt.date(2017, 6, 30))
    count.new()

    got = fetch(provider, ["AAPL"], dt.date(2017, 1, 3), dt.date(2017, 6, 30))
    # from the new start to the first cached bar (2017-03-01) inclusive
    assert windows(count.new()) == {("AAPL", dt.date(2017, 1, 3), dt.date(2017, 3, 2))}
    same(got, fetch(uncached(alpaca), ["AAPL"], dt.date(2017, 1, 3), dt.date(2017, 6, 30)))
    count.new()
    fetch(provider, ["AAPL"], dt.date(2017, 2, 1), dt.date(2017, 4, 30))
    assert count.new() == []


def test_both_ends_extended_at_once(alpaca: FakeAlpaca, tmp_path: Path) -> None:
    provider = cached(alpaca, tmp_path)
    count = Counter(alpaca)
    fetch(provider, ["GE"], dt.date(2017, 3, 1), dt.date(2017, 3, 31))
    count.new()
    got = fetch(provider, ["GE"], dt.date(2017, 2, 1), dt.date(2017, 4, 28))
    assert windows(count.new()) == {
        ("GE", dt.date(2017, 2, 1), dt.date(2017, 3, 2)),
        ("GE", dt.date(2017, 3, 31), dt.date(2017, 4, 29)),
    }
    same(got, fetch(uncached(alpaca), ["GE"], dt.date(2017, 2, 1), dt.date(2017, 4, 28)))


def test_changed_adjustment_refetches_the_whole_range(
    alpaca: FakeAlpaca, dow29_csv: pd.DataFrame, tmp_path: Path
) -> None:
    """A new dividend re-adjusts all history: the top-up sees it at the overlap and starts over."""
    provider = cached(alpaca, tmp_path)
    count = Counter(alpaca)
    before = fetch(provider, ["AAPL"], dt.date(2017, 1, 3), dt.date(2017, 3, 31))
    count.new()

    dividend = dow29_csv.copy()
    dividend.loc[dividend["tic"] == "AAPL", "adj_close"] *= 0.98
    alpaca.frame = dividend

    got = fetch(provider, ["AAPL"], dt.date(2017, 1, 3), dt.date(2017, 6, 30))
    assert windows(count.new()) == {
        ("AAPL", dt.date(2017, 3, 31), dt.date(2017, 7, 1)),  # the top-up that saw the change
        ("AAPL", dt.date(2017, 1, 3), dt.date(2017, 7, 1)),  # everything again
    }
    fresh = fetch(uncached(alpaca), ["AAPL"], dt.date(2017, 1, 3), dt.date(2017, 6, 30))
    same(got, fresh)
    old_part = got.loc["2017-01-03":"2017-03-31"]
    pd.testing.assert_series_equal(old_part["adj_factor"], before["adj_factor"] * 0.98, rtol=1e-12)
    pd.testing.assert_series_equal(old_part["raw_close"], before["raw_close"])

    # the cache now holds the new factors for the whole range
    count.new()
    same(fetch(provider, ["AAPL"], dt.date(2017, 1, 3), dt.date(2017, 3, 31)), fresh.loc[:"2017-03-31"])
    assert count.new() == []


@pytest.mark.parametrize(
    ("today", "start", "end", "covered_end"),
    [
        (dt.date(2018, 1, 1), dt.date(2017, 11, 1), dt.date(2018, 1, 5), "2017-12-31"),
        (dt.date(2017, 6, 15), dt.date(2017, 6, 1), dt.date(2017, 6, 15), "2017-06-14"),
    ],
    ids=["range-past-today", "range-ends-today"],
)
def test_days_from_today_on_are_never_covered(
    alpaca: FakeAlpaca,
    tmp_path: Path,
    today: dt.date,
    start: dt.date,
    end: dt.date,
    covered_end: str,
) -> None:
    provider = cached(alpaca, tmp_path, today=today)
    count = Counter(alpaca)
    first = fetch(provider, ["IBM"], start, end)
    assert len(count.new()) > 0
    meta = json.loads((tmp_path / "alpaca" / "1d" / "IBM.json").read_text())
    assert (meta["start"], meta["end"]) == (start.isoformat(), covered_end)

    again = fetch(provider, ["IBM"], start, end)
    assert len(count.new()) > 0, "the range reaching today must be asked for again"
    same(again, first)

    # the days before today are covered
    fetch(provider, ["IBM"], start, dt.date.fromisoformat(covered_end))
    assert count.new() == []


def test_a_changed_bar_of_today_does_not_refetch_history(
    alpaca: FakeAlpaca, dow29_csv: pd.DataFrame, tmp_path: Path
) -> None:
    """Today's bar is still forming: when it has moved on the next request, only the uncovered days
    should be fetched again, not the whole cached history."""
    today = dt.date(2017, 6, 15)
    provider = cached(alpaca, tmp_path, today=today)
    count = Counter(alpaca)
    fetch(provider, ["IBM"], dt.date(2017, 1, 3), today)
    count.new()

    moved = dow29_csv.copy()
    row = (moved["tic"] == "IBM") & (moved["date"] == today.isoformat())
    moved.loc[row, ["high", "close", "adj_close"]] *= 1.01  # the afternoon rally, same factor
    alpaca.frame = moved

    got = fetch(provider, ["IBM"], dt.date(2017, 1, 3), today)
    asked = windows(count.new())  # before the uncached reference fetch below adds its own
    same(got, fetch(uncached(alpaca), ["IBM"], dt.date(2017, 1, 3), today))
    assert asked, "today's bar must be asked for again"
    # covered up to 2017-06-14: the top-up may overlap there, but must not start over
    assert min(first for _, first, _ in asked) >= dt.date(2017, 6, 14), sorted(asked)
