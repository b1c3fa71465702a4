"""Fixtures shared by the provider tests: the bundled dow29 CSV and the local Alpaca stand-in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from tests.servers.alpaca import FakeAlpaca


@pytest.fixture(scope="session")
def dow29_csv(sample_csv: Path) -> pd.DataFrame:
    """The bundled dow29 file as read by pandas (read-only: copy first)."""
    return pd.read_csv(sample_csv)


@pytest.fixture(scope="session")
def alpaca_server(dow29_csv: pd.DataFrame) -> Iterator[FakeAlpaca]:
    with FakeAlpaca(dow29_csv, page_size=100) as server:
        yield server


@pytest.fixture
def alpaca(alpaca_server: FakeAlpaca, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAlpaca]:
    """The session's server with scripted answers, log and data reset for this test."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    alpaca_server.reset()
    yield alpaca_server
    assert not alpaca_server.errors, alpaca_server.errors[0]
