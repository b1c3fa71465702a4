"""The StockBot service through the real hub and proxy; prints JSON.

- p50/p95 latency of ``GET /services/stockbot/api/runs`` (a page of 50 with the total) with 10,000
  runs in the store: an admin's unfiltered list and one user's list;
- time from ``POST /api/stockbot/backtest`` to the first log line on the run's stream, and to the
  final status.

Starts the platform as ``make run`` does (``python -m hub``) in a scratch STOCKBOT_HOME, on free
ports, and stops it (Ctrl-C) at the end.

    .venv/bin/python benchmarks/service.py [--requests 200]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "benchmark password 42"
BASELINE = {
    "data": {"symbols": ["KO", "PG"], "start": "2017-01-03", "end": "2017-12-06"},
    "policy": {"type": "cash"},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


def admin_token(url: str) -> str:
    s = requests.Session()
    s.get(f"{url}/hub/login", timeout=10)
    r = s.post(
        f"{url}/hub/login",
        data={"username": "admin", "password": PASSWORD, "_xsrf": s.cookies.get("_xsrf", "")},
        allow_redirects=False,
        timeout=30,
    )
    if r.status_code != 302:
        raise SystemExit(f"admin login failed: {r.status_code}")
    r = s.post(
        f"{url}/hub/api/users/admin/tokens",
        json={"note": "benchmark"},
        headers={"X-XSRFToken": s.cookies.get("_xsrf", ""), "Referer": f"{url}/hub/token"},
        timeout=10,
    )
    return str(r.json()["token"])


def seed_runs(home: Path, n: int) -> None:
    from pymongo import MongoClient

    from stockbot.store.db import DB_NAME

    uri = json.loads((home / "store.json").read_text())["uri"]
    client: MongoClient = MongoClient(uri, tz_aware=True)
    base = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    client[DB_NAME]["runs"].insert_many(
        [
            {
                "_id": f"{(base - dt.timedelta(seconds=i)):%Y%m%d-%H%M%S}-backtest-{i % 65536:04x}",
                "kind": ("train", "backtest")[i % 2],
                "owner": f"user{i % 10}" if i % 10 else "admin",
                "status": ("succeeded", "failed", "cancelled")[i % 3],
                "created_at": base - dt.timedelta(seconds=i),
                "config": {"data": {"symbols": ["AAPL", "MSFT"]}},
                "progress": {"step": 1, "total": 1, "message": "done"},
                "metrics": {"sharpe": i / 1000},
            }
            for i in range(n)
        ]
    )
    from stockbot.store.runs import RunStore

    RunStore(client[DB_NAME]).recount()  # the documents went in behind the store's back
    client.close()


def latency(url: str, token: str, params: dict[str, str], n: int) -> dict[str, float]:
    s = requests.Session()
    s.headers["Authorization"] = f"token {token}"
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = s.get(url, params=params, timeout=30)
        times.append((time.perf_counter() - t0) * 1000)
        r.raise_for_status()
    total = r.json()["total"]
    return {"p50_ms": round(pct(times, 0.5), 1), "p95_ms": round(pct(times, 0.95), 1), "total": total}


async def first_log_line(base: str, token: str) -> dict[str, float]:
    from tornado.httpclient import AsyncHTTPClient, HTTPRequest
    from tornado.websocket import websocket_connect

    headers = {"Authorization": f"token {token}"}
    t0 = time.perf_counter()
    resp = await AsyncHTTPClient().fetch(
        HTTPRequest(f"{base}api/stockbot/backtest", method="POST", body=json.dumps(BASELINE), headers=headers)
    )
    run_id = json.loads(resp.body)["run_id"]
    posted = time.perf_counter() - t0
    conn = await websocket_connect(
        HTTPRequest(f"{base}api/runs/{run_id}/stream".replace("http://", "ws://"), headers=headers)
    )
    first = None
    while (msg := await conn.read_message()) is not None:
        m = json.loads(msg)
        if m["type"] == "log" and first is None:
            first = time.perf_counter() - t0
    return {
        "post_s": round(posted, 3),
        "first_log_line_s": round(first or float("nan"), 3),
        "final_status_s": round(time.perf_counter() - t0, 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--runs", type=int, default=10_000)
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="stockbot-bench-service-"))
    port = free_port()
    env = {
        **os.environ,
        "STOCKBOT_HOME": str(home),
        "STOCKBOT_ADMIN_PASSWORD": PASSWORD,
        "STOCKBOT_HUB_API_PORT": str(free_port()),
        "STOCKBOT_PROXY_API_PORT": str(free_port()),
        "STOCKBOT_SERVICE_PORT": str(free_port()),
    }
    env.pop("STOCKBOT_MONGO_URI", None)
    url = f"http://127.0.0.1:{port}"
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=(home / "hub.log").open("wb"),
        text=True,
        start_new_session=True,
    )
    out: dict[str, object] = {}
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # the launcher prints its banner once hub and service answer
            if line.startswith("StockBot is running"):
                break
        else:
            raise SystemExit(f"the platform did not start; see {home / 'hub.log'}")
        out["platform_start_s"] = round(time.perf_counter() - t0, 2)
        token = admin_token(url)
        seed_runs(home, args.runs)
        api = f"{url}/services/stockbot/api/runs"
        out["runs_in_store"] = args.runs
        out["list_admin_unfiltered"] = latency(api, token, {"limit": "50"}, args.requests)
        out["list_admin_one_owner"] = latency(api, token, {"limit": "50", "owner": "user3"}, args.requests)
        out["list_admin_owner_kind"] = latency(
            api, token, {"limit": "50", "owner": "user3", "kind": "train"}, args.requests
        )
        out["backtest_stream"] = asyncio.run(first_log_line(f"{url}/services/stockbot/", token))
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        t0 = time.perf_counter()
        proc.wait(timeout=120)
        out["platform_stop_s"] = round(time.perf_counter() - t0, 2)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
