"""The training speed behind the forms' duration estimate, measured the way the estimate reads it;
prints JSON.

Real train jobs (the default TrainConfig with only ``ppo.policy`` and the budget changed) run
through the executor in a throwaway STOCKBOT_HOME, as a user's would; each finished run is then read
by ``stockbot.jobs.estimate.run_timing`` (SB3's ``time/fps`` from its tb/ files, the rest of its wall
time as overhead) and the median per policy is what ``DEFAULT_RATES`` holds.

    .venv/bin/python benchmarks/training_rate.py [--budgets 8192 16384] [--policies mlp cnn lstm]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--budgets", type=int, nargs="+", default=[8192, 16384])
    ap.add_argument("--policies", nargs="+", default=["mlp", "cnn", "lstm"])
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="stockbot-bench-"))
    os.environ["STOCKBOT_HOME"] = str(home)
    os.environ.pop("STOCKBOT_MONGO_URI", None)

    from stockbot.jobs import ensure_executor, stop_executor, submit, wait_for
    from stockbot.jobs.estimate import run_timing
    from stockbot.store import RunStore, ensure_store, stop_store

    out: dict[str, object] = {"budgets": args.budgets, "cpus": os.cpu_count()}
    ensure_store()
    try:
        ensure_executor(concurrency=1)
        runs = RunStore()
        for policy in args.policies:
            rows = []
            for budget in args.budgets:
                config = {"ppo": {"policy": policy, "total_timesteps": budget}}
                t0 = time.perf_counter()
                run_id = submit("train", config, store=runs)
                doc = wait_for(run_id, runs, timeout=1800, poll=0.5)
                if doc["status"] != "succeeded":
                    raise SystemExit(f"{policy} training {run_id} {doc['status']}: {doc.get('error')}")
                timing = run_timing(doc)
                if timing is None:
                    raise SystemExit(f"{run_id}: its document lacks start/finish times or steps")
                rows.append(
                    {
                        "budget": budget,
                        "steps": timing.steps,
                        "submit_to_done_s": round(time.perf_counter() - t0, 2),
                        "wall_s": round(timing.wall_seconds, 2),
                        "steps_per_s": round(timing.steps_per_second, 1),
                        "overhead_s": round(timing.overhead_seconds, 2),
                    }
                )
            out[policy] = {
                "runs": rows,
                "median_steps_per_s": round(statistics.median(r["steps_per_s"] for r in rows), 1),
                "median_overhead_s": round(statistics.median(r["overhead_s"] for r in rows), 2),
            }
        stop_executor()
    finally:
        stop_store()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
