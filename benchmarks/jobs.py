"""Job and store overheads; prints JSON.

- submit -> running latency and the phases of a small notebook job (a cash backtest on bundled
  data) from the supervisor's timings, against calling the same function directly (in a warm
  process and in a fresh one);
- run-list queries (page of 50, newest first, with the total) over 10,000 run documents.

    .venv/bin/python benchmarks/jobs.py [--jobs 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIG = {
    "data": {"symbols": ["KO", "PG"], "start": "2017-01-03", "end": "2017-12-06"},
    "policy": {"type": "cash"},
}


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=3)
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="stockbot-bench-"))
    os.environ["STOCKBOT_HOME"] = str(home)
    os.environ.pop("STOCKBOT_MONGO_URI", None)

    from pymongo import MongoClient

    from stockbot.config import BacktestConfig, validate_config
    from stockbot.jobs import ensure_executor, stop_executor, submit, wait_for
    from stockbot.store import RunStore, ensure_store, stop_store
    from stockbot.store.db import ensure_indexes
    from stockbot.tasks import run_backtest_job

    out: dict[str, object] = {}
    t0 = time.perf_counter()
    info = ensure_store()
    out["store_start_s"] = round(time.perf_counter() - t0, 3)
    try:
        # ---------------------------------------------------------------- store throughput
        client: MongoClient = MongoClient(info.uri, tz_aware=True)
        db = client["bench"]
        ensure_indexes(db)
        store = RunStore(db)
        base = dt.datetime.now(dt.UTC)
        docs = [
            {
                "_id": f"run-{i:05d}",
                "kind": ("train", "backtest")[i % 2],
                "owner": f"user{i % 10}",
                "status": ("succeeded", "failed", "queued")[i % 3],
                "created_at": base - dt.timedelta(seconds=i),
                "config": {"data": {"symbols": ["AAPL", "MSFT"]}},
                "metrics": {"sharpe": i / 1000},
            }
            for i in range(10_000)
        ]
        t0 = time.perf_counter()
        db["runs"].insert_many(docs)
        out["store_insert_10000_s"] = round(time.perf_counter() - t0, 3)
        for name, kw in (
            ("all", {}),
            ("owner", {"owner": "user3"}),
            ("owner_kind", {"owner": "user3", "kind": "train"}),
        ):
            lat = []
            for _ in range(30):
                t0 = time.perf_counter()
                page, total = store.list(limit=50, **kw)
                lat.append((time.perf_counter() - t0) * 1000)
            out[f"list_page50_{name}_ms"] = {
                "p50": round(statistics.median(lat), 2),
                "p95": round(pct(lat, 0.95), 2),
                "total": total,
                "rows": len(page),
            }
        client.close()

        # ---------------------------------------------------------------- a small notebook job
        ensure_executor(concurrency=1)
        runs = RunStore()
        jobs = []
        for _ in range(args.jobs):
            t_submit = time.perf_counter()
            run_id = submit("backtest", CONFIG, store=runs)
            doc = wait_for(run_id, runs, timeout=300, poll=0.02)
            wall = time.perf_counter() - t_submit
            queued = (doc["started_at"] - doc["created_at"]).total_seconds()
            jobs.append(
                {
                    "status": doc["status"],
                    "wall_s": round(wall, 3),
                    "submit_to_running_s": round(queued, 3),
                    **{f"t_{k}": v for k, v in (doc.get("timings") or {}).items()},
                }
            )
        out["notebook_job"] = jobs
        stop_executor()

        cfg = validate_config(BacktestConfig, CONFIG)
        run_backtest_job(cfg, home / "warmup")
        t0 = time.perf_counter()
        run_backtest_job(cfg, home / "direct")
        out["direct_call_warm_s"] = round(time.perf_counter() - t0, 3)
        code = (
            "from stockbot.config import BacktestConfig, validate_config; "
            "from stockbot.tasks import run_backtest_job; "
            f"run_backtest_job(validate_config(BacktestConfig, {CONFIG!r}), {str(home / 'cold')!r})"
        )
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        out["direct_call_fresh_process_s"] = round(time.perf_counter() - t0, 3)
    finally:
        stop_store()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
