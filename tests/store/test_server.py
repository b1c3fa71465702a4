"""The embedded store's life cycle: started on demand under a lock, shared, durable, stopped."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pymongo import MongoClient

from stockbot.procs import alive
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
        assert info["uri"].startswith("mongodb://stockbot:") and "@127.0.0.1:" in info["uri"]
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


def _port(uri: str) -> int:
    return int(uri.split("@127.0.0.1:", 1)[1].split("/", 1)[0])


def test_a_restart_reuses_the_recorded_port_so_old_clients_reconnect(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STOCKBOT_MONGO_URI", raising=False)
    home = tmp_path / "home"
    first = ensure_store(home)
    # a supervisor's client, opened on the first server and kept across the restart
    held: MongoClient = MongoClient(first.uri, serverSelectionTimeoutMS=10000)
    try:
        held.stockbot.probe.insert_one({"_id": "before"})
        os.kill(first.pid or 0, signal.SIGKILL)  # the store dies; the next user restarts it
        deadline = time.monotonic() + 10
        while alive(first.pid):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        second = ensure_store(home)
        assert second.pid != first.pid and second.uri == first.uri
        held.stockbot.probe.insert_one({"_id": "after"})  # the old client, on the new server
        assert {d["_id"] for d in held.stockbot.probe.find()} == {"before", "after"}
        # a deliberate stop and start keeps the port too
        assert stop_store(home)
        assert ensure_store(home).uri == first.uri
    finally:
        held.close()
        stop_store(home)


def test_a_restart_falls_back_to_a_free_port_when_the_old_one_is_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STOCKBOT_MONGO_URI", raising=False)
    home = tmp_path / "home"
    old = _port(ensure_store(home).uri)
    stop_store(home)
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # the old server's TIME_WAIT
        squatter.bind(("127.0.0.1", old))
        squatter.listen()
        try:
            again = ensure_store(home)
            assert _port(again.uri) != old and ping(again.uri)
            assert json.loads((home / "store.json").read_text())["port"] == _port(again.uri)
        finally:
            stop_store(home)
