"""Executors: claim queued runs and supervise them (DESIGN.md §4).

``local``: a small daemon process (started on demand, like the store) with a concurrency limit;
each claimed run gets a supervisor thread that runs Papermill in a child process group.
``dask``: the same loop, but each claimed run's supervisor runs as a task on a ``distributed``
cluster, so cancel works through the store there too. On start, and every few seconds, runs whose
heartbeat went stale are marked ``failed`` (``lost``).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import logging
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pymongo.errors import ConnectionFailure

from stockbot.errors import JobError
from stockbot.jobs.supervisor import persist, recover, supervise
from stockbot.paths import stockbot_home
from stockbot.procs import alive, terminate
from stockbot.store.runs import RunStore

log = logging.getLogger(__name__)

POLL_SECONDS = 0.25
RECOVER_SECONDS = 5.0


class Executor:
    """The claim loop. Subclasses decide where a claimed run's supervisor runs."""

    name = "base"

    def __init__(self, store: RunStore, concurrency: int = 1) -> None:
        if concurrency < 1:
            raise JobError(f"executor concurrency must be >= 1, got {concurrency}")
        self.store = store
        self.concurrency = concurrency
        self.active: dict[str, Future[Any]] = {}
        self.stopping = threading.Event()

    def run_forever(self) -> None:
        persist(recover, self.store)
        self._recover_live_sessions()
        # once per start, not periodically: a recount racing a status change could miscount it
        persist(self.store.recount)
        last_recover = time.monotonic()
        while not self.stopping.is_set():
            try:
                self._tick()
                if time.monotonic() - last_recover >= RECOVER_SECONDS:
                    recover(self.store, exclude=self.active)
                    last_recover = time.monotonic()
            except ConnectionFailure as e:  # the store restarts: claim again once it is back
                log.warning("the store is unreachable: %s", e)
                self.stopping.wait(1.0)
            self.stopping.wait(POLL_SECONDS)

    def _recover_live_sessions(self) -> None:
        """The platform (re)starts with its executor: live sessions left without a supervisor come
        back with entries paused (DESIGN.md §6); live sessions never take a job slot."""
        from stockbot.live.control import recover_sessions
        from stockbot.live.store import LiveStore

        try:
            back = recover_sessions(LiveStore(self.store.col.database))
        except Exception:  # a session that cannot come back must not stop the jobs
            log.exception("could not bring live sessions back")
            return
        if back:
            log.info("live sessions back, paused: %s", ", ".join(back))

    def _tick(self) -> None:
        self.active = {k: f for k, f in self.active.items() if not f.done()}
        while len(self.active) < self.concurrency:
            run = self.store.claim(self.describe())
            if run is None:
                break
            log.info("claimed %s (%s)", run["_id"], run["kind"])
            self.active[run["_id"]] = self.dispatch(run)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "started_at": dt.datetime.now(dt.UTC), "executor_pid": os.getpid()}

    def dispatch(self, run: dict[str, Any]) -> Future[Any]:
        raise NotImplementedError

    def close(self) -> None:
        self.stopping.set()


class LocalExecutor(Executor):
    name = "local"

    def __init__(self, store: RunStore, concurrency: int = 1) -> None:
        super().__init__(store, concurrency)
        self.pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="supervisor")

    def dispatch(self, run: dict[str, Any]) -> Future[Any]:
        return self.pool.submit(supervise, run, self.store, run["executor"])


def _dask_task(run: dict[str, Any], home: str, uri: str | None) -> str:
    """Runs on a Dask worker: supervise an already-claimed run against the same store."""
    os.environ["STOCKBOT_HOME"] = home
    from stockbot.store.db import get_db

    store = RunStore(get_db(uri))
    executor = {**run["executor"], "dask_key": _current_key()}
    return supervise(run, store, executor).value


def _current_key() -> str | None:
    try:
        from distributed import get_worker

        return str(get_worker().get_current_task())
    except (ImportError, ValueError):
        return None


class DaskExecutor(Executor):
    name = "dask"

    def __init__(self, store: RunStore, address: str, concurrency: int = 4, uri: str | None = None) -> None:
        super().__init__(store, concurrency)
        from distributed import Client

        self.client = Client(address, set_as_default=False)
        self.uri = uri

    def dispatch(self, run: dict[str, Any]) -> Future[Any]:
        fut = self.client.submit(
            _dask_task, run, str(stockbot_home()), self.uri, key=f"stockbot-{run['_id']}", pure=False
        )
        return fut  # type: ignore[return-value]

    def close(self) -> None:
        super().close()
        self.client.close()


# ---------------------------------------------------------------------------- the local daemon


def _files(home: Path) -> tuple[Path, Path, Path]:
    return home / "executor.json", home / "executor.lock", home / "executor.log"


def _job_environment() -> dict[str, str]:
    """The environment jobs inherit: never the credentials of whoever started the executor (the
    hub service's or a user server's ``JUPYTERHUB_*`` tokens)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("JUPYTERHUB_")}


def executor_status(home: Path | None = None) -> dict[str, Any]:
    info_path = _files(home or stockbot_home())[0]
    try:
        info = json.loads(info_path.read_text())
    except (OSError, ValueError):
        return {"running": False}
    return {**info, "running": alive(info.get("pid"))}


def ensure_executor(
    home: Path | None = None, concurrency: int | None = None, dask: str | None = None
) -> dict[str, Any]:
    """Start the executor daemon for this home unless one runs; return its status."""
    home = home or stockbot_home()
    info_path, lock_path, log_path = _files(home)
    home.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as lockfh:
        fcntl.flock(lockfh, fcntl.LOCK_EX)
        status = executor_status(home)
        if status["running"]:
            return status
        conc = concurrency or int(os.environ.get("STOCKBOT_EXECUTOR_CONCURRENCY", "1"))
        cmd = [sys.executable, "-m", "stockbot.jobs", "--concurrency", str(conc)]
        if dask:
            cmd += ["--dask", dask]
        with log_path.open("ab") as logfh:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=logfh,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**_job_environment(), "STOCKBOT_HOME": str(home)},
            )
        info = {
            "pid": proc.pid,
            "concurrency": conc,
            "dask": dask,
            "started_at": dt.datetime.now(dt.UTC).isoformat(),
        }
        info_path.write_text(json.dumps(info))
        return {**info, "running": True}


def stop_executor(home: Path | None = None, timeout: float = 15.0) -> bool:
    """Stop the daemon (SIGTERM; its running jobs are cancelled and recorded so); True if one ran."""
    home = home or stockbot_home()
    status = executor_status(home)
    pid = status.get("pid")
    if not status["running"] or not pid:
        return False
    terminate(pid, timeout)
    return True


def _suspend_live_sessions(executor: Executor) -> None:
    from stockbot.live.control import suspend_sessions
    from stockbot.live.store import LiveStore

    try:
        ended = suspend_sessions(LiveStore(executor.store.col.database))
    except Exception:  # the jobs must still be stopped
        log.exception("could not suspend the live sessions")
        return
    if ended:
        log.info("live sessions suspended until the next start: %s", ", ".join(ended))


def shutdown(executor: Executor) -> None:
    """On a clean stop, running jobs are cancelled (their process groups ended) and recorded so,
    and live sessions are suspended: they come back paused when the platform starts again."""
    _suspend_live_sessions(executor)
    for run_id in list(executor.active):
        executor.store.request_cancel(run_id)
    deadline = time.monotonic() + 15.0
    while any(not f.done() for f in executor.active.values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    if isinstance(executor, LocalExecutor):
        executor.pool.shutdown(wait=False)
