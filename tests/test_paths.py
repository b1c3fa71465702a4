"""The state folder is private: entry points set umask 077 and a new STOCKBOT_HOME is 0700."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stockbot.paths import ensure_home, private_umask
from stockbot.store.server import stop_store

pytestmark = pytest.mark.timeout(120)


def exposed(home: Path) -> list[str]:
    """Everything under ``home`` (itself included) that another OS account could read or enter."""
    found = []
    for path in [home, *home.rglob("*")]:
        mode = path.lstat().st_mode
        if not stat.S_ISLNK(mode) and mode & 0o077:
            found.append(f"{path.relative_to(home.parent)} {stat.filemode(mode)}")
    return found


def test_private_umask_sets_077_and_returns_the_previous_one() -> None:
    before = os.umask(0o022)
    try:
        assert private_umask() == 0o022
        assert os.umask(0o022) == 0o077
    finally:
        os.umask(before)


def test_a_new_home_is_0700_whatever_the_umask(tmp_path: Path) -> None:
    before = os.umask(0)
    try:
        home = ensure_home(tmp_path / "a" / "home")
    finally:
        os.umask(before)
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    # a folder that exists keeps the mode a deployment gave it
    opened = tmp_path / "opened"
    opened.mkdir()
    opened.chmod(0o711)
    ensure_home(opened)
    assert stat.S_IMODE(opened.stat().st_mode) == 0o711


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "STOCKBOT_MONGO_URI"}
    return {**env, "STOCKBOT_HOME": str(home)}


def test_without_the_entry_points_umask_the_store_files_are_readable_by_others(tmp_path: Path) -> None:
    """The canary: the same start from a process that keeps umask 022 leaves the store's data files
    open to every account, so the checks below can tell a private folder from an open one."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    code = "from stockbot.store.server import ensure_store; ensure_store()"
    try:
        subprocess.run([sys.executable, "-c", code], env=_env(home), umask=0o022, check=True, timeout=60)
        leaks = exposed(home)
        assert any("store/data/" in leak for leak in leaks), leaks
        # what the platform writes itself is private in any case
        for name in ("store.json", "store/credentials"):
            assert stat.S_IMODE((home / name).stat().st_mode) == 0o600
    finally:
        stop_store(home)


def test_the_cli_makes_everything_it_creates_private(tmp_path: Path) -> None:
    home = tmp_path / "home"  # created by the command itself
    cli = [sys.executable, "-c", "from stockbot.cli import main; main()", "store", "start"]
    try:
        out = subprocess.run(
            cli, env=_env(home), umask=0o022, capture_output=True, text=True, timeout=60, check=False
        )
        assert out.returncode == 0, out.stderr
        # the address is printed, never the credential
        assert out.stdout.startswith("mongodb://127.0.0.1:") and "@" not in out.stdout
        assert (home / "store" / "data" / "WiredTiger.wt").exists()
        assert exposed(home) == []
    finally:
        stop_store(home)


def test_the_executor_daemon_makes_everything_it_creates_private(tmp_path: Path) -> None:
    home = tmp_path / "home"
    proc = subprocess.Popen(
        [sys.executable, "-m", "stockbot.jobs"],
        env=_env(home),
        umask=0o022,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (home / "store.json").exists():  # the daemon starts the store it needs
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the executor never started the store"
            time.sleep(0.1)
        time.sleep(1.0)  # let it open the store and write its first documents
        assert proc.poll() is None
        assert exposed(home) == []
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        if proc.stderr:
            proc.stderr.close()
        stop_store(home)
