"""``make run``'s launcher (``python -m hub``): it prints the URL and the first admin password, the
platform answers, Ctrl-C leaves nothing running or listening, and a restart keeps the account."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from stockbot.procs import alive
from tests.conftest import need
from tests.e2e.conftest import CHP, Hub, free_port, login
from tests.jobs.helpers import process_tree, still_alive

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]
ROOT = Path(__file__).parents[2]


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def free_ports() -> dict[str, int]:
    return {"hub": free_port(), "api": free_port(), "proxy": free_port(), "service": free_port()}


def launcher(home: Path, ports: dict[str, int], **extra: str) -> tuple[list[str], dict[str, str]]:
    """The command and environment of ``make run`` on ``ports``, with a first start's settings."""
    env = {
        **os.environ,
        **extra,
        "STOCKBOT_HOME": str(home),
        "STOCKBOT_HUB_API_PORT": str(ports["api"]),
        "STOCKBOT_PROXY_API_PORT": str(ports["proxy"]),
        "STOCKBOT_SERVICE_PORT": str(ports["service"]),
    }
    env.pop("STOCKBOT_ADMIN_PASSWORD", None)
    env.pop("STOCKBOT_MONGO_URI", None)
    return [sys.executable, "-m", "hub", "--port", str(ports["hub"])], env


def start(home: Path, ports: dict[str, int]) -> tuple[subprocess.Popen[str], list[str]]:
    cmd, env = launcher(home, ports)
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # all a person would see in the terminal
        text=True,
        start_new_session=True,
    )
    banner: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        banner.append(line.rstrip())
        if line.startswith("state:"):
            return proc, banner
    raise AssertionError(f"the launcher ended without its banner: {banner}")


def stop(proc: subprocess.Popen[str]) -> str:
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
    out, _ = proc.communicate(timeout=120)
    return out


