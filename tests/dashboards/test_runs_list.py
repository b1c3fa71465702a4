"""/dashboard: whose runs are listed, filters, the metric threshold, paging and the comparison."""

from __future__ import annotations

import pandas as pd
import pytest

from dashboards import runs_list
from dashboards.state.runs_list import RunsListState
from dashboards.viewer import Viewer
from stockbot.jobs import run_dir
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
    assert list(table.value["Run"]) == listed(state)
    # the name links to the run page (the id column gives the URL)
    assert table.formatters["Name"] == {
        "type": "link",
        "urlPrefix": "/services/stockbot/runs/",
        "urlField": "Run",
    }
    assert table.sortable is False  # the store sorts; a header sort would sort one page only
    # ticking a row in the table selects that run for the comparison
    table.selection = [list(table.value["Run"]).index(a)]
    assert state.selected == [a]
    chart = next(w for w in page.select() if "stockbot-compare-equity" in getattr(w, "css_classes", []))
    assert chart.visible and chart.object is not None
    state.status = "running"
    assert list(table.value["Run"]) == ["20261101-120200-train-000c"]


# ------------------------------------------------------------------ names, search, sort, format


def test_the_table_reads_like_a_trading_tool(runs: RunStore) -> None:
    a = "20261101-120000-backtest-000a"
    runs.edit(a, {"name": "KO & PG <b>", "tags": ["dow", "base"]})
    state = RunsListState(ALICE, store=runs)
    state.refresh()
    table = state.table().set_index("Run")
    assert list(table.columns) == [
        "Name",
        "Tags",
        "Kind",
        "Status",
        "Progress",
        "Created",
        "Sharpe",
        "Total return",
        "CAGR",
        "Max drawdown",
    ]
    _, _, m = RUNS[a]
    assert table.loc[a, "Name"] == "KO & PG <b>" and table.loc[a, "Tags"] == "dow, base"
    assert table.loc[a, "Sharpe"] == f"{m['sharpe']:.2f}"
    assert table.loc[a, "Total return"] == f"{m['total_return'] * 100:.2f}%"
    assert table.loc[a, "Max drawdown"] == f"{m['max_drawdown'] * 100:.2f}%"
    assert table.loc[a, "Created"] == "2026-11-01 12:00 UTC"
    assert table.loc["20261101-120300-backtest-000d", "Sharpe"] == "—"  # cash: no Sharpe
    # runs without a stored name show their default; admins also see the owner
    b = "20261101-120100-backtest-000b"
    assert table.loc[b, "Name"] == "backtest"
    assert "Owner" in RunsListState(ADMIN, store=runs).table().columns


def test_search_and_sort_are_the_stores(runs: RunStore) -> None:
    runs.edit("20261101-120100-backtest-000b", {"name": "grid (a)"})
    runs.edit("20261101-120300-backtest-000d", {"name": "grid .*", "tags": ["cash"]})
    state = RunsListState(ALICE, store=runs)
    state.search = "(a)"
    assert listed(state) == ["20261101-120100-backtest-000b"] and state.total == 1
    state.search = "CASH"
    assert listed(state) == ["20261101-120300-backtest-000d"]
    state.search = ""
    state.param.update(sort="metrics.sharpe", descending=False)
    alice = {r: m for r, (o, _, m) in RUNS.items() if o == "alice"}
    frame = pd.DataFrame({"run": list(alice), "sharpe": [(m or {}).get("sharpe") for m in alice.values()]})
    frame["sharpe"] = frame["sharpe"].astype("float64")
    ref = frame.sort_values(["sharpe", "run"], ascending=True, na_position="last")
    assert listed(state) == list(ref["run"])
    assert state.query()["sort"] == "metrics.sharpe" and state.query()["descending"] is False


# ------------------------------------------------------------------ edit, archive, delete


def test_edit_a_runs_labels_in_the_dialog(runs: RunStore) -> None:
    a = "20261101-120000-backtest-000a"
    state = RunsListState(ALICE, store=runs)
    state.refresh()
    state.start_edit()
    assert state.editing == "" and "Tick one run" in state.message  # nothing ticked
    state.select([a])
    state.start_edit()
    assert state.editing == a and state.edit_name == "backtest"
    state.param.update(edit_name="first real test", edit_tags="dow, a,b ,", edit_note="note")
    assert state.save_edit()
    doc = runs.get(a)
    assert doc["name"] == "first real test" and doc["tags"] == ["dow", "a", "b"] and doc["note"] == "note"  # type: ignore[index]
    state.start_edit(a)
    assert state.edit_tags == "dow, a, b"
    state.edit_name = ""
    assert not state.save_edit()
    assert state.editing == a and state.edit_error.startswith("name:")
    assert runs.get(a)["name"] == "first real test"  # type: ignore[index]
    state.cancel_edit()
    assert state.editing == ""


