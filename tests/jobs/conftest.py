"""Job tests share one STOCKBOT_HOME per module with the real embedded store and executor daemon
(short heartbeats so that lost runs are found quickly), stopped at the end of the module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stockbot.jobs import ensure_executor, stop_executor
from stockbot.store import RunStore, stop_store
from stockbot.store.db import close_all
from tests.conftest import environ

FAST = {"STOCKBOT_HEARTBEAT_SECONDS": "1", "STOCKBOT_STALE_SECONDS": "4"}


@pytest.fixture(scope="module")
def job_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("jobs-home")
    with environ(STOCKBOT_HOME=str(home), STOCKBOT_MONGO_URI=None, **FAST):
        try:
            yield home
        finally:
            stop_executor(home)
            close_all()
            stop_store(home)


@pytest.fixture
def stockbot_home(job_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Overrides the suite's per-test home: job tests share the module's."""
    monkeypatch.setenv("STOCKBOT_HOME", str(job_home))
    return job_home


@pytest.fixture(scope="module")
def executor(job_home: Path) -> dict:
    return ensure_executor(job_home, concurrency=2)


@pytest.fixture
def store(job_home: Path) -> RunStore:
    return RunStore()
