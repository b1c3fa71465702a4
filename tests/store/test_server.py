"""The embedded store's life cycle: started on demand under a lock, shared, durable, stopped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pymongo import MongoClient

from stockbot.store.server import ensure_store, ping, stop_store, store_status

pytestmark = pytest.mark.timeout(120)


def test_started_once_shared_by_processes_and_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STOCKBOT_MONGO_URI", raising=False)
    home = tmp_path / "home"
    code = (
        "from pathlib import Path; from stockbot.store.server import ensure_store; "
        f"print(ensure_store(Path({str(home)!r})).pid)"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(3)
    ]
    pids = {p.communicate(timeout=60)[0].strip() for p in procs}
    try:
        assert len(pids) == 1, f"three processes started {len(pids)} servers"
        info = json.loads((home / "store.json").read_text())
        assert str(info["pid"]) in pids and "retryWrites=false" in info["uri"]
        assert info["uri"].startswith("mongodb://127.0.0.1:")
        client: MongoClient = MongoClient(info["uri"])
        client.stockbot.probe.insert_one({"_id": 1, "v": "kept"})
        client.close()
        assert store_status(home)["up"] is True
    finally:
        assert stop_store(home)
    assert not ping(info["uri"], 300)
    assert store_status(home)["up"] is False
    # a restart finds the data where it was (durable across processes)
    again = ensure_store(home)
    try:
        client = MongoClient(again.uri)
        assert client.stockbot.probe.find_one({"_id": 1})["v"] == "kept"  # type: ignore[index]
        client.close()
    finally:
        stop_store(home)


def test_mongo_uri_bypasses_the_embedded_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOCKBOT_MONGO_URI", "mongodb://db.example:27017/")
    info = ensure_store(tmp_path)
    assert info.uri == "mongodb://db.example:27017/" and not info.embedded
    assert not (tmp_path / "store.json").exists()
    os.environ.pop("STOCKBOT_MONGO_URI")
