"""Processes we start (the embedded store, the executor, the hub): is one alive, and stopping one."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any


def alive(pid: int | None) -> bool:
    """True if ``pid`` runs (a zombie, exited but not yet reaped, does not count)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (OSError, IndexError):
        return True


def terminate(pid: int, timeout: float = 10.0, *, group: bool = False) -> None:
    """SIGTERM, wait up to ``timeout`` seconds (reaping it if it is our child), then SIGKILL.
    ``group``: ``pid`` leads a process group (``start_new_session=True``) that goes with it."""
    kill = os.killpg if group else os.kill
    with contextlib.suppress(ProcessLookupError, PermissionError):
        kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)
    if alive(pid) or group:  # a group's other members may outlive its leader
        with contextlib.suppress(ProcessLookupError, PermissionError):
            kill(pid, signal.SIGKILL)


def stop_group(proc: subprocess.Popen[Any], timeout: float = 30.0) -> None:
    """End a child started with ``start_new_session=True`` and everything in its process group:
    SIGTERM, up to ``timeout`` seconds for a clean exit, then SIGKILL; the child is reaped."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