def test_archive_and_restore_ticked_runs(runs: RunStore) -> None:
    a, running = "20261101-120000-backtest-000a", "20261101-120200-train-000c"
    state = RunsListState(ALICE, store=runs)
    state.refresh()
    state.select([a, running])
    state.set_archived(True)
    assert "Archived 1 run(s)." in state.message and "running" in state.message
    assert a not in listed(state) and running in listed(state)
    assert state.selected == [running]
    assert state.total == 3
    state.archived = "archived"
    assert listed(state) == [a]
    assert state.table().set_index("Run").loc[a, "Status"] == "succeeded (archived)"
    state.select([a])
    state.set_archived(False)
    assert listed(state) == [] and runs.get(a)["archived_at"] is None  # type: ignore[index]
    state.archived = "active"
    assert a in listed(state)


def test_delete_asks_first_and_keeps_what_it_must(runs: RunStore) -> None:
    a, b, running = (
        "20261101-120000-backtest-000a",
        "20261101-120100-backtest-000b",
        "20261101-120200-train-000c",
    )
    write_results(a, equity_frame(1), RUNS[a][2], metrics(1.1, 0.12, -0.07))
    child = "20261101-130000-backtest-00c1"
    add_run(runs, child, "alice", minutes=60)
    runs.col.update_one({"_id": child}, {"$set": {"parent": b}})
    state = RunsListState(ALICE, store=runs)
    state.refresh()
    state.select([a, b, running])
    state.request_delete()
    assert state.confirm_delete == [a, b, running]
    assert runs.get(a) is not None  # nothing happens before the confirmation
    state.cancel_delete()
    assert state.confirm_delete == [] and runs.get(a) is not None
    state.request_delete()
    state.delete_confirmed()
    assert runs.get(a) is None and not run_dir(a).exists()
    assert runs.get(b) is not None and runs.get(running) is not None
    assert "Deleted 1 run(s)" in state.message
    assert child in state.message and "running" in state.message
    assert a not in listed(state) and a not in state.selected
    assert state.total == 4


def test_a_user_can_act_only_on_runs_they_may_see(runs: RunStore) -> None:
    bobs = "20261101-120400-backtest-000e"
    state = RunsListState(ALICE, store=runs)
    state.refresh()
    state.select([bobs])
    assert state.selected == []  # never listed to alice
    state.selected = [bobs]  # even set behind the state's back
    state.set_archived(True)
    state.request_delete()
    state.delete_confirmed()
    assert runs.get(bobs) is not None and runs.get(bobs)["archived_at"] is None  # type: ignore[index]
    state.start_edit(bobs)
    assert state.editing == ""
    admin = RunsListState(ADMIN, store=runs)
    admin.refresh()
    admin.select([bobs])
    admin.set_archived(True)
    assert runs.get(bobs)["archived_at"] is not None  # type: ignore[index]


# ------------------------------------------------------------------ compare


def test_compare_shows_config_differences_only(runs: RunStore) -> None:
    a, b = "20261101-120000-backtest-000a", "20261101-120100-backtest-000b"
    cfg_a = {"data": {"symbols": ["KO", "PG"], "start": "2017-04-03"}, "policy": {"type": "cash"}, "rf": 0.0}
    cfg_b = {
        "data": {"symbols": ["KO", "PG"], "start": "2017-05-01"},
        "policy": {"type": "equal_weight", "rebalance": 5},
        "rf": 0.0,
    }
    runs.col.update_one({"_id": a}, {"$set": {"config": cfg_a, "name": "one"}})
    runs.col.update_one({"_id": b}, {"$set": {"config": cfg_b, "name": "two"}})
    state = RunsListState(ALICE, store=runs)
    state.refresh()
    state.select([a, b])
    table = state.compare_config().set_index("key")
    assert list(table.columns) == ["one", "two"]
    assert sorted(table.index) == ["data.start", "policy.rebalance", "policy.type"]
    assert table.loc["policy.rebalance", "one"] == "(not set)" and table.loc["policy.rebalance", "two"] == "5"
    assert table.loc["data.start", "two"] == "2017-05-01"
    state.select([a])
    assert state.compare_config().empty


