"""The supervisor of one claimed run: Papermill in a child process group, the log, progress,
heartbeats, cancel, and the final status (DESIGN.md §4). It runs inside an executor (a thread of
the local executor, or a Dask task) — never inside the job's kernel — so a dead executor leaves a
stale heartbeat that recovery turns into ``failed`` (``lost``)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from pymongo.errors import ConnectionFailure

from stockbot.jobs.kinds import job_kind, notebooks_dir, run_dir
from stockbot.jobs.watchdog import TERM_GRACE as WATCHDOG_GRACE
from stockbot.procs import alive
from stockbot.progress import PROGRESS_PREFIX
from stockbot.store.runs import RunStatus, RunStore, heartbeat_seconds, now, stale_seconds

log = logging.getLogger(__name__)
T = TypeVar("T")

KILL_GRACE = 5.0
# how long a supervisor keeps retrying a store that went away (a restart of the embedded store
# takes seconds; the platform's own supervision restarts a dead one within 10 s)
STORE_OUTAGE_SECONDS = 120.0
# papermill's log lines that mark the phases of a job, for the run's "timings" (seconds from spawn)
_MARKERS = (
    ("Input Notebook:", "papermill_started"),
    ("Executing notebook with kernel", "kernel_starting"),
    ("Executing Cell 1-", "first_cell"),
)


def papermill_command(kind: str, run_id: str) -> list[str]:
    """Papermill for this run, under a watchdog that ends the job's group if we die."""
    folder = run_dir(run_id)
    notebook = notebooks_dir() / job_kind(kind).notebook
    return [
        *(sys.executable, "-m", "stockbot.jobs.watchdog", "--parent", str(os.getpid()), "--"),
        *(sys.executable, "-m", "stockbot.jobs.run_notebook", str(notebook), str(folder / "notebook.ipynb")),
        *("-p", "run_id", run_id, "-p", "config_path", str(folder / "config.yaml"), "--cwd", str(folder)),
    ]


