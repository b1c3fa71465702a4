"""/runs/{run_id}: who may see a run, its results from the run folder, the log tail, links, cancel."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import panel as pn
import pytest

from dashboards import charts, run_detail
from dashboards import format as fmt
from dashboards.state.files import tail_log
from dashboards.state.run_detail import RunDetailState
from dashboards.viewer import Viewer
from stockbot.backtest.metrics import TRADE_COLUMNS
from stockbot.config import DataConfig, EnvConfig, EvalConfig, PPOConfig, SplitConfig, TrainConfig, to_plain
from stockbot.errors import StoreError
from stockbot.jobs import run_dir
from stockbot.store import RunStatus, RunStore
from stockbot.train import train
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
    assert state.curves() is None  # files of a run that has not succeeded are not its results (yet)
    store.col.update_one({"_id": RUN}, {"$set": {"status": "succeeded"}})
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
    assert state.progress_message == "step 250 of 1,000 (25%) · ppo"
    assert store.update_running(RUN, {"progress": {"step": 3, "total": None, "message": ""}})
    state.refresh()
    assert state.progress is None and state.progress_message == "step 3"


def test_elapsed_time_and_eta_from_the_progress_rate(store: RunStore) -> None:
    add_run(store, RUN, "alice", status="queued")
    state = RunDetailState(ALICE, RUN)
    assert state.elapsed() is None and state.eta() is None
    assert state.timing_text() == "waiting for the executor"
    store.claim({"name": "test", "pid": os.getpid()}, RUN)
    started = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)
    progress = {"step": 250, "total": 1000, "message": "training"}
    assert store.update_running(RUN, {"started_at": started, "progress": progress})
    state.refresh()
    now = started + dt.timedelta(seconds=100)
    # 250 steps in 100 s: the other 750 take 300 s
    assert state.elapsed(now) == pytest.approx(100)
    assert state.eta(now) == pytest.approx(300)
    assert state.timing_text(now) == "elapsed 1m 40s · about 5m 00s left"
    assert store.update_running(RUN, {"progress": {"step": 0, "total": 1000, "message": "setup"}})
    state.refresh()
    assert state.eta(now) is None and state.timing_text(now) == "elapsed 1m 40s"
    store.finish(RUN, RunStatus.SUCCEEDED)
    finished = store.get(RUN)["finished_at"]  # type: ignore[index]
    state.refresh()
    took = (finished.replace(tzinfo=dt.UTC) - started).total_seconds()
    assert state.elapsed() == pytest.approx(took) and state.eta() is None
    assert state.timing_text().startswith("took ")


def test_the_log_leaves_out_progress_lines_and_keeps_its_tail(finished: pd.DataFrame) -> None:
    lines = []
    for i in range(3000):
        lines.append(f"cell output {i}")
        lines += [
            f'STOCKBOT_PROGRESS {{"step": {i * 10 + k}, "total": 30000, "message": "training"}}'
            for k in range(5)
        ]
    (run_dir(RUN) / "job.log").write_text("\n".join(lines) + "\n")
    state = RunDetailState(ALICE, RUN)
    shown = state.log_tail.split("\n")
    assert shown == [f"cell output {i}" for i in range(2800, 3000)]  # the newest 200, newest last
    assert "STOCKBOT_PROGRESS" not in state.log_tail
    # without a filter the raw tail is all progress lines
    assert tail_log(RUN, lines=3).count("STOCKBOT_PROGRESS") == 3


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


# ---------------------------------------------------------------------- formatted for people


def test_metrics_read_as_people_read_them(finished: pd.DataFrame) -> None:
    table = RunDetailState(ALICE, RUN).metrics_display()
    assert list(table.columns) == ["Metric", "Policy", "Buy & hold"]
    rows = {r["Metric"]: (r["Policy"], r["Buy & hold"]) for r in table.to_dict("records")}
    assert rows == {
        "Total return": ("12.00%", "8.00%"),
        "CAGR": ("30.00%", "30.00%"),
        "Volatility (annual)": ("10.00%", "10.00%"),
        "Sharpe": ("1.70", "1.10"),
        "Max drawdown": ("-4.00%", "-4.00%"),
        "Trades": ("3", "2"),
        "Win rate": ("—", "—"),
    }


def test_trades_carry_the_pnl_each_sell_realised(finished: pd.DataFrame) -> None:
    table = RunDetailState(ALICE, RUN).trades_table()
    assert table is not None
    assert list(table.columns) == [
        *TRADE_COLUMNS,
        "position_after",
        "avg_cost",
        "realized_pnl",
        "cum_realized_pnl",
    ]
    # AAPL: bought 10 at 140 for a fee of 0.14 (cost 140.014 a share), sold 4 at 141.5 paying 0.0566
    assert list(table["position_after"]) == [10, 5, 6]
    assert table["avg_cost"].tolist() == pytest.approx([140.014, 65.0065, 140.014])
    assert np.isnan(table["realized_pnl"][0]) and np.isnan(table["realized_pnl"][1])
    assert table["realized_pnl"][2] == pytest.approx(4 * (141.5 - 140.014) - 0.0566)
    assert [fmt.column_label(c) for c in table.columns[:5]] == [
        "Time",
        "Decided",
        "Symbol",
        "Side",
        "Quantity",
    ]


def test_monthly_returns_of_the_equity_curve(finished: pd.DataFrame) -> None:
    table = RunDetailState(ALICE, RUN).monthly_table()
    assert table is not None and list(table.index) == [2017]
    equity = finished.set_index("timestamp")["equity"]
    base = equity.iloc[0]
    for month in ("Apr", "May", "Jun"):
        inside = equity[equity.index.strftime("%b") == month]
        assert table.loc[2017, month] == pytest.approx(inside.iloc[-1] / base - 1)
        base = inside.iloc[-1]
    assert table.loc[2017, "Year"] == pytest.approx(equity.iloc[-1] / equity.iloc[0] - 1)
    assert table.loc[2017, ["Jan", "Feb", "Mar", "Jul", "Dec"]].isna().all()


def _render(chart: object) -> object:
    import holoviews as hv

    return hv.render(chart, backend="bokeh")


def test_chart_axes_are_money_and_percent_and_legends_sit_outside(finished: pd.DataFrame) -> None:
    from bokeh.models import BoxAnnotation, Legend, NumeralTickFormatter

    state = RunDetailState(ALICE, RUN)
    curves = state.curves()
    assert curves is not None
    spans = [("validation", curves.index[0], curves.index[20]), ("test", curves.index[20], curves.index[-1])]
    for chart, axis_format in (
        (charts.equity_chart(curves, spans=spans), "$0,0"),
        (charts.drawdown_chart(curves), "0.0%"),
        (charts.exposure_chart(curves), "0.0%"),
    ):
        fig = _render(chart)
        formatter = fig.yaxis[0].formatter
        assert isinstance(formatter, NumeralTickFormatter) and formatter.format == axis_format
        # a legend in the plot's centre panel lies over the curves; one on the right does not
        assert not [r for r in fig.center if isinstance(r, Legend)]
        legends = [r for r in fig.right if isinstance(r, Legend)]
        assert len(legends) == 1 and legends[0].title is None
    fig = _render(charts.equity_chart(curves, spans=spans))
    texts = {
        str(t) for r in fig.renderers if hasattr(r, "data_source") for t in r.data_source.data.get("text", [])
    }
    assert texts == {"validation period", "test period"}
    boxes = [r for r in (*fig.renderers, *fig.center) if isinstance(r, BoxAnnotation)]
    assert len(boxes) == 2  # the two shaded spans


# ---------------------------------------------------------------------- periods and training curves

TRAIN_RUN = "20261101-110000-train-0c0c"
TRAIN_SYMBOLS = ["AAPL", "KO", "XOM"]


def tiny_training() -> TrainConfig:
    return TrainConfig(
        data=DataConfig(symbols=TRAIN_SYMBOLS, start="2013-03-01", end="2017-12-06"),
        split=SplitConfig(train_end="2016-06-30", val_end="2017-03-31"),
        env=EnvConfig(window=8, episode_bars=64),
        ppo=PPOConfig(
            policy="mlp",
            total_timesteps=768,
            n_envs=2,
            n_steps=128,
            batch_size=64,
            n_epochs=1,
            net_arch=(16, 16),
        ),
        eval=EvalConfig(every_steps=256, patience=None),
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, dow29_bars: pd.DataFrame) -> Path:
    """A real tiny training (eval.csv, tb/, the test backtest), made once for the module."""
    bars = dow29_bars[dow29_bars.index.get_level_values("symbol").isin(TRAIN_SYMBOLS)]
    out = tmp_path_factory.mktemp("trained") / "run"
    train(tiny_training(), out, bars=bars)
    return out


def add_trained_run(store: RunStore, trained: Path) -> None:
    add_run(store, TRAIN_RUN, "alice", config=to_plain(tiny_training()))
    shutil.copytree(trained, run_dir(TRAIN_RUN), dirs_exist_ok=True)


def reference_scalars(folder: Path, tag: str) -> list[tuple[int, float]]:
    """The points of ``tag`` straight from the event records (not through EventAccumulator)."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    points = []
    for path in sorted(folder.glob("**/events.out.tfevents.*")):
        for event in EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                if value.tag == tag:
                    points.append((int(event.step), float(value.tensor.float_val[0])))
    return sorted(points)