def test_make_run_starts_everything_and_ctrl_c_stops_it(tmp_path: Path) -> None:
    need(CHP.exists(), "configurable-http-proxy (make install puts it in .hub-node/)")
    home = tmp_path / "state"
    ports = free_ports()
    proc, banner = start(home, ports)
    try:
        text = "\n".join(banner)
        url = f"http://127.0.0.1:{ports['hub']}"
        assert f"StockBot is running at {url}/" in text, text
        password = re.search(r"user 'admin', password (\S+)", text)
        assert password, text
        # a quiet start: one line per component, none of the proxy's or the hub's own chatter
        for component in ("store", "executor", "hub", "proxy", "service"):
            assert re.search(rf"^  {component} +ready ", text, re.M), (component, text)
        for noise in ("ConfigProxy", "ECONNREFUSED", "Traceback", "[I ", "[W ", "error"):
            assert noise not in text, (noise, text)
        assert "/hub/change-password" in text  # how to change the password
        _, r = login(Hub(url, home, home / "hub.log"), "admin", password.group(1))
        assert r.status_code == 302
        anonymous = requests.get(f"{url}/services/stockbot/api/runs", timeout=10)
        assert anonymous.status_code == 401
        store = json.loads((home / "store.json").read_text())
        executor = json.loads((home / "executor.json").read_text())
        assert alive(store["pid"]) and alive(executor["pid"])
        assert all(listening(p) for p in ports.values())
    finally:
        out = stop(proc)
    assert "StockBot stopped." in out and proc.returncode == 0
    # the password is printed once (so it lands once in any log of the output), and in no log file
    assert (text + out).count(password.group(1)) == 1, text + out
    assert not [f for f in (home / "logs").iterdir() if password.group(1) in f.read_text(errors="replace")]
    deadline = time.monotonic() + 10
    while any(listening(p) for p in ports.values()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [name for name, p in ports.items() if listening(p)]
    assert not alive(store["pid"]) and not alive(executor["pid"])
    # a restart keeps the hub's state: the same password, and no new one is printed
    proc, banner = start(home, ports)
    try:
        assert "password set at the first start" in "\n".join(banner)
        again = Hub(f"http://127.0.0.1:{ports['hub']}", home, home / "hub.log")
        assert login(again, "admin", password.group(1))[1].status_code == 302
    finally:
        stop(proc)


def test_a_hub_that_cannot_start_still_shows_the_new_password(tmp_path: Path) -> None:
    """The first admin password is printed before the hub starts: a failed start cannot lose it."""
    ports = free_ports()
    cmd, env = launcher(tmp_path / "state", ports, STOCKBOT_CHP=str(tmp_path / "no-such-proxy"))
    done = subprocess.run(
        cmd,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert re.search(r"user 'admin', password \S+", done.stdout), done.stdout
    assert "StockBot stopped." in done.stdout and done.returncode != 0
    assert not [name for name, p in ports.items() if listening(p)]


@pytest.fixture
def platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    """``make run`` on free ports; this test's own calls use the same home (and so its store)."""
    need(CHP.exists(), "configurable-http-proxy (make install puts it in .hub-node/)")
    home = tmp_path / "state"
    proc, _ = start(home, free_ports())
    monkeypatch.setenv("STOCKBOT_HOME", str(home))
    monkeypatch.delenv("STOCKBOT_MONGO_URI", raising=False)
    try:
        yield home, proc
    finally:
        if proc.poll() is None:
            stop(proc)
        from stockbot.store.db import close_all

        close_all()


def _running_training(home: Path) -> tuple[str, dict[str, str]]:
    """A long training, running, with its process tree (watchdog, Papermill, kernel)."""
    from stockbot.jobs import submit
    from stockbot.store import RunStore
    from tests.jobs.helpers import LONG_TRAIN, wait_until

    store = RunStore()
    run_id = submit("train", LONG_TRAIN, store=store)
    doc = wait_until(
        store, run_id, lambda d: d["status"] == "running" and (d["progress"].get("step") or 0) > 0
    )
    tree = process_tree(doc["executor"]["pgid"])
    assert any("ipykernel" in cmd for cmd in tree.values()), tree
    return run_id, tree  # type: ignore[return-value]


def _gone(tree: dict[int, str], within: float) -> bool:
    deadline = time.monotonic() + within
    while still_alive(tree) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not still_alive(tree)  # type: ignore[arg-type]


def restarted(record: Path, dead: int, within: float) -> int:
    """The pid of the live process that ``record`` (executor.json, store.json) names instead of
    ``dead`` within ``within`` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError):
            pid = int(json.loads(record.read_text())["pid"])
            if pid != dead and alive(pid):
                return pid
        time.sleep(0.2)
    raise AssertionError(f"{record.name}: nothing replaced pid {dead} within {within:.0f} s")


def test_make_run_restarts_a_dead_executor_and_store(platform: tuple[Path, subprocess.Popen[str]]) -> None:
    from stockbot.store import RunStore
    from tests.jobs.helpers import wait_until

    home, _ = platform
    run_id, tree = _running_training(home)
    executor = json.loads((home / "executor.json").read_text())["pid"]
    os.kill(executor, signal.SIGKILL)
    assert _gone(tree, 10), "the job outlived its executor by 10 s"
    now = restarted(home / "executor.json", executor, within=10)
    lost = wait_until(RunStore(), run_id, lambda d: d["status"] != "running", timeout=15)
    assert lost["status"] == "failed" and lost["error"]["type"] == "lost" and lost["metrics"] is None
    log = (home / "logs" / "platform.log").read_text()
    assert f"the executor (pid {executor}) died" in log, log
    assert f"died; restarted as pid {now}" in (home / "executor.log").read_text()

    store = json.loads((home / "store.json").read_text())["pid"]
    os.kill(store, signal.SIGKILL)
    restarted(home / "store.json", store, within=10)
    assert f"the store (pid {store}) died" in (home / "logs" / "platform.log").read_text()
    assert RunStore().get(run_id)["status"] == "failed"  # type: ignore[index]  # kept across the restart


def test_ctrl_c_after_an_executor_death_leaves_no_job_running(
    platform: tuple[Path, subprocess.Popen[str]],
) -> None:
    from stockbot.store import RunStore

    home, proc = platform
    run_id, tree = _running_training(home)
    os.kill(json.loads((home / "executor.json").read_text())["pid"], signal.SIGKILL)
    out = stop(proc)  # at once, before anything noticed the death
    assert "StockBot stopped." in out, out
    assert _gone(tree, 10), "the orphaned job is still running after make run stopped"
    from stockbot.store.server import ensure_store

    ensure_store(home)  # stopped with the platform: read what it recorded
    doc = RunStore().get(run_id)
    assert doc is not None and doc["status"] == "failed" and doc["error"]["type"] == "lost", doc
    from stockbot.store.server import stop_store

    stop_store(home)