def kill_group(pgid: int, grace: float = KILL_GRACE) -> None:
    """SIGTERM the job's process group, SIGKILL what is left after ``grace`` seconds."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def notebook_error(path: Path) -> dict[str, Any]:
    """{type, message, cell} of the failing cell of an executed notebook (Papermill keeps it)."""
    import nbformat  # ~1 s to import: only when a job failed

    try:
        book = nbformat.read(path, as_version=4)
    except (OSError, ValueError) as e:
        return {"type": "JobError", "message": f"no executed notebook ({e})", "cell": None}
    for number, cell in enumerate(book.cells):  # the index a person sees in the executed notebook
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if out.get("output_type") == "error":
                return {
                    "type": out.get("ename", "Error"),
                    "message": out.get("evalue", ""),
                    "cell": number,
                    "execution_count": cell.get("execution_count"),
                    "source": cell.source[:500],
                }
    return {"type": "JobError", "message": "the notebook failed without an error output", "cell": None}


def persist(call: Callable[..., T], *args: Any, patience: float = STORE_OUTAGE_SECONDS, **kwargs: Any) -> T:
    """``call(*args, **kwargs)``, retried while the store cannot be reached, for up to ``patience``
    seconds: a restarting store must not end the supervisors of running jobs."""
    deadline = time.monotonic() + patience
    warned = False
    while True:
        try:
            return call(*args, **kwargs)
        except ConnectionFailure as e:
            if time.monotonic() >= deadline:
                raise
            if not warned:
                log.warning("the store is unreachable (%s); retrying for up to %.0f s", e, patience)
                warned = True
            time.sleep(1.0)


class Supervisor:
    """Runs one already-claimed run to its final status."""

    def __init__(self, run: dict[str, Any], store: RunStore, executor: dict[str, Any]) -> None:
        self.run = run
        self.run_id: str = run["_id"]
        self.store = store
        self.executor = executor
        self.folder = run_dir(self.run_id)
        self.proc: subprocess.Popen[bytes] | None = None
        self.cancelled = threading.Event()
        self.done = threading.Event()
        self._progress: dict[str, Any] | None = None
        self._progress_lock = threading.Lock()
        self.timings: dict[str, float] = {}
        self._t0 = time.monotonic()

    # ------------------------------------------------------------------ main

    def __call__(self) -> RunStatus:
        try:
            return self._run()
        except Exception as e:  # the run must not stay "running": record why and re-raise
            log.exception("supervisor of %s failed", self.run_id)
            persist(
                self.store.finish,
                self.run_id,
                RunStatus.FAILED,
                error={"type": type(e).__name__, "message": str(e), "cell": None},
            )
            raise

    def _run(self) -> RunStatus:
        self.folder.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "STOCKBOT_RUN_ID": self.run_id}
        with (self.folder / "job.log").open("ab") as logfh:
            self.proc = subprocess.Popen(
                papermill_command(self.run["kind"], self.run_id),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=env,
                cwd=self.folder,
            )
            pid = self.proc.pid
            persist(
                self.store.update_running,
                self.run_id,
                {
                    "executor": {**self.executor, "pid": pid, "pgid": pid, "host": socket.gethostname()},
                    "progress": {"step": 0, "total": None, "message": "starting"},
                },
            )
            beat = threading.Thread(target=self._heartbeat, name=f"heartbeat-{self.run_id}", daemon=True)
            beat.start()
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                logfh.write(line)
                logfh.flush()
                self._parse(line)
            rc = self.proc.wait()
        self.timings["exited"] = round(time.monotonic() - self._t0, 3)
        self.done.set()
        beat.join(timeout=heartbeat_seconds() + 1)
        self._flush_progress()
        return self._finish(rc)

    # ------------------------------------------------------------------ while running

    def _parse(self, raw: bytes) -> None:
        text = raw.decode(errors="replace")
        for marker, name in _MARKERS:
            if name not in self.timings and marker in text:
                self.timings[name] = round(time.monotonic() - self._t0, 3)
        if "Ending Cell" in text:
            self.timings["last_cell_done"] = round(time.monotonic() - self._t0, 3)
        at = text.find(PROGRESS_PREFIX)
        if at < 0:
            return
        try:
            progress = json.loads(text[at + len(PROGRESS_PREFIX) :].strip())
        except ValueError:
            return
        with self._progress_lock:
            self._progress = progress

    def _take_progress(self) -> dict[str, Any] | None:
        """The newest progress line not yet written (and no longer pending)."""
        with self._progress_lock:
            progress, self._progress = self._progress, None
        return progress

    def _flush_progress(self) -> None:
        progress = self._take_progress()
        if progress is not None:
            persist(self.store.update_running, self.run_id, {"progress": progress})

    def _heartbeat(self) -> None:
        """Every beat: heartbeat + latest progress; act on a cancel request."""
        every = heartbeat_seconds()
        tick = min(0.5, every)
        last = 0.0
        outage = False
        while not self.done.wait(tick):
            progress = None
            try:
                progress = self._take_progress()
                if progress is not None or time.monotonic() - last >= every:
                    self.store.update_running(self.run_id, {"progress": progress} if progress else {})
                    last = time.monotonic()
                doc = self.store.get(self.run_id)
                if doc is not None and doc.get("status") != RunStatus.RUNNING.value:
                    # someone else ended the run (recovery found it lost during a long store
                    # outage): its results would never be adopted, so the job stops here
                    log.warning("run %s is %s elsewhere: ending its job", self.run_id, doc.get("status"))
                    self.cancelled.set()
                    if self.proc is not None:
                        kill_group(self.proc.pid)
                    return
            except ConnectionFailure as e:  # the store restarts: beat again once it is back
                if progress is not None:
                    with self._progress_lock:
                        self._progress = self._progress or progress
                if not outage:
                    log.warning("run %s: no heartbeat, the store is unreachable: %s", self.run_id, e)
                outage = True
                self.done.wait(1.0)
                continue
            if outage:
                log.info("run %s: the store is back, heartbeats resumed", self.run_id)
                outage = False
            if doc and doc.get("cancel_requested_at") and not self.cancelled.is_set():
                self.cancelled.set()
                if self.proc is not None:
                    kill_group(self.proc.pid)

    # ------------------------------------------------------------------ the end

    def _finish(self, rc: int) -> RunStatus:
        persist(self.store.update_running, self.run_id, {"timings": self.timings})
        if self.cancelled.is_set():
            status = RunStatus.CANCELLED
            persist(
                self.store.finish,
                self.run_id,
                status,
                error={"type": "cancelled", "message": "cancelled on request", "cell": None},
            )
        elif rc == 0:
            status = RunStatus.SUCCEEDED
            persist(self.store.finish, self.run_id, status, metrics=self._metrics())
        else:
            status = RunStatus.FAILED
            error = notebook_error(self.folder / "notebook.ipynb")
            persist(self.store.finish, self.run_id, status, error=error)
        log.info("run %s %s", self.run_id, status.value)
        return status

    def _metrics(self) -> dict[str, Any] | None:
        try:
            summary = json.loads((self.folder / "summary.json").read_text())
        except (OSError, ValueError):
            return None
        return summary.get("policy")


def supervise(run: dict[str, Any], store: RunStore, executor: dict[str, Any]) -> RunStatus:
    return Supervisor(run, store, executor)()


def recover(store: RunStore, exclude: Iterable[str] = ()) -> list[str]:
    """Mark lost runs as failed (``lost``), ending their process group if it still exists on this
    host, and return their ids. A run is lost when its heartbeat went stale, or at once when the
    local executor that supervised it on this host is dead (its job's watchdog ends the job within
    seconds of that death; nobody would record its end). ``exclude``: the runs the calling
    executor supervises itself (alive, whatever their heartbeat says after a store outage)."""
    lost = []
    host = socket.gethostname()
    skip = set(exclude)
    cutoff = now().timestamp() - stale_seconds()
    for doc in store.running():
        if doc["_id"] in skip:
            continue
        executor = doc.get("executor") or {}
        on_host = executor.get("host") == host
        supervisor = executor.get("executor_pid") if executor.get("name") == "local" else None
        beat = doc.get("heartbeat_at")
        if on_host and supervisor and not alive(int(supervisor)):
            why = f"the executor (pid {supervisor}) that supervised it died"
        elif beat is None or beat.timestamp() < cutoff:
            why = "the executor stopped heartbeating"
        else:
            continue
        pgid = executor.get("pgid")
        if pgid and on_host:
            # longer than the watchdog's own grace: it ends the kernel, which is not in the group
            kill_group(int(pgid), grace=WATCHDOG_GRACE + 2.0)
        if store.mark_lost(doc["_id"], beat, why):
            log.warning("run %s is lost: %s", doc["_id"], why)
            lost.append(doc["_id"])
    return lost