@pytest.mark.timeout(300)
def test_training_curves_of_a_real_training(store: RunStore, trained: Path) -> None:
    add_trained_run(store, trained)
    state = RunDetailState(ALICE, TRAIN_RUN)
    curves = state.training
    assert curves is not None and not curves.empty
    expected_eval = pd.read_csv(trained / "eval.csv")
    assert len(expected_eval) == 3  # 768 steps, a validation every 256
    pd.testing.assert_frame_equal(curves.validation, expected_eval, check_dtype=False)
    validation = curves.validation_curve()
    assert validation["val_return"].tolist() == pytest.approx(np.expm1(expected_eval["val_reward"]).tolist())
    for tag in ("rollout/ep_rew_mean", "train/loss", "train/value_loss", "train/entropy_loss"):
        points = curves.scalars[curves.scalars["tag"] == tag]
        expected = reference_scalars(trained / "tb", tag)
        assert expected, tag
        assert list(points["step"]) == [s for s, _ in expected]
        assert points["value"].tolist() == pytest.approx([v for _, v in expected], rel=1e-6)
    losses = curves.wide(("train/loss", "train/value_loss", "train/policy_gradient_loss"))
    assert list(losses.columns) == ["train/loss", "train/value_loss", "train/policy_gradient_loss"]

    page = run_detail.view(state, refresh_ms=None)
    page.get_root()
    parts = _by_class(page)
    for css in (
        "stockbot-training-validation",
        "stockbot-training-episode",
        "stockbot-training-losses",
        "stockbot-training-entropy",
    ):
        assert parts[css].object is not None, css
    assert "stockbot-training-empty" not in parts
    tabs = parts["stockbot-run-tabs"]
    assert list(tabs._names) == ["Results", "Training", "Trades", "Log", "Artifacts", "Notebook"]

    # the train run's own results are its test period, after its validation split
    summary_period = state.summary["period"]  # type: ignore[index]
    note = state.period_note()
    assert note is not None and not note.in_sample
    assert note.text.startswith(
        f"Test period: {summary_period['first'][:10]} to {summary_period['last'][:10]}, out of sample"
    )
    assert [s.label for s in state.split_spans()] == ["test"]


