"""A real JupyterHub (with configurable-http-proxy) started once for the e2e tests, on free ports."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from stockbot.procs import stop_group
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
def start_hub(home: Path, python: Path | None = None, **extra_env: str) -> Iterator[Hub]:
    """The real hub (and its proxy) on free ports with ``home`` as STOCKBOT_HOME; stopped after.
    ``python``: the environment's interpreter the hub runs on (default: the tests' own)."""
    need(CHP.exists(), "configurable-http-proxy (make install puts it in .hub-node/)")
    port = free_port()
    env = {
        **os.environ,
        "STOCKBOT_HOME": str(home),
        "STOCKBOT_HUB_PORT": str(port),
        "STOCKBOT_HUB_API_PORT": str(free_port()),
        "STOCKBOT_PROXY_API_PORT": str(free_port()),
        "STOCKBOT_SERVICE_PORT": str(free_port()),
        **extra_env,
    }
    log = home / "hub.log"
    hub = [str(python), "-m", "jupyterhub"] if python else [str(Path(sys.executable).parent / "jupyterhub")]
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            [*hub, "-f", str(ROOT / "jupyterhub_config.py")],
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
        stop_group(proc)
        # the daemons the service started on demand (the executor and the embedded store)
        from stockbot.jobs import stop_executor
        from stockbot.store.server import stop_store

        stop_executor(home)
        stop_store(home)


@pytest.fixture(scope="session")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    with start_hub(tmp_path_factory.mktemp("hub-home"), STOCKBOT_ADMIN_PASSWORD=ADMIN_PASSWORD) as h:
        yield h


def form(session: requests.Session, hub: Hub, path: str, data: dict[str, str]) -> requests.Response:
    """POST one of the hub's forms as a browser does (with the _xsrf cookie's value)."""
    session.get(f"{hub.url}/hub/{path}", timeout=10)  # sets the _xsrf cookie
    data = {**data, "_xsrf": session.cookies.get("_xsrf", "")}
    return session.post(f"{hub.url}/hub/{path}", data=data, timeout=30, allow_redirects=False)


def login(hub: Hub, username: str, password: str) -> tuple[requests.Session, requests.Response]:
    s = requests.Session()
    return s, form(s, hub, "login", {"username": username, "password": password})


def admin_session(hub: Hub) -> requests.Session:
    s, r = login(hub, "admin", ADMIN_PASSWORD)
    assert r.status_code == 302, (r.status_code, r.text[-1000:], hub.log.read_text()[-2000:])
    return s


def new_user(hub: Hub, admin: requests.Session, name: str, password: str) -> requests.Session:
    """Sign ``name`` up, have the admin approve it, and return its logged-in hub session."""
    r = form(
        requests.Session(),
        hub,
        "signup",
        {"username": name, "signup_password": password, "signup_password_confirmation": password},
    )
    assert r.status_code == 200, r.text[-500:]
    assert admin.get(f"{hub.url}/hub/authorize/{name}", timeout=10).status_code in (200, 302)
    s, r = login(hub, name, password)
    assert r.status_code == 302, r.text[-500:]
    return s


def api_token(hub: Hub, session: requests.Session, name: str) -> str:
    """A hub API token of the logged-in ``session``'s user (as /hub/token makes one)."""
    r = session.post(
        f"{hub.url}/hub/api/users/{name}/tokens",
        json={"note": "tests"},
        headers={"X-XSRFToken": session.cookies.get("_xsrf", ""), "Referer": f"{hub.url}/hub/token"},
        timeout=10,
    )
    assert r.status_code == 201, r.text
    return str(r.json()["token"])
