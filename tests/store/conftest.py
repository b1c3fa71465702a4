"""Store tests run against an embedded SecantusDB started on port 0 in a temporary folder, and also
against ``STOCKBOT_TEST_MONGO_URI`` when that is set (a real MongoDB)."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymongo import MongoClient
from pymongo.database import Database

from stockbot.store.db import ensure_indexes
from stockbot.store.server import ensure_store, stop_store

BACKENDS = ["secantus"] + (["mongodb"] if os.environ.get("STOCKBOT_TEST_MONGO_URI") else [])


@contextlib.contextmanager
def embedded_store(home: Path) -> Iterator[Path]:
    """The embedded store of ``home`` (not a configured MongoDB), started for the block."""
    saved = os.environ.pop("STOCKBOT_MONGO_URI", None)
    try:
        ensure_store(home)
        yield home
    finally:
        stop_store(home)
        if saved is not None:
            os.environ["STOCKBOT_MONGO_URI"] = saved


@pytest.fixture(scope="session")
def secantus_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with embedded_store(tmp_path_factory.mktemp("secantus-home")) as home:
        yield home


@pytest.fixture(scope="session", params=BACKENDS)
def mongo_uri(request: pytest.FixtureRequest, secantus_home: Path) -> str:
    if request.param == "mongodb":
        return os.environ["STOCKBOT_TEST_MONGO_URI"]
    import json

    return json.loads((secantus_home / "store.json").read_text())["uri"]


@pytest.fixture
def db(mongo_uri: str) -> Iterator[Database]:
    """A fresh database per test on the session's server."""
    client: MongoClient = MongoClient(mongo_uri, tz_aware=True)
    name = f"test_{uuid.uuid4().hex[:12]}"
    database = client[name]
    ensure_indexes(database)
    yield database
    client.drop_database(name)
    client.close()