def test_a_run_without_training_files_says_so(store: RunStore) -> None:
    add_run(store, TRAIN_RUN, "alice", status="running", config=to_plain(tiny_training()))
    state = RunDetailState(ALICE, TRAIN_RUN)
    assert state.training is not None and state.training.empty
    page = run_detail.view(state, refresh_ms=None)
    page.get_root()
    assert "stockbot-training-empty" in _by_class(page)


def shifted_equity(start: str, bars: int) -> pd.DataFrame:
    frame = equity_frame(11, bars=bars)
    frame["timestamp"] = pd.bdate_range(start, periods=bars, tz="UTC")
    return frame


@pytest.mark.parametrize(
    ("start", "bars", "in_sample", "spans"),
    [
        ("2017-04-03", 60, (), ["test"]),
        ("2016-01-04", 40, ("train",), ["train"]),
        ("2016-06-01", 60, ("train", "validation"), ["train", "validation"]),
        ("2017-03-01", 40, ("validation",), ["validation", "test"]),
    ],
)
def test_a_backtest_of_a_trained_run_is_labelled_by_its_policys_periods(
    store: RunStore, start: str, bars: int, in_sample: tuple[str, ...], spans: list[str]
) -> None:
    add_run(store, TRAIN_RUN, "alice", config=to_plain(tiny_training()))
    config = {"policy": {"type": "run", "run_id": TRAIN_RUN}, "data": {"symbols": TRAIN_SYMBOLS}}
    add_run(store, RUN, "alice", config=config)
    store.col.update_one({"_id": RUN}, {"$set": {"parent": TRAIN_RUN}})
    equity = shifted_equity(start, bars)
    write_results(RUN, equity, POLICY, BENCHMARK)
    state = RunDetailState(ALICE, RUN)
    assert state.splits is not None and state.splits.val_end == dt.date(2017, 3, 31)
    assert state.in_sample == in_sample
    drawn = state.split_spans()
    assert [s.label for s in drawn] == spans
    assert drawn[0].start == equity["timestamp"].iloc[0] and drawn[-1].end == equity["timestamp"].iloc[-1]
    note = state.period_note()
    assert note is not None and note.in_sample == in_sample
    dates = f"{equity['timestamp'].iloc[0].date()} to {equity['timestamp'].iloc[-1].date()}"
    page = run_detail.view(state, refresh_ms=None)
    page.get_root()
    alert = _by_class(page)["stockbot-period-note"]
    if in_sample:
        assert note.text.startswith(f"In-sample: this period ({dates}) overlaps the policy's")
        assert "stockbot-in-sample" in alert.css_classes and alert.alert_type == "warning"
    else:
        assert note.text.startswith(f"Backtest period: {dates}, out of sample")
        assert "stockbot-in-sample" not in alert.css_classes and alert.alert_type == "info"