def test_one_buy_and_hold_line_per_universe_and_period(runs: RunStore) -> None:
    a, b, d = (
        "20261101-120000-backtest-000a",
        "20261101-120100-backtest-000b",
        "20261101-120300-backtest-000d",
    )
    same = {"data": {"symbols": ["KO", "PG"]}}
    for run_id in (a, b):
        runs.col.update_one({"_id": run_id}, {"$set": {"config": same}})
    runs.col.update_one({"_id": d}, {"$set": {"config": {"data": {"symbols": ["AAPL"]}}}})
    eq_a, eq_b, eq_d = equity_frame(1), equity_frame(2), equity_frame(3, bars=30)
    eq_b["benchmark_equity"] = eq_a["benchmark_equity"]  # same bars, same benchmark
    for run_id, eq in ((a, eq_a), (b, eq_b), (d, eq_d)):
        write_results(run_id, eq, metrics(1.0, 0.1, -0.1), metrics(0.5, 0.05, -0.1))
    state = RunsListState(ALICE, store=runs)
    state.refresh()
    state.select([a, b])
    curves = state.compare_equity()
    bench = curves[curves["series"] == "buy & hold"]
    assert set(bench["label"]) == {"buy & hold"} and len(bench) == len(eq_a)
    assert bench["equity"].to_numpy() == pytest.approx(eq_a["benchmark_equity"].to_numpy())
    assert len(curves[curves["series"] == "policy"]) == len(eq_a) + len(eq_b)
    state.select([a, b, d])
    bench = state.compare_equity().query("series == 'buy & hold'")
    assert bench["label"].nunique() == 2 and len(bench) == len(eq_a) + len(eq_d)
    assert any("AAPL" in label for label in bench["label"].unique())


# ------------------------------------------------------------------ getting started


def test_getting_started_trains_then_backtests_on_the_test_period(store: RunStore) -> None:
    from dashboards.state.getting_started import QUICK_TRAIN, GettingStartedState

    start = GettingStartedState(ALICE, store=store)
    start.refresh()
    assert start.visible and start.step == "start"
    assert start.backtest() is None  # nothing trained yet
    train_id = start.train()
    assert train_id is not None and start.step == "training"
    doc = store.get(train_id)
    assert doc["owner"] == "alice" and doc["kind"] == "train" and doc["status"] == "queued"  # type: ignore[index]
    assert doc["config"]["ppo"]["total_timesteps"] == QUICK_TRAIN["ppo"]["total_timesteps"]  # type: ignore[index]
    assert start.train() is None  # one click, one training
    start.refresh()
    assert start.visible and start.step == "training"  # the panel stays while the walk goes on
    assert store.claim({"name": "test"}, train_id) is not None
    assert store.finish(train_id, RunStatus.SUCCEEDED, metrics={"sharpe": 0.7})
    start.refresh()
    assert start.step == "trained"
    bt_id = start.backtest()
    assert bt_id is not None and start.step == "done"
    bt = store.get(bt_id)
    assert bt["parent"] == train_id and bt["config"]["policy"]["run_id"] == train_id  # type: ignore[index]
    val_end = pd.Timestamp(doc["config"]["split"]["val_end"])  # type: ignore[index]
    assert pd.Timestamp(bt["config"]["data"]["start"]) == val_end + pd.Timedelta(days=1)  # type: ignore[index]
    assert bt["config"]["data"]["symbols"] == QUICK_TRAIN["data"]["symbols"]  # type: ignore[index]
    # a new session of a viewer with runs does not see the panel
    again = GettingStartedState(ALICE, store=store)
    again.refresh()
    assert not again.visible
    bob = GettingStartedState(BOB, store=store)
    bob.refresh()
    assert bob.visible


def test_a_failed_first_training_can_be_tried_again(store: RunStore) -> None:
    from dashboards.state.getting_started import GettingStartedState

    start = GettingStartedState(ALICE, store=store)
    start.refresh()
    first = start.train()
    assert first is not None
    store.claim({"name": "test"}, first)
    store.finish(first, RunStatus.FAILED, error={"type": "X", "message": "boom", "cell": 3})
    start.refresh()
    assert start.step == "failed" and start.backtest() is None
    second = start.train()
    assert second is not None and second != first and start.step == "training"


