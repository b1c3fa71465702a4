"""The dask executor against a real scheduler and worker started here on loopback."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stockbot.jobs import ensure_executor, stop_executor, submit, wait_for
from stockbot.store import RunStore
from tests.conftest import need
from tests.jobs.helpers import LONG_TRAIN, group_alive, wait_until

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]


@pytest.fixture(scope="module")
def cluster(job_home: Path) -> Iterator[str]:
    need(shutil.which("dask", path=str(Path(sys.executable).parent)) is not None, "the dask CLI")
    bin_dir = Path(sys.executable).parent
    sched_file = job_home / "scheduler.json"
    common = {"stdout": subprocess.DEVNULL, "stderr": subprocess.STDOUT}
    scheduler = subprocess.Popen(
        [
            str(bin_dir / "dask"),
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--no-dashboard",
            "--scheduler-file",
            str(sched_file),
        ],
        **common,
    )
    worker = None
    try:
        deadline = time.monotonic() + 60
        while not sched_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        address = json.loads(sched_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        worker = subprocess.Popen(
            [
                str(bin_dir / "dask"),
                "worker",
                address,
                "--host",
                "127.0.0.1",
                "--nthreads",
                "2",
                "--no-dashboard",
                "--memory-limit",
                "4GB",
            ],
            **common,
        )
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(1, timeout=60)
        yield address
    finally:
        for proc in (worker, scheduler):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()


def test_dask_runs_jobs_and_cancels_running_ones(cluster: str, store: RunStore) -> None:
    info = ensure_executor(dask=cluster, concurrency=2)
    assert info["dask"] == cluster
    try:
        run_id = submit("backtest", {"data": {"symbols": ["KO", "PG"], "start": "2017-01-03"}}, store=store)
        doc = wait_for(run_id, store, timeout=180)
        assert doc["status"] == "succeeded", doc.get("error")
        assert doc["executor"]["name"] == "dask" and doc["executor"]["dask_key"]
        assert doc["metrics"]["n_trades"] == 2

        long_id = submit("train", LONG_TRAIN, store=store)
        doc = wait_until(
            store,
            long_id,
            lambda d: d["status"] == "running" and (d["progress"].get("step") or 0) > 0,
            timeout=180,
        )
        pgid = doc["executor"]["pgid"]
        store.request_cancel(long_id)
        assert wait_for(long_id, store, timeout=60)["status"] == "cancelled"
        deadline = time.monotonic() + 10
        while group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not group_alive(pgid)
    finally:
        stop_executor()