def test_a_baseline_backtest_has_its_period_and_no_split(finished: pd.DataFrame) -> None:
    state = RunDetailState(ALICE, RUN)
    assert state.splits is None and state.in_sample == () and state.split_spans() == []
    first, last = finished["timestamp"].iloc[0].date(), finished["timestamp"].iloc[-1].date()
    assert state.period_note() == (f"Backtest period: {first} to {last}.", ())


def test_the_page_formats_its_tables_and_keeps_the_log_at_its_end(finished: pd.DataFrame) -> None:
    (run_dir(RUN) / "job.log").write_text('one\nSTOCKBOT_PROGRESS {"step": 1}\ntwo\n')
    page = run_detail.view(RunDetailState(ALICE, RUN), refresh_ms=None)
    page.get_root()
    parts = _by_class(page)
    trades = parts["stockbot-trades-table"]
    assert (
        trades.titles["decision_timestamp"] == "Decided" and trades.titles["realized_pnl"] == "Realised P&L"
    )
    assert (
        trades.formatters["price"].format == "$0,0.00" and trades.formatters["realized_pnl"].nan_format == "—"
    )
    assert trades.formatters["timestamp"].format == "%Y-%m-%d"  # daily bars: no 00:00:00
    metrics = parts["stockbot-metrics-table"].value
    assert metrics.loc[metrics["Metric"] == "Total return", "Policy"].item() == "12.00%"
    monthly = [p.object for p in page.select(pn.pane.HTML) if "stockbot-monthly-returns" in str(p.object)]
    assert monthly and ">2017</th>" in monthly[0] and ">Year</th>" in monthly[0]
    cells = re.findall(r'class="stockbot-month"[^>]*>([^<]*)</td>', monthly[0])
    assert len(cells) == 13 and cells[:3] == ["—", "—", "—"]  # Jan-Mar 2017: before the first bar
    assert all(re.fullmatch(r"-?\d+\.\d%", c) for c in cells[3:6] + cells[12:]), cells
    logs = [p.object for p in page.select(pn.pane.HTML) if 'class="stockbot-log"' in str(p.object)]
    assert "flex-direction:column-reverse" in logs[0] and "one\ntwo</pre>" in logs[0]
    assert parts["stockbot-exposure-chart"].visible


