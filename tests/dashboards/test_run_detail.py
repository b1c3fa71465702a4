"""/runs/{run_id}: who may see a run, its results from the run folder, the log tail, links, cancel."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import panel as pn
import pytest

from dashboards import run_detail
from dashboards.state.files import tail_log
from dashboards.state.run_detail import RunDetailState
from dashboards.viewer import Viewer
from stockbot.jobs import run_dir
from stockbot.store import RunStatus, RunStore
from tests.dashboards.conftest import (
    BOKEH_INPLACE,
    add_run,
    equity_frame,
    trades_frame,
    write_results,
)

pytestmark = [pytest.mark.timeout(120), pytest.mark.filterwarnings(BOKEH_INPLACE)]

ALICE, BOB, ADMIN = Viewer("alice", False), Viewer("bob", False), Viewer("root", True)
RUN = "20261101-120000-backtest-0a0a"
POLICY = {
    "total_return": 0.12,
    "cagr": 0.3,
    "ann_vol": 0.1,
    "sharpe": 1.7,
    "max_drawdown": -0.04,
    "n_trades": 3,
    "win_rate": None,
}
BENCHMARK = {**POLICY, "sharpe": 1.1, "total_return": 0.08, "n_trades": 2}


@pytest.fixture
def finished(store: RunStore) -> pd.DataFrame:
    add_run(store, RUN, "alice", metrics=POLICY)
    equity = equity_frame(7)
    write_results(RUN, equity, POLICY, BENCHMARK)
    return equity


@pytest.mark.parametrize("run_id", [RUN, "20261101-120000-backtest-ffff", "../../etc", ""])
def test_a_missing_or_foreign_run_is_not_found(finished: pd.DataFrame, run_id: str) -> None:
    state = RunDetailState(BOB, run_id)
    assert not state.found and state.equity is None and state.log_tail == ""
    assert state.cancel() == "No such run, or it is not yours."


def test_owner_and_admin_see_the_run(finished: pd.DataFrame) -> None:
    assert RunDetailState(ALICE, RUN).found
    assert RunDetailState(ADMIN, RUN).found


def test_results_come_from_the_run_folder(finished: pd.DataFrame) -> None:
    state = RunDetailState(ALICE, RUN)
    curves = state.curves()
    assert curves is not None
    equity, bench = finished["equity"], finished["benchmark_equity"]
    assert curves["policy"].to_numpy() == pytest.approx(equity.to_numpy())
    assert curves["buy & hold"].to_numpy() == pytest.approx(bench.to_numpy())
    assert curves["policy drawdown"].to_numpy() == pytest.approx((equity / equity.cummax() - 1).to_numpy())
    assert curves["buy & hold drawdown"].to_numpy() == pytest.approx((bench / bench.cummax() - 1).to_numpy())
    assert list(curves.index) == list(finished["timestamp"])

    table = state.metrics_table().set_index("metric")
    assert table.loc["sharpe", "policy"] == pytest.approx(1.7)
    assert table.loc["sharpe", "buy & hold"] == pytest.approx(1.1)
    assert table.loc["n_trades", "buy & hold"] == 2
    assert np.isnan(table.loc["win_rate", "policy"])
    assert list(table.index) == [
        "total_return",
        "cagr",
        "ann_vol",
        "sharpe",
        "max_drawdown",
        "n_trades",
        "win_rate",
    ]

    expected_trades = trades_frame()
    pd.testing.assert_frame_equal(state.trades, expected_trades, check_dtype=False)


def test_files_written_later_are_read_on_refresh(store: RunStore) -> None:
    add_run(store, RUN, "alice", status="queued")
    state = RunDetailState(ALICE, RUN)
    assert state.curves() is None and state.metrics_table().empty and state.live
    first = equity_frame(1, bars=10)
    write_results(RUN, first, POLICY, BENCHMARK)
    state.refresh()
    assert len(state.curves()) == 10
    write_results(RUN, equity_frame(2, bars=25), POLICY, BENCHMARK)  # a rewritten file is reread
    state.refresh()
    assert len(state.curves()) == 25


def test_the_log_tail_is_the_last_lines(finished: pd.DataFrame) -> None:
    lines = [f"line {i} " + "x" * (i % 50) for i in range(5000)]
    (run_dir(RUN) / "job.log").write_text("\n".join(lines) + "\n")
    state = RunDetailState(ALICE, RUN)
    assert state.log_tail.split("\n") == lines[-200:]
    (run_dir(RUN) / "job.log").write_text("one\ntwo")  # no final newline
    assert tail_log(RUN, lines=5) == "one\ntwo"
    assert tail_log(RUN, lines=1) == "two"


def test_progress(store: RunStore) -> None:
    add_run(store, RUN, "alice", status="running", progress={"step": 250, "total": 1000, "message": "ppo"})
    state = RunDetailState(ALICE, RUN)
    assert state.progress == pytest.approx(0.25)
    assert state.progress_message == "250 / 1000 · ppo"
    assert store.update_running(RUN, {"progress": {"step": 3, "total": None, "message": ""}})
    state.refresh()
    assert state.progress is None and state.progress_message == "step 3"


def test_links(finished: pd.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    (run_dir(RUN) / "plots").mkdir()
    (run_dir(RUN) / "plots" / "equity curve.png").write_bytes(b"\x89PNG")
    (run_dir(RUN) / "notebook.ipynb").write_text("{}")
    state = RunDetailState(ALICE, RUN)
    paths = sorted(p.relative_to(run_dir(RUN)).as_posix() for p in run_dir(RUN).rglob("*") if p.is_file())
    assert [a["path"] for a in state.artifacts] == paths
    assert (
        state.artifact_url("plots/equity curve.png")
        == f"/services/stockbot/api/artifacts/{RUN}/plots/equity%20curve.png"
    )
    assert state.zip_url == f"/services/stockbot/api/artifacts/{RUN}/zip"
    assert state.notebook_url == f"/services/stockbot/api/runs/{RUN}/notebook"
    assert state.has_notebook
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user-facing/sb")
    assert state.zip_url == f"/user-facing/sb/api/artifacts/{RUN}/zip"
    assert state.backtest_url is None  # a backtest run is not backtested again


def test_a_succeeded_train_run_links_to_a_backtest_of_it(store: RunStore) -> None:
    add_run(store, "20261101-120000-train-0b0b", "alice")
    state = RunDetailState(ALICE, "20261101-120000-train-0b0b")
    assert state.backtest_url == "/services/stockbot/backtest/new?run_id=20261101-120000-train-0b0b"


def test_cancel_a_queued_run(store: RunStore) -> None:
    add_run(store, RUN, "alice", status="queued")
    state = RunDetailState(ALICE, RUN)
    assert state.can_cancel
    assert state.cancel() == "cancelled"
    assert store.get(RUN)["status"] == "cancelled"  # type: ignore[index]
    assert state.status == "cancelled" and not state.can_cancel
    assert state.cancel() == "the run is already cancelled"


def test_cancel_a_running_run(store: RunStore) -> None:
    add_run(store, RUN, "alice", status="queued")
    assert store.claim({"name": "test", "pid": os.getpid()}, RUN) is not None
    state = RunDetailState(ADMIN, RUN)  # admins may cancel anyone's run
    assert state.cancel() == "cancel requested"
    doc = store.get(RUN)
    assert doc is not None and doc["status"] == RunStatus.RUNNING.value and doc["cancel_requested_at"]
    assert state.live and not state.can_cancel


def _by_class(page: pn.viewable.Viewable) -> dict[str, object]:
    return {c: w for w in page.select() for c in getattr(w, "css_classes", []) or []}


def test_the_page_of_a_finished_run(finished: pd.DataFrame) -> None:
    page = run_detail.view(RunDetailState(ALICE, RUN), refresh_ms=None)
    page.get_root()
    parts = _by_class(page)
    assert 'class="stockbot-run-status" data-status="succeeded"' in parts["stockbot-run-header"].object
    assert parts["stockbot-equity-chart"].object is not None
    assert parts["stockbot-drawdown-chart"].object is not None
    assert len(parts["stockbot-metrics-table"].value) == len(POLICY)
    assert len(parts["stockbot-trades-table"].value) == len(trades_frame())
    assert not parts["stockbot-cancel"].visible


def test_the_page_of_a_running_run_follows_it(store: RunStore) -> None:
    add_run(store, RUN, "alice", status="queued")
    (run_dir(RUN) / "job.log").write_text("starting\n")
    state = RunDetailState(ALICE, RUN)
    page = run_detail.view(state, refresh_ms=None)
    page.get_root()
    parts = _by_class(page)
    assert parts["stockbot-cancel"].visible and not parts["stockbot-equity-chart"].visible
    logs = [p.object for p in page.select(pn.pane.HTML) if 'class="stockbot-log"' in str(p.object)]
    assert "starting" in logs[0]
    store.claim({"name": "test", "pid": os.getpid()}, RUN)
    with (run_dir(RUN) / "job.log").open("a") as fh:
        fh.write("training &lt;step 1&gt;\n")
    write_results(RUN, equity_frame(3), POLICY, BENCHMARK)
    store.finish(RUN, RunStatus.SUCCEEDED, metrics=POLICY)
    state.refresh()  # what the periodic callback does
    assert 'data-status="succeeded"' in parts["stockbot-run-header"].object
    assert parts["stockbot-equity-chart"].visible and not parts["stockbot-cancel"].visible
    logs = [p.object for p in page.select(pn.pane.HTML) if 'class="stockbot-log"' in str(p.object)]
    assert "training &amp;lt;step 1&amp;gt;" in logs[0]  # the log is text, escaped


def test_the_page_of_a_missing_run(store: RunStore) -> None:
    page = run_detail.view(RunDetailState(ALICE, RUN), refresh_ms=None)
    page.get_root()
    assert "stockbot-not-found" in _by_class(page)
