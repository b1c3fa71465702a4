"""The embedded store: a SecantusDB server (MongoDB wire protocol) run as its own process.

SecantusDB is GPL-2.0, so it is only ever started as a separate program, never imported. The first
process that needs the store starts it under a lock file, on 127.0.0.1 with a free port, its data in
``$STOCKBOT_HOME/store/`` and ``--sync-on-commit`` (acknowledged writes survive a kill -9); it
records ``{"uri", "pid", "port"}`` in ``$STOCKBOT_HOME/store.json``. Every other process connects
to the recorded server. ``STOCKBOT_MONGO_URI`` bypasses all of this for a real MongoDB.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from stockbot.errors import StoreError
from stockbot.paths import stockbot_home
from stockbot.procs import alive, terminate

log = logging.getLogger(__name__)

_LISTENING = re.compile(r"listening on (\S+):(\d+)")
START_TIMEOUT = 20.0


@dataclass(frozen=True)
class StoreInfo:
    uri: str
    pid: int | None
    embedded: bool


def _paths(home: Path) -> tuple[Path, Path, Path, Path]:
    return home / "store", home / "store.json", home / "store.lock", home / "store" / "secantus.log"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def embedded_uri(port: int) -> str:
    # retryWrites=false: SecantusDB's retryable-write bookkeeping slows writes ~20x otherwise
    return f"mongodb://127.0.0.1:{port}/?retryWrites=false&directConnection=true"


def ping(uri: str, timeout_ms: int = 1500) -> bool:
    client: MongoClient = MongoClient(uri, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms)
    try:
        client.admin.command("ping")
        return True
    except PyMongoError:
        return False
    finally:
        client.close()


def _recorded(info_path: Path) -> StoreInfo | None:
    try:
        data = json.loads(info_path.read_text())
        return StoreInfo(data["uri"], data.get("pid"), True)
    except (OSError, ValueError, KeyError):
        return None


def _start(data_dir: Path, info_path: Path, log_path: Path) -> StoreInfo:
    data_dir.mkdir(parents=True, exist_ok=True)
    offset = log_path.stat().st_size if log_path.exists() else 0
    with log_path.open("ab") as logfh:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "secantus",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--storage-path",
                str(data_dir / "data"),
                "--sync-on-commit",
                "--log-level",
                "INFO",
            ],
            stdin=subprocess.DEVNULL,
            stdout=logfh,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives whoever started it; stopped by stop_store()
            close_fds=True,
        )
    deadline = time.monotonic() + START_TIMEOUT
    port = None
    while time.monotonic() < deadline and port is None:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[offset:][-2000:]
            raise StoreError(f"the embedded store exited at start (code {proc.returncode}): {tail}")
        with log_path.open("rb") as fh:
            fh.seek(offset)
            m = _LISTENING.search(fh.read().decode(errors="replace"))
        if m:
            port = int(m.group(2))
        else:
            time.sleep(0.05)
    if port is None:
        proc.kill()
        raise StoreError(f"the embedded store did not start within {START_TIMEOUT:.0f} s; see {log_path}")
    info = StoreInfo(embedded_uri(port), proc.pid, True)
    tmp = info_path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"uri": info.uri, "pid": proc.pid, "port": port, "data": str(data_dir)}))
    os.replace(tmp, info_path)
    log.info("started the embedded store (pid %d) at %s", proc.pid, info.uri)
    return info


def ensure_store(home: Path | None = None) -> StoreInfo:
    """The store to use: ``STOCKBOT_MONGO_URI``, else the embedded server (started if needed)."""
    uri = os.environ.get("STOCKBOT_MONGO_URI")
    if uri:
        return StoreInfo(uri, None, False)
    home = home or stockbot_home()
    data_dir, info_path, lock_path, log_path = _paths(home)
    current = _recorded(info_path)
    if current and alive(current.pid) and ping(current.uri, 500):
        return current
    with _locked(lock_path):
        current = _recorded(info_path)  # someone else may have started it meanwhile
        if current and alive(current.pid) and ping(current.uri):
            return current
        if current and alive(current.pid):  # a stuck server holds the data directory
            terminate(current.pid)
        return _start(data_dir, info_path, log_path)


def store_status(home: Path | None = None) -> dict[str, object]:
    if os.environ.get("STOCKBOT_MONGO_URI"):
        uri = os.environ["STOCKBOT_MONGO_URI"]
        return {"embedded": False, "uri": uri, "up": ping(uri)}
    current = _recorded(_paths(home or stockbot_home())[1])
    if current is None:
        return {"embedded": True, "up": False}
    return {
        "embedded": True,
        "uri": current.uri,
        "pid": current.pid,
        "up": alive(current.pid) and ping(current.uri, 500),
    }


def stop_store(home: Path | None = None) -> bool:
    """Stop the embedded server this home recorded; True if one was running."""
    _, info_path, lock_path, _ = _paths(home or stockbot_home())
    with _locked(lock_path):
        current = _recorded(info_path)
        if current is None:
            return False
        running = alive(current.pid)
        if running and current.pid:
            terminate(current.pid)
        info_path.unlink(missing_ok=True)
        return running
