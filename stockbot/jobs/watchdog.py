"""``python -m stockbot.jobs.watchdog --parent PID -- CMD...``: the leader of a job's process group.

It runs ``CMD`` (Papermill) as its child and waits. Papermill's kernel is not in our process group:
jupyter_client starts every kernel in a session of its own, so neither a signal to the job's group
nor a parent-death signal on Papermill reaches it. The watchdog therefore makes itself the
"subreaper" of everything below it (an orphaned kernel becomes its child, not init's) and ends
every process below it, whichever group it is in:

- when the supervising process ``PID`` dies (a ``kill -9`` of the executor): nobody would read the
  job's log, record its end or cancel it, and the job must not finish unseen and leave results
  nobody can trust;
- when it gets SIGTERM (a cancel, or the supervisor's own stop);
- when ``CMD`` exits, so that no kernel outlives its notebook.

It exits with ``CMD``'s exit code (125 if the supervisor was gone before it started, 143 when it
was told to stop).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

POLL_SECONDS = 0.5
# below the supervisor's own grace (KILL_GRACE, 5 s) before it SIGKILLs our group
TERM_GRACE = 3.0
_PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Orphans below us are re-parented to us (Linux); False where that is not available."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def descendants(root: int) -> list[int]:
    """Every live process below ``root`` (from /proc: pid -> parent)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
    found: list[int] = []
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        found.extend(children)
        frontier.extend(children)
    return found


def _signal_all(sig: int) -> bool:
    """Send ``sig`` to every process below us and to their groups; True if any was there."""
    me = os.getpid()
    below = descendants(me)
    groups = set()
    for pid in below:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            groups.add(os.getpgid(pid))
    for pgid in groups - {os.getpgid(0)}:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)
    for pid in below:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
    return bool(below)


def end_everything(grace: float = TERM_GRACE) -> None:
    """SIGTERM every process below us (a kernel stops cleanly), SIGKILL what is left after
    ``grace`` seconds, reaping as they go."""
    _signal_all(signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        _reap()
        if not descendants(os.getpid()):
            return
        time.sleep(0.05)
    _signal_all(signal.SIGKILL)
    time.sleep(0.1)
    _reap()


def _reap() -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--parent", type=int, required=True, help="the supervisor's pid")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        ap.error("give the job's command after --")
    if os.getppid() != args.parent:  # the supervisor died before we even started
        return 125
    become_subreaper()
    stop = {"requested": False}

    def _term(signum: int, frame: object) -> None:
        stop["requested"] = True

    signal.signal(signal.SIGTERM, _term)
    child = subprocess.Popen(command)  # our group, our stdout (the supervisor's pipe)
    while True:
        try:
            code = child.wait(timeout=POLL_SECONDS)
        except subprocess.TimeoutExpired:
            code = None
        if code is not None:
            end_everything(grace=1.0)  # a kernel left behind by its notebook
            return code
        # once the supervisor is gone we are re-parented: our parent pid changes
        if os.getppid() != args.parent:
            # our stdout was the dead supervisor's pipe: nobody reads it now (writing would raise)
            end_everything()
            return 137
        if stop["requested"]:
            end_everything()
            child.wait()
            return 143


if __name__ == "__main__":
    sys.exit(main())
