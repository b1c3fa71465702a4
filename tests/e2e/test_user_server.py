"""Inside a hub user's server: code in a notebook kernel reaches the StockBot service with the
server's own token (as that user), and the Voila dashboards render from the user's server."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from tests.e2e.conftest import Hub, admin_session, api_token, new_user

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]
USER = "dave"


@pytest.fixture(scope="module")
def server(hub: Hub) -> Iterator[dict[str, str]]:
    """Dave's running single-user server and his API token; stopped after the module."""
    session = new_user(hub, admin_session(hub), USER, "dave has a long password 3")
    auth = {"Authorization": f"token {api_token(hub, session, USER)}"}
    r = requests.post(f"{hub.url}/hub/api/users/{USER}/server", headers=auth, timeout=60)
    assert r.status_code in (201, 202), r.text
    deadline = time.monotonic() + 90
    while (
        not requests.get(f"{hub.url}/hub/api/users/{USER}", headers=auth, timeout=10)
        .json()["servers"]
        .get("", {})
        .get("ready")
    ):
        if time.monotonic() > deadline:
            raise AssertionError(f"the server never became ready:\n{hub.log.read_text()[-3000:]}")
        time.sleep(0.5)
    yield auth
    requests.delete(f"{hub.url}/hub/api/users/{USER}/server", headers=auth, timeout=60)


def run_in_kernel(hub: Hub, auth: dict[str, str], code: str, timeout: float = 120) -> str:
    """Execute ``code`` in a new kernel of the user's server; return its printed output."""
    base = f"{hub.url}/user/{USER}/api/kernels"
    kernel = requests.post(base, headers=auth, json={"name": "python3"}, timeout=60).json()["id"]

    async def execute() -> str:
        ws = await websocket_connect(
            HTTPRequest(f"{base}/{kernel}/channels".replace("http://", "ws://"), headers=auth)
        )
        msg_id = uuid.uuid4().hex
        header = {"msg_id": msg_id, "username": USER, "session": uuid.uuid4().hex, "version": "5.3"}
        request: dict[str, Any] = {
            "header": {**header, "msg_type": "execute_request", "date": ""},
            "parent_header": {},
            "metadata": {},
            "content": {"code": code, "silent": False, "store_history": False, "allow_stdin": False},
            "channel": "shell",
            "buffers": [],
        }
        await ws.write_message(json.dumps(request))
        out: list[str] = []
        while True:
            raw = await asyncio.wait_for(ws.read_message(), timeout)
            if not isinstance(raw, str):
                continue
            msg = json.loads(raw)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = msg["header"]["msg_type"]
            if kind == "stream":
                out.append(msg["content"]["text"])
            elif kind == "error":
                out.append("\n".join(msg["content"]["traceback"]))
            elif kind == "execute_reply":
                ws.close()
                return "".join(out)

    try:
        return asyncio.run(execute())
    finally:
        requests.delete(f"{base}/{kernel}", headers=auth, timeout=30)


def test_notebook_code_submits_through_the_service_as_the_user(hub: Hub, server: dict[str, str]) -> None:
    code = """
from stockbot.jobs.client import runs_client, wait
runs = runs_client()
run_id = runs.submit("backtest", {"data": {"symbols": ["KO", "PG"], "start": "2017-06-01"},
                                  "policy": {"type": "cash"}})
doc = wait(runs, run_id, timeout=120)
print(type(runs).__name__, doc["owner"], doc["status"], run_id)
"""
    out = run_in_kernel(hub, server, code)
    assert out.startswith("ServiceRuns dave succeeded "), out
    run_id = out.split()[-1]
    assert (hub.home / "runs" / run_id / "equity.csv").is_file()
    # the server's own token carries the service's access scope (Spawner.server_token_scopes)
    scopes = run_in_kernel(
        hub,
        server,
        "import os, requests; print(' '.join(requests.get(os.environ['JUPYTERHUB_API_URL'] + '/user', "
        "headers={'Authorization': 'token ' + os.environ['JUPYTERHUB_API_TOKEN']}).json()['scopes']))",
    ).split()
    assert "access:services!service=stockbot" in scopes and "admin:users" not in scopes, scopes
    # and no store address: runs are reached through the service only
    uri = run_in_kernel(hub, server, "import os; print(os.environ.get('STOCKBOT_MONGO_URI'))")
    assert uri.strip() == "None"


def test_voila_renders_a_dashboard_notebook_from_the_users_server(hub: Hub, server: dict[str, str]) -> None:
    assert (hub.home / "users" / USER / "dashboards" / "runs_overview.ipynb").is_file()
    r = requests.get(
        f"{hub.url}/user/{USER}/voila/render/dashboards/runs_overview.ipynb", headers=server, timeout=120
    )
    assert r.status_code == 200, r.text[-2000:]
    assert "voila" in r.text.lower() and "Traceback" not in r.text
