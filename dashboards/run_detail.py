"""``/runs/{run_id}``: one run. Status, progress (a bar with step / total and the message, elapsed
time and an ETA), the live tail of its log (newest line last, kept in view; progress lines are not
repeated there), training curves (validation return per evaluation, episode reward, losses,
entropy) for a train run, results: the period labelled (test / out of sample, or in-sample with a
warning) with the train / validation / test split shaded on the equity chart, equity in dollars
and drawdown and exposure in percent against buy & hold, readable metrics (policy vs buy & hold),
monthly returns, and the trades with the P&L each realised; downloads of single artifacts and of
the zip, the executed notebook (rendered by the service), a cancel button while it is live, and for
a succeeded train run a link to backtest it. Another user's run answers like a missing one (admins
see all). Charts are responsive and tables scroll inside themselves, so the page fits a 1400 px window.

CSS classes: ``stockbot-not-found``, ``stockbot-run-status`` (its ``data-status`` attribute is the
status), ``stockbot-run-owner``, ``stockbot-run-progress``, ``stockbot-run-progress-message``,
``stockbot-run-timing`` (elapsed and ETA), ``stockbot-run-error``,
``stockbot-cancel``, ``stockbot-cancel-result``, ``stockbot-backtest-link``, ``stockbot-run-tabs``,
``stockbot-period-note`` (plus ``stockbot-in-sample`` on an in-sample warning),
``stockbot-equity-chart``, ``stockbot-drawdown-chart``, ``stockbot-exposure-chart``,
``stockbot-metrics-table``, ``stockbot-monthly-returns`` (a ``<table>``; cells ``stockbot-month``),
``stockbot-training-curves`` with ``stockbot-training-validation``, ``stockbot-training-episode``,
``stockbot-training-losses``, ``stockbot-training-entropy`` (charts) and ``stockbot-training-empty``,
``stockbot-trades-table``, ``stockbot-log-box`` (the scrolled box) holding ``stockbot-log`` (a
``<pre>``), ``stockbot-artifacts`` (a list of ``stockbot-artifact`` links), ``stockbot-download-zip``,
``stockbot-notebook`` (the iframe) and ``stockbot-notebook-link``; the page is ``stockbot-page-runs``.
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd
import panel as pn
from bokeh.models import DateFormatter, NumberFormatter
from panel.viewable import Viewable

from dashboards import format as fmt
from dashboards.charts import drawdown_chart, equity_chart, exposure_chart, training_chart
from dashboards.layout import guarded, link, notice, set_title, shell, utc_naive
from dashboards.state.curves import ENTROPY_TAGS, EPISODE_TAGS, LOSS_TAGS, TrainingCurves
from dashboards.state.run_detail import NOT_FOUND, TRADE_FORMATS, TRADE_TABLE_COLUMNS, RunDetailState
from dashboards.viewer import Viewer
from stockbot.backtest.analysis import MONTHS, YEAR
from stockbot.store.runs import RunStore

TITLE = "Run"
REFRESH_MS = 2000
LOG_HEIGHT = 480
TABLE_HEIGHT = 560
# formatted in the browser, so columns still sort as numbers; a fill that realised nothing shows "—"
NUMBER_FORMATS = {"money": "$0,0.00", "number": "0,0.[0000]"}
DAY, MINUTE = "%Y-%m-%d", "%Y-%m-%d %H:%M"


def _trade_formatters(table: pd.DataFrame | None) -> dict[str, Any]:
    """Money and quantities with separators; times as days when every fill is at midnight (daily
    bars), else to the minute."""
    out: dict[str, Any] = {
        col: NumberFormatter(
            format=NUMBER_FORMATS[kind], nan_format=fmt.MISSING, null_format=fmt.MISSING, text_align="right"
        )
        for col, kind in TRADE_FORMATS.items()
    }
    for col in ("timestamp", "decision_timestamp"):
        daily = (
            table is not None
            and col in table.columns
            and bool((table[col].dt.normalize() == table[col]).all())
        )
        out[col] = DateFormatter(format=DAY if daily else MINUTE, nan_format=fmt.MISSING)
    return out


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB"):
        if n < 1024:
            return f"{n:.0f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n:.1f} GB"


def _header_html(state: RunDetailState) -> str:
    doc = state.doc or {}
    status = html.escape(state.status)
    parts = [
        f'<span class="stockbot-run-status" data-status="{status}">{status}</span>',
        f"{html.escape(str(doc.get('kind')))} run of "
        f'<b class="stockbot-run-owner">{html.escape(str(doc.get("owner")))}</b>',
        f"created {html.escape(fmt.timestamp(doc.get('created_at')))}",
    ]
    if doc.get("parent"):
        parts.append("parent " + link(state.run_url(doc["parent"]), doc["parent"], "stockbot-parent-link"))
    if doc.get("cancel_requested_at") and state.live:
        parts.append("cancel requested")
    return " · ".join(parts)


def _error_html(state: RunDetailState) -> str:
    error = (state.doc or {}).get("error") or {}
    if not error:
        return ""
    cell = f" (cell {error['cell']})" if error.get("cell") is not None else ""
    return f"<b>{html.escape(str(error.get('type')))}</b>{cell}: {html.escape(str(error.get('message')))}"


def _artifacts_html(state: RunDetailState) -> str:
    items = "".join(
        f"<li>{link(state.artifact_url(a['path']), a['path'], 'stockbot-artifact')} ({_size(a['size'])})</li>"
        for a in state.artifacts
    )
    zipped = link(state.zip_url, "Download the whole run (zip)", "stockbot-download-zip")
    return f'<p>{zipped}</p><ul class="stockbot-artifacts">{items}</ul>'


def _notebook_html(state: RunDetailState) -> str:
    if not state.has_notebook:
        return "<p>The executed notebook appears here once the job has started.</p>"
    url = html.escape(state.notebook_url, quote=True)
    opener = link(
        state.notebook_url, "Open the executed notebook in a new tab", "stockbot-notebook-link", True
    )
    return (
        f"<p>{opener}</p>"
        f'<iframe class="stockbot-notebook" src="{url}" title="executed notebook" '
        'style="width:100%;height:900px;border:1px solid #ddd"></iframe>'
    )


def _log_html(text: str) -> str:
    # a column-reverse scroll box starts at its bottom and stays there as lines arrive (unless the
    # person has scrolled up to read), with no script: the newest line is always in view
    return (
        f'<div class="stockbot-log-box" style="max-height:{LOG_HEIGHT}px;overflow:auto;'
        'display:flex;flex-direction:column-reverse;border:1px solid #ddd">'
        '<pre class="stockbot-log" style="margin:0;padding:4px;font-size:12px;white-space:pre">'
        f"{html.escape(text)}</pre></div>"
    )


CELL = "padding:2px 8px;text-align:right"


def _month_cell(value: float) -> str:
    if pd.isna(value):
        return f'<td class="stockbot-month" style="{CELL};color:#999">{fmt.MISSING}</td>'
    # green for gains, red for losses, stronger with size (full at +-10% a month)
    strength = min(abs(value) / 0.10, 1.0)
    rgb = "0,158,115" if value >= 0 else "213,94,0"
    style = f"{CELL};background:rgba({rgb},{0.12 + 0.5 * strength:.2f})"
    return f'<td class="stockbot-month" style="{style}">{fmt.pct(value, 1)}</td>'


def _monthly_html(table: pd.DataFrame | None) -> str:
    if table is None or table.empty:
        return ""
    head = "".join(f'<th style="{CELL}">{html.escape(c)}</th>' for c in ("", *MONTHS, YEAR))
    rows = "".join(
        f'<tr><th style="{CELL}">{int(year)}</th>'
        + "".join(_month_cell(row[c]) for c in (*MONTHS, YEAR))
        + "</tr>"
        for year, row in table.iterrows()
    )
    return (
        "<h4>Monthly returns</h4>"
        '<div style="overflow-x:auto;max-width:100%">'
        '<table class="stockbot-monthly-returns" style="border-collapse:collapse;font-size:13px">'
        f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>"
    )


def _training_charts(curves: TrainingCurves | None) -> list[tuple[str, Any]]:
    """(css class, chart) of each training curve the run has written so far."""
    if curves is None or curves.empty:
        return []
    out = []
    validation = curves.validation_curve()
    if "val_return" in validation.columns and validation["val_return"].notna().any():
        chart = training_chart(
            validation[["val_return"]], "Validation return per evaluation", "return", percent=True
        )
        out.append(("stockbot-training-validation", chart))
    elif len(validation.columns):
        chart = training_chart(validation, "Validation reward per evaluation", "reward")
        out.append(("stockbot-training-validation", chart))
    for css, tags, title, ylabel in (
        (
            "stockbot-training-episode",
            EPISODE_TAGS,
            "Training episode reward (mean of recent episodes)",
            "reward",
        ),
        ("stockbot-training-losses", LOSS_TAGS, "Losses", "loss"),
        ("stockbot-training-entropy", ENTROPY_TAGS, "Entropy loss (minus the policy's entropy)", "loss"),
    ):
        frame = curves.wide(tags)
        if not frame.empty:
            out.append((css, training_chart(frame, title, ylabel)))
    return out


def view(state: RunDetailState, *, refresh_ms: int | None = REFRESH_MS) -> Viewable:
    """The page of ``state``; ``refresh_ms=None`` leaves out the periodic refresh (tests)."""
    if not state.found:
        set_title("Run not found")
        body = notice(state.message or NOT_FOUND, "stockbot-not-found")
        # the id came from the URL: shown as text, never as markup
        return shell(state.viewer, "runs", f"Run {html.escape(state.run_id)}", body)
    set_title(f"Run {state.run_id}")

    header = pn.pane.HTML(sizing_mode="stretch_width", css_classes=["stockbot-run-header"])
    failure = pn.pane.HTML(css_classes=["stockbot-run-error"], styles={"color": "#b00020"})
    progress = pn.indicators.Progress(
        max=1000, sizing_mode="stretch_width", css_classes=["stockbot-run-progress"], label="progress"
    )
    progress_message = pn.pane.HTML(css_classes=["stockbot-run-progress-message"])
    timing = pn.pane.HTML(css_classes=["stockbot-run-timing"], styles={"color": "#555"})
    cancel = pn.widgets.Button(label="Cancel run", color="danger", css_classes=["stockbot-cancel"])
    cancel_result = pn.pane.HTML(css_classes=["stockbot-cancel-result"])
    cancel.on_click(lambda _: setattr(cancel_result, "object", html.escape(state.cancel())))
    backtest = pn.pane.HTML(css_classes=["stockbot-backtest-link"])

    period_note = pn.pane.Alert(
        "", alert_type="info", css_classes=["stockbot-period-note"], sizing_mode="stretch_width"
    )
    equity = pn.pane.HoloViews(
        None, sizing_mode="stretch_width", css_classes=["stockbot-equity-chart"], name="equity chart"
    )
    drawdowns = pn.pane.HoloViews(
        None, sizing_mode="stretch_width", css_classes=["stockbot-drawdown-chart"], name="drawdown chart"
    )
    exposure = pn.pane.HoloViews(
        None, sizing_mode="stretch_width", css_classes=["stockbot-exposure-chart"], name="exposure chart"
    )
    no_results = pn.pane.Markdown("No results yet: `equity.csv` is written when the backtest ends.")
    metrics = pn.widgets.Tabulator(
        state.metrics_display(),
        show_index=False,
        disabled=True,
        text_align={fmt.column_label("policy"): "right", fmt.column_label("benchmark"): "right"},
        css_classes=["stockbot-metrics-table"],
        label="metrics",
        sizing_mode="stretch_width",
    )
    monthly = pn.pane.HTML(sizing_mode="stretch_width")
    trades = pn.widgets.Tabulator(
        None,
        show_index=False,
        disabled=True,
        pagination="remote",
        page_size=25,
        titles={c: fmt.column_label(c) for c in TRADE_TABLE_COLUMNS},
        formatters=_trade_formatters(None),
        text_align={c: "right" for c in TRADE_FORMATS},
        css_classes=["stockbot-trades-table"],
        label="trades",
        sizing_mode="stretch_width",
        max_height=TABLE_HEIGHT,
    )
    no_trades = pn.pane.Markdown("No trades yet: `trades.csv` is written when the backtest ends.")
    training = pn.Column(sizing_mode="stretch_width", css_classes=["stockbot-training-curves"])
    log = pn.pane.HTML(sizing_mode="stretch_width")
    artifacts = pn.pane.HTML(sizing_mode="stretch_width")
    notebook = pn.pane.HTML(sizing_mode="stretch_width")

    def show_status(*_: Any) -> None:
        header.object = _header_html(state)
        failure.object = _error_html(state)
        failure.visible = bool(failure.object)
        fraction = state.progress
        progress.value = -1 if fraction is None else round(fraction * 1000)
        progress.active = state.live and fraction is None  # an unknown total: an animated bar
        progress.visible = state.live or fraction is not None
        progress_message.object = html.escape(state.progress_message)
        progress_message.visible = state.live
        timing.object = html.escape(state.timing_text())
        timing.visible = bool(timing.object)
        cancel.visible = state.can_cancel
        url = state.backtest_url
        backtest.object = link(url, "Backtest this run", "stockbot-backtest-link-a") if url else ""
        backtest.visible = url is not None

    def show_results(*_: Any) -> None:
        curves = state.curves()
        equity.object = equity_chart(curves, spans=state.split_spans()) if curves is not None else None
        drawdowns.object = drawdown_chart(curves) if curves is not None else None
        has_exposure = curves is not None and "gross exposure" in curves.columns
        exposure.object = exposure_chart(curves) if has_exposure else None
        equity.visible = drawdowns.visible = curves is not None
        exposure.visible = has_exposure
        no_results.visible = curves is None
        no_results.object = state.no_results_text()
        note = state.period_note()
        period_note.object = html.escape(note.text) if note else ""
        period_note.alert_type = "warning" if note and note.in_sample else "info"
        period_note.css_classes = ["stockbot-period-note"] + (
            ["stockbot-in-sample"] if note and note.in_sample else []
        )
        period_note.visible = note is not None
        metrics.value = state.metrics_display()
        metrics.visible = len(metrics.value) > 0
        monthly.object = _monthly_html(state.monthly_table())
        monthly.visible = bool(monthly.object)

    def show_trades(*_: Any) -> None:
        table = utc_naive(state.trades_table())
        trades.formatters = _trade_formatters(table)
        trades.value = table
        trades.visible = table is not None
        no_trades.visible = table is None

    def show_training(*_: Any) -> None:
        charts = _training_charts(state.training)
        if not charts:
            text = "No training curves yet: `eval.csv` and `tb/` fill in as the training runs."
            training.objects = [pn.pane.Markdown(text, css_classes=["stockbot-training-empty"])]
            return
        training.objects = [
            pn.pane.HoloViews(chart, sizing_mode="stretch_width", css_classes=[css]) for css, chart in charts
        ]

    def show_log(*_: Any) -> None:
        log.object = _log_html(state.log_tail)

    def show_files(*_: Any) -> None:
        artifacts.object = _artifacts_html(state)
        notebook.object = _notebook_html(state)

    state.param.watch(show_status, "doc")
    state.param.watch(show_results, ["equity", "summary"])
    state.param.watch(show_trades, "trades")
    state.param.watch(show_training, "training")
    state.param.watch(show_log, "log_tail")
    state.param.watch(show_files, "artifacts")
    for show in (show_status, show_results, show_trades, show_training, show_log, show_files):
        show()

    results = pn.Column(
        period_note, no_results, equity, drawdowns, exposure, metrics, monthly, sizing_mode="stretch_width"
    )
    panes = [("Results", results)]
    if (state.doc or {}).get("kind") == "train":
        panes.append(("Training", training))
    panes += [
        ("Trades", pn.Column(no_trades, trades, sizing_mode="stretch_width")),
        ("Log", log),
        ("Artifacts", artifacts),
        ("Notebook", notebook),
    ]
    names = [name for name, _ in panes]
    log_tab = names.index("Log")
    # a live run has a log (and, training, curves) before it has results
    live_tab = names.index("Training") if "Training" in names else log_tab
    tabs = pn.Tabs(
        *panes,
        active=live_tab if state.live else 0,
        dynamic=True,  # the notebook iframe loads only when its tab is opened
        css_classes=["stockbot-run-tabs"],
        sizing_mode="stretch_width",
    )
    if state.live and refresh_ms:
        callback = pn.state.add_periodic_callback(state.refresh, period=refresh_ms)

        def stop_when_done(*_: Any) -> None:
            if not state.live:
                callback.stop()  # the run ended: its files no longer change
                if tabs.active in (log_tab, live_tab) and state.curves() is not None:
                    tabs.active = 0  # the person watched it run: show what the run produced

        state.param.watch(stop_when_done, "doc")

    return shell(
        state.viewer,
        "runs",
        f"Run {state.run_id}",
        header,
        failure,
        pn.Row(progress, progress_message, timing, sizing_mode="stretch_width"),
        pn.Row(cancel, cancel_result, backtest),
        tabs,
    )


def build(
    viewer: Viewer, run_id: str, *, refresh_ms: int | None = REFRESH_MS, store: RunStore | None = None
) -> Viewable:
    return view(RunDetailState(viewer, run_id, store=store), refresh_ms=refresh_ms)


def page() -> Viewable:
    return guarded(lambda viewer: build(viewer, pn.state.route_params.get("run_id", "")), TITLE)