def test_a_policy_run_the_store_cannot_read_now_is_read_again_later(
    store: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_run(store, TRAIN_RUN, "alice", config=to_plain(tiny_training()))
    config = {"policy": {"type": "run", "run_id": TRAIN_RUN}, "data": {"symbols": TRAIN_SYMBOLS}}
    add_run(store, RUN, "alice", config=config)
    write_results(RUN, shifted_equity("2016-01-04", 40), POLICY, BENCHMARK)
    state = RunDetailState(ALICE, RUN)
    real_get = state.store.get

    def down(run_id: str) -> None:
        raise StoreError("the store is restarting")

    monkeypatch.setattr(state.store, "get", down)
    assert state.splits is None and state.in_sample == ()
    monkeypatch.setattr(state.store, "get", real_get)
    assert state.splits is not None and state.in_sample == ("train",)


@pytest.mark.parametrize(
    ("status", "error", "needle"),
    [
        ("failed", {"type": "lost", "message": "the executor (pid 9) that supervised it died"}, "lost"),
        ("cancelled", {"type": "cancelled", "message": "cancelled on request"}, "cancelled"),
        ("failed", {"type": "ValueError", "message": "boom", "cell": 3}, "the run failed"),
    ],
)
def test_what_an_unfinished_run_left_is_never_shown_as_its_results(
    store: RunStore, status: str, error: dict, needle: str
) -> None:
    """A job that went on after its executor died wrote every result file; the run is lost all the
    same, and its page must not present those files as its results."""
    add_run(store, RUN, "alice", status=status)
    store.col.update_one({"_id": RUN}, {"$set": {"error": error}})
    write_results(RUN, equity_frame(3), POLICY, BENCHMARK)
    state = RunDetailState(ALICE, RUN)
    assert state.curves() is None and state.summary is None and state.trades is None
    assert state.metrics_table().empty
    assert needle in state.no_results_text() and "not its results" in state.no_results_text()
    assert "equity.csv" in {a["path"] for a in state.artifacts}  # the files stay, as files


def test_the_metrics_table_is_text_before_and_after_results(store: RunStore) -> None:
    """Tabulator keeps the formatter it picked for a table's first value: a page opened while the
    run was queued got an empty float column, and then showed every formatted metric as NaN."""
    add_run(store, RUN, "alice", status="queued")
    state = RunDetailState(ALICE, RUN)
    empty = state.metrics_display()
    assert empty.empty and all(str(dtype) == "object" for dtype in empty.dtypes), empty.dtypes
    assert list(empty.columns) == [fmt.column_label(c) for c in ("metric", "policy", "benchmark")]
    write_results(RUN, equity_frame(3), POLICY, BENCHMARK)
    store.col.update_one({"_id": RUN}, {"$set": {"status": "succeeded"}})
    state.refresh()
    full = state.metrics_display()
    assert list(full.columns) == list(empty.columns) and all(str(dtype) == "object" for dtype in full.dtypes)
    sharpe = full.set_index(fmt.column_label("metric")).loc[fmt.METRIC_LABELS["sharpe"]]
    assert list(sharpe) == ["1.70", "1.10"]


def test_a_missing_runs_page_shows_the_id_from_the_url_as_text(store: RunStore) -> None:
    bad = '<img src=x onerror="alert(1)">'
    page = run_detail.view(RunDetailState(ALICE, bad), refresh_ms=None)
    titles = [p.object for p in page.select(pn.pane.Markdown) if "Run " in str(p.object)]
    assert titles and all(bad not in t and "&lt;img" in t for t in titles), titles
