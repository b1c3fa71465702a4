"""Failures, cancel and the concurrency limit, with the real executor daemon."""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest

from stockbot.jobs import run_dir, submit, wait_for
from stockbot.store import RunStore
from tests.jobs.helpers import LONG_TRAIN, group_alive, wait_until

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]

DATA = {"symbols": ["AAPL", "KO"], "start": "2017-01-03", "end": "2017-12-06"}


def test_a_failing_job_names_its_cell_and_keeps_the_log(
    executor: dict, store: RunStore, tmp_path: Path
) -> None:
    weights = tmp_path / "w.csv"
    weights.write_text("timestamp,symbol,weight\n2017-02-01,KO,0.5\n")
    run_id = submit(
        "backtest", {"data": DATA, "policy": {"type": "weights_csv", "path": str(weights)}}, store=store
    )
    weights.unlink()  # valid at submit; gone when the notebook reads it
    doc = wait_for(run_id, store, timeout=120)
    assert doc["status"] == "failed"
    err = doc["error"]
    assert err["type"] == "DataError" and "cannot read weights file" in err["message"]
    folder = run_dir(run_id)
    book = nbformat.read(folder / "notebook.ipynb", as_version=4)
    assert "run_backtest_job(" in book.cells[err["cell"]].source  # the cell of the one stockbot call
    assert "DataError" in (folder / "job.log").read_text()
    assert (folder / "notebook.ipynb").is_file()  # the failed notebook is the error report


def test_cancel_a_running_training_job(executor: dict, store: RunStore) -> None:
    run_id = submit("train", LONG_TRAIN, store=store)
    doc = wait_until(
        store, run_id, lambda d: d["status"] == "running" and (d["progress"].get("step") or 0) > 0
    )
    pgid = doc["executor"]["pgid"]
    assert group_alive(pgid)
    store.request_cancel(run_id)
    doc = wait_for(run_id, store, timeout=60)
    assert doc["status"] == "cancelled"
    deadline = time.monotonic() + 10
    while group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not group_alive(pgid), "the job's process group survived the cancel"


def test_concurrency_limit_with_three_jobs(executor: dict, store: RunStore) -> None:
    assert executor["concurrency"] == 2
    ids = [
        submit(
            "backtest", {"data": DATA, "policy": {"type": "equal_weight", "rebalance": 5 + i}}, store=store
        )
        for i in range(3)
    ]
    most = 0
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        docs = [store.get(i) for i in ids]
        running = sum(d["status"] == "running" for d in docs)  # type: ignore[index]
        most = max(most, running)
        if all(d["status"] in ("succeeded", "failed", "cancelled") for d in docs):  # type: ignore[index]
            break
        time.sleep(0.1)
    assert [store.get(i)["status"] for i in ids] == ["succeeded"] * 3  # type: ignore[index]
    assert most == 2, f"at most {most} ran at once; the limit is 2"
