"""/dashboard: whose runs are listed, filters, the metric threshold, paging and the comparison."""

from __future__ import annotations

import pandas as pd
import pytest

from dashboards import runs_list
from dashboards.state.runs_list import RunsListState
from dashboards.viewer import Viewer
from stockbot.store import RunStatus, RunStore
from tests.dashboards.conftest import BOKEH_INPLACE, add_run, equity_frame, metrics, write_results

pytestmark = [pytest.mark.timeout(120), pytest.mark.filterwarnings(BOKEH_INPLACE)]

ALICE, BOB, ADMIN = Viewer("alice", False), Viewer("bob", False), Viewer("root", True)

# id -> (owner, status, metrics): alice has four runs, bob one
RUNS = {
    "20261101-120000-backtest-000a": ("alice", "succeeded", metrics(1.8, 0.20, -0.05)),
    "20261101-120100-backtest-000b": ("alice", "succeeded", metrics(0.4, 0.03, -0.12)),
    "20261101-120200-train-000c": ("alice", "running", None),
    "20261101-120300-backtest-000d": ("alice", "succeeded", metrics(None, 0.0, 0.0)),  # cash: no Sharpe
    "20261101-120400-backtest-000e": ("bob", "succeeded", metrics(2.5, 0.31, -0.04)),
}


@pytest.fixture
def runs(store: RunStore) -> RunStore:
    for minutes, (run_id, (owner, status, m)) in enumerate(RUNS.items()):
        progress = {"step": 30, "total": 120, "message": "training"} if status == "running" else None
        add_run(store, run_id, owner, status=status, metrics=m, minutes=minutes, progress=progress)
    return store


def listed(state: RunsListState) -> list[str]:
    return list(state.rows()["run"])


def newest_first(ids: list[str]) -> list[str]:
    return sorted(ids, reverse=True)  # ids start with their UTC creation time


def test_a_user_sees_only_their_runs_whatever_the_owner_filter(runs: RunStore) -> None:
    state = RunsListState(ALICE, store=runs)
    state.owner = "bob"  # only admins may filter by owner; ignored for others
    state.refresh()
    alice = [r for r, (owner, _, _) in RUNS.items() if owner == "alice"]
    assert listed(state) == newest_first(alice)
    assert state.total == len(alice)
    assert state.query()["owner"] == "alice"


def test_an_admin_sees_everyone_and_can_filter_by_owner(runs: RunStore) -> None:
    state = RunsListState(ADMIN, store=runs)
    state.refresh()
    assert listed(state) == newest_first(list(RUNS))
    state.owner = "bob"  # the watcher refreshes
    assert listed(state) == ["20261101-120400-backtest-000e"]


def test_kind_and_status_filters(runs: RunStore) -> None:
    state = RunsListState(ALICE, store=runs)
    state.kind = "train"
    assert listed(state) == ["20261101-120200-train-000c"]
    state.kind = ""
    state.status = "succeeded"
    expected = [r for r, (o, s, _) in RUNS.items() if o == "alice" and s == "succeeded"]
    assert listed(state) == newest_first(expected)


def test_paging(runs: RunStore) -> None:
    state = RunsListState(ADMIN, store=runs, page_size=2)
    state.refresh()
    assert state.pages == 3
    state.page = 1
    assert listed(state) == newest_first(list(RUNS))[2:4]
    state.kind = "backtest"  # a new filter starts again at the first page
    assert state.page == 0


@pytest.mark.parametrize(("metric", "op", "threshold"), [("sharpe", ">", 1.0), ("max_drawdown", "<", -0.1)])
def test_the_metric_threshold_applies_to_the_listed_page(
    runs: RunStore, metric: str, op: str, threshold: float
) -> None:
    state = RunsListState(ADMIN, store=runs)
    state.refresh()
    table = pd.DataFrame([{"run": r, **(m or {})} for r, (_, _, m) in RUNS.items()]).set_index("run")
    values = table[metric]
    keep = values > threshold if op == ">" else values < threshold  # NaN (no metric) is never kept
    state.param.update(metric=metric, op=op, threshold=threshold)
    assert listed(state) == newest_first(list(values[keep].index))
    assert state.total == len(RUNS)  # the threshold does not change what the store matched
    state.threshold = None
    assert len(listed(state)) == len(RUNS)


