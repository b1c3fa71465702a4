"""A real JupyterHub (with configurable-http-proxy) started once for the e2e tests, on free ports."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.conftest import need

ROOT = Path(__file__).parents[2]
CHP = ROOT / ".hub-node" / "node_modules" / ".bin" / "configurable-http-proxy"
ADMIN_PASSWORD = "correct horse battery 42"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Hub:
    url: str
    home: Path
    log: Path


@contextlib.contextmanager
def start_hub(home: Path, **extra_env: str) -> Iterator[Hub]:
    """The real hub (and its proxy) on free ports with ``home`` as STOCKBOT_HOME; stopped after."""
    need(CHP.exists(), "configurable-http-proxy (make install puts it in .hub-node/)")
    port = free_port()
    env = {
        **os.environ,
        "STOCKBOT_HOME": str(home),
        "STOCKBOT_HUB_PORT": str(port),
        "STOCKBOT_HUB_API_PORT": str(free_port()),
        "STOCKBOT_PROXY_API_PORT": str(free_port()),
        **extra_env,
    }
    log = home / "hub.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "jupyterhub"), "-f", str(ROOT / "jupyterhub_config.py")],
            cwd=home,
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{url}/hub/api", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the hub did not start:\n{log.read_text()[-4000:]}")
            time.sleep(0.2)
        yield Hub(url, home, log)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="session")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    with start_hub(tmp_path_factory.mktemp("hub-home"), STOCKBOT_ADMIN_PASSWORD=ADMIN_PASSWORD) as h:
        yield h
