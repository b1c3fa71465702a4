"""``make run``'s launcher (``python -m hub``): it prints the URL and the first admin password, the
platform answers, Ctrl-C leaves nothing running or listening, and a restart keeps the account."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from stockbot.procs import alive
from tests.conftest import need
from tests.e2e.conftest import CHP, Hub, free_port, login

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
        stderr=subprocess.DEVNULL,
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
