"""Live tests share one embedded store (started here, stopped at the end of the module), which the
session processes they start reach through ``STOCKBOT_MONGO_URI``."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymongo import MongoClient
from pymongo.database import Database

from stockbot.store.db import DB_NAME, ensure_indexes
from stockbot.store.server import ensure_store, stop_store
from tests.conftest import environ
from tests.live.helpers import GOLDEN_RUNS


@pytest.fixture(scope="module")
def live_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    home = tmp_path_factory.mktemp("live-store")
    with environ(STOCKBOT_MONGO_URI=None):
        ensure_store(home)
    uri = json.loads((home / "store.json").read_text())["uri"]
    client: MongoClient = MongoClient(uri, tz_aware=True)
    try:
        with environ(STOCKBOT_MONGO_URI=uri):
            db = client[DB_NAME]
            ensure_indexes(db)
            yield db
    finally:
        client.close()
        stop_store(home)


@pytest.fixture
def trained_run(tmp_path: Path) -> Path:
    """A copy of the committed tiny MLP run with regimes (its actions vary from bar to bar)."""
    dest = tmp_path / "mlp_regimes"
    shutil.copytree(GOLDEN_RUNS / "mlp_regimes", dest)
    return dest