def test_rows_carry_progress_and_metrics(runs: RunStore) -> None:
    state = RunsListState(ALICE, store=runs)
    state.refresh()
    rows = state.rows().set_index("run")
    assert rows.loc["20261101-120200-train-000c", "progress"] == pytest.approx(30 / 120)
    assert rows.loc["20261101-120200-train-000c", "message"] == "training"
    assert rows.loc["20261101-120000-backtest-000a", "sharpe"] == pytest.approx(1.8)
    assert pd.isna(rows.loc["20261101-120300-backtest-000d", "sharpe"])
    assert (
        state.run_url("20261101-120000-backtest-000a")
        == "/services/stockbot/runs/20261101-120000-backtest-000a"
    )


def test_refresh_shows_new_runs_and_status_changes(runs: RunStore) -> None:
    state = RunsListState(ALICE, store=runs)
    state.refresh()
    add_run(runs, "20261101-130000-train-00ff", "alice", status="queued", minutes=60)
    assert runs.finish("20261101-120200-train-000c", RunStatus.FAILED)
    state.refresh()
    rows = state.rows().set_index("run")
    assert rows.index[0] == "20261101-130000-train-00ff"
    assert rows.loc["20261101-120200-train-000c", "status"] == "failed"


def test_only_listed_runs_can_be_compared(runs: RunStore) -> None:
    state = RunsListState(ALICE, store=runs)
    state.refresh()
    state.select(["20261101-120000-backtest-000a", "20261101-120400-backtest-000e"])  # the second is bob's
    assert state.selected == ["20261101-120000-backtest-000a"]


def test_compare_metrics_and_equity(runs: RunStore) -> None:
    a, b = "20261101-120000-backtest-000a", "20261101-120100-backtest-000b"
    eq_a, eq_b = equity_frame(1), equity_frame(2, bars=40)
    bench_a = metrics(1.1, 0.12, -0.07)
    write_results(a, eq_a, RUNS[a][2], bench_a)
    write_results(b, eq_b, RUNS[b][2], metrics(0.9, 0.08, -0.09))
    state = RunsListState(ALICE, store=runs)
    state.refresh()
    state.select([a, b])

    table = state.compare_metrics().set_index(["run", "series"])
    assert table.loc[(a, "policy"), "sharpe"] == pytest.approx(1.8)
    assert table.loc[(a, "buy & hold"), "sharpe"] == pytest.approx(1.1)
    assert table.loc[(b, "buy & hold"), "max_drawdown"] == pytest.approx(-0.09)
    assert len(table) == 4

    curves = state.compare_equity()
    assert len(curves) == 2 * (len(eq_a) + len(eq_b))
    policy_a = curves[(curves["run"] == a) & (curves["series"] == "policy")]
    bench_b = curves[(curves["run"] == b) & (curves["series"] == "buy & hold")]
    assert policy_a["equity"].to_numpy() == pytest.approx(eq_a["equity"].to_numpy())
    assert bench_b["equity"].to_numpy() == pytest.approx(eq_b["benchmark_equity"].to_numpy())
    assert list(bench_b["timestamp"]) == list(eq_b["timestamp"])


def test_a_run_without_results_compares_with_its_document_metrics(runs: RunStore) -> None:
    state = RunsListState(ALICE, store=runs)
    state.refresh()
    state.select(["20261101-120100-backtest-000b"])
    table = state.compare_metrics()
    assert list(table["series"]) == ["policy"]
    assert table["total_return"].iloc[0] == pytest.approx(0.03)
    assert state.compare_equity().empty


def test_the_page_builds_and_follows_the_state(runs: RunStore) -> None:
    a = "20261101-120000-backtest-000a"
    write_results(a, equity_frame(1), RUNS[a][2], metrics(1.1, 0.12, -0.07))
    state = RunsListState(ALICE, store=runs)
    state.refresh()
    page = runs_list.view(state, refresh_ms=None)
    page.get_root()
    tables = [w for w in page.select() if "stockbot-runs-table" in getattr(w, "css_classes", [])]
    assert len(tables) == 1
    table = tables[0]
    assert list(table.value["run"]) == listed(state)
    assert table.formatters["run"]["urlPrefix"] == "/services/stockbot/runs/"
    # ticking a row in the table selects that run for the comparison
    table.selection = [list(table.value["run"]).index(a)]
    assert state.selected == [a]
    chart = next(w for w in page.select() if "stockbot-compare-equity" in getattr(w, "css_classes", []))
    assert chart.visible and chart.object is not None
    state.status = "running"
    assert list(table.value["run"]) == ["20261101-120200-train-000c"]