def test_an_archived_run_still_counts_as_having_runs(runs: RunStore) -> None:
    from dashboards.state.getting_started import GettingStartedState

    runs.archive("20261101-120400-backtest-000e")
    bob = GettingStartedState(BOB, store=runs)
    bob.refresh()
    assert not bob.visible


def test_the_page_walks_a_new_user_through_getting_started(store: RunStore) -> None:
    from dashboards.state.getting_started import GettingStartedState

    state = RunsListState(ALICE, store=store)
    start = GettingStartedState(ALICE, store=store)
    page = runs_list.view(state, refresh_ms=None, start=start)
    page.get_root()
    by_class = {c: w for w in page.select() for c in getattr(w, "css_classes", [])}
    panel = by_class["stockbot-getting-started"]
    assert (
        panel.visible
        and by_class["stockbot-gs-train"].visible
        and not by_class["stockbot-gs-backtest"].visible
    )
    by_class["stockbot-gs-train"].clicks += 1
    assert start.train_id and state.total == 1  # the list shows the new run at once
    assert not by_class["stockbot-gs-train"].visible
    store.claim({"name": "test"}, start.train_id)
    store.finish(start.train_id, RunStatus.SUCCEEDED)
    start.refresh()
    assert by_class["stockbot-gs-backtest"].visible
    by_class["stockbot-gs-backtest"].clicks += 1
    assert start.backtest_id and 'data-step="done"' in by_class["stockbot-gs-status"].object
    assert start.backtest_id in by_class["stockbot-gs-links"].object


def test_the_page_deletes_after_its_confirmation(runs: RunStore) -> None:
    a = "20261101-120000-backtest-000a"
    state = RunsListState(ALICE, store=runs)
    page = runs_list.view(state, refresh_ms=None)
    page.get_root()
    by_class = {c: w for w in page.select() for c in getattr(w, "css_classes", [])}
    assert not by_class["stockbot-getting-started"].visible  # alice has runs
    table = by_class["stockbot-runs-table"]
    assert by_class["stockbot-run-delete"].disabled
    table.selection = [list(table.value["Run"]).index(a)]
    assert not by_class["stockbot-run-delete"].disabled and not by_class["stockbot-run-edit"].disabled
    by_class["stockbot-run-delete"].clicks += 1
    assert by_class["stockbot-delete-confirm"].visible and runs.get(a) is not None
    by_class["stockbot-delete-yes"].clicks += 1
    assert runs.get(a) is None and not by_class["stockbot-delete-confirm"].visible
    assert a not in list(table.value["Run"])
    assert "Deleted 1 run(s)" in by_class["stockbot-runs-message"].object


def test_tables_are_text_even_when_empty(store: RunStore) -> None:
    """A Tabulator keeps the formatter it chose for the first frame: a number column would show
    the text of later pages as NaN (seen in Chromium), so an empty page is text too."""
    state = RunsListState(ALICE, store=store)
    state.refresh()
    table = state.table()
    assert table.empty
    assert {c: str(t) for c, t in table.dtypes.items() if str(t) != "object"} == {"Progress": "float64"}
    assert all(str(t) == "object" for t in state.compare_table().dtypes)
    assert all(str(t) == "object" for t in state.compare_config().dtypes)


def test_run_names_in_the_compare_headers_are_text_not_markup(runs: RunStore) -> None:
    """Tabulator writes header titles as HTML: a run named like a tag must not become one (an
    admin comparing that user's runs would run the user's script)."""
    import panel as pn

    a, b = "20261101-120000-backtest-000a", "20261101-120100-backtest-000b"
    evil = '<img src=x onerror="alert(1)">'
    runs.col.update_one({"_id": a}, {"$set": {"name": evil, "config": {"rf": 0.0}}})
    runs.col.update_one({"_id": b}, {"$set": {"name": "plain", "config": {"rf": 0.01}}})
    state = RunsListState(Viewer("root", True), store=runs)
    state.refresh()
    page = runs_list.view(state, refresh_ms=None)
    state.select([a, b])
    config = next(t for t in page.select(pn.widgets.Tabulator) if "stockbot-compare-config" in t.css_classes)
    assert evil in config.value.columns  # the data keeps the name as it is
    assert config.titles[evil] == "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;"
    assert all("<" not in title for title in config.titles.values())
