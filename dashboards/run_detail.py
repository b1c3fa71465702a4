"""``/runs/{run_id}``: one run. Status and progress, the live tail of its log (refreshed while it is
queued or running), equity and drawdown against buy & hold, metrics (policy vs buy & hold), trades,
downloads of single artifacts and of the zip, the executed notebook (rendered by the service), a
cancel button while it is live, and for a succeeded train run a link to backtest it. Another
user's run answers like a missing one (admins see all).

CSS classes: ``stockbot-not-found``, ``stockbot-run-status`` (its ``data-status`` attribute is the
status), ``stockbot-run-owner``, ``stockbot-run-progress``, ``stockbot-run-progress-message``,
``stockbot-run-error``,
``stockbot-cancel``, ``stockbot-cancel-result``, ``stockbot-backtest-link``, ``stockbot-run-tabs``,
``stockbot-equity-chart``, ``stockbot-drawdown-chart``, ``stockbot-metrics-table``,
``stockbot-trades-table``, ``stockbot-log`` (a ``<pre>``), ``stockbot-artifacts`` (a list of
``stockbot-artifact`` links), ``stockbot-download-zip``, ``stockbot-notebook`` (the iframe) and
``stockbot-notebook-link``; the page is ``stockbot-page-runs``.
"""

from __future__ import annotations

import html
from typing import Any

import panel as pn
from panel.viewable import Viewable

from dashboards.charts import drawdown_chart, equity_chart
from dashboards.layout import guarded, link, notice, set_title, shell, utc_naive
from dashboards.state.run_detail import NOT_FOUND, RunDetailState
from dashboards.viewer import Viewer
from stockbot.store.runs import RunStore

TITLE = "Run"
REFRESH_MS = 2000
LOG_HEIGHT = 480


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
        f"created {html.escape(str(doc.get('created_at') or ''))[:19]}",
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


def view(state: RunDetailState, *, refresh_ms: int | None = REFRESH_MS) -> Viewable:
    """The page of ``state``; ``refresh_ms=None`` leaves out the periodic refresh (tests)."""
    if not state.found:
        set_title("Run not found")
        body = notice(state.message or NOT_FOUND, "stockbot-not-found")
        return shell(state.viewer, "runs", f"Run {state.run_id}", body)
    set_title(f"Run {state.run_id}")

    header = pn.pane.HTML(sizing_mode="stretch_width", css_classes=["stockbot-run-header"])
    failure = pn.pane.HTML(css_classes=["stockbot-run-error"], styles={"color": "#b00020"})
    progress = pn.indicators.Progress(
        max=1000, sizing_mode="stretch_width", css_classes=["stockbot-run-progress"], label="progress"
    )
    progress_message = pn.pane.HTML(css_classes=["stockbot-run-progress-message"])
    cancel = pn.widgets.Button(label="Cancel run", color="danger", css_classes=["stockbot-cancel"])
    cancel_result = pn.pane.HTML(css_classes=["stockbot-cancel-result"])
    cancel.on_click(lambda _: setattr(cancel_result, "object", html.escape(state.cancel())))
    backtest = pn.pane.HTML(css_classes=["stockbot-backtest-link"])

    equity = pn.pane.HoloViews(
        None, sizing_mode="stretch_width", css_classes=["stockbot-equity-chart"], name="equity chart"
    )
    drawdowns = pn.pane.HoloViews(
        None, sizing_mode="stretch_width", css_classes=["stockbot-drawdown-chart"], name="drawdown chart"
    )
    no_results = pn.pane.Markdown("No results yet: `equity.csv` is written when the backtest ends.")
    metrics = pn.widgets.Tabulator(
        state.metrics_table(),
        show_index=False,
        disabled=True,
        css_classes=["stockbot-metrics-table"],
        label="metrics",
        sizing_mode="stretch_width",
    )
    trades = pn.widgets.Tabulator(
        None,
        show_index=False,
        disabled=True,
        pagination="remote",
        page_size=25,
        css_classes=["stockbot-trades-table"],
        label="trades",
        sizing_mode="stretch_width",
    )
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
        cancel.visible = state.can_cancel
        url = state.backtest_url
        backtest.object = link(url, "Backtest this run", "stockbot-backtest-link-a") if url else ""
        backtest.visible = url is not None

    def show_results(*_: Any) -> None:
        curves = state.curves()
        equity.object = equity_chart(curves) if curves is not None else None
        drawdowns.object = drawdown_chart(curves) if curves is not None else None
        equity.visible = drawdowns.visible = curves is not None
        no_results.visible = curves is None
        metrics.value = state.metrics_table()
        metrics.visible = len(metrics.value) > 0

    def show_trades(*_: Any) -> None:
        trades.value = utc_naive(state.trades)

    def show_log(*_: Any) -> None:
        log.object = (
            f'<pre class="stockbot-log" style="max-height:{LOG_HEIGHT}px;overflow:auto;font-size:12px">'
            f"{html.escape(state.log_tail)}</pre>"
        )

    def show_files(*_: Any) -> None:
        artifacts.object = _artifacts_html(state)
        notebook.object = _notebook_html(state)

    state.param.watch(show_status, "doc")
    state.param.watch(show_results, ["equity", "summary"])
    state.param.watch(show_trades, "trades")
    state.param.watch(show_log, "log_tail")
    state.param.watch(show_files, "artifacts")
    for show in (show_status, show_results, show_trades, show_log, show_files):
        show()

    tabs = pn.Tabs(
        ("Results", pn.Column(no_results, equity, drawdowns, metrics, sizing_mode="stretch_width")),
        ("Trades", trades),
        ("Log", log),
        ("Artifacts", artifacts),
        ("Notebook", notebook),
        active=2 if state.live else 0,  # a live run has a log before it has results
        dynamic=True,  # the notebook iframe loads only when its tab is opened
        css_classes=["stockbot-run-tabs"],
        sizing_mode="stretch_width",
    )
    if state.live and refresh_ms:
        callback = pn.state.add_periodic_callback(state.refresh, period=refresh_ms)

        def stop_when_done(*_: Any) -> None:
            if not state.live:
                callback.stop()  # the run ended: its files no longer change
                if tabs.active == 2 and state.curves() is not None:
                    tabs.active = 0  # the person watched the log: show what the run produced

        state.param.watch(stop_when_done, "doc")

    return shell(
        state.viewer,
        "runs",
        f"Run {state.run_id}",
        header,
        failure,
        pn.Row(progress, progress_message, sizing_mode="stretch_width"),
        pn.Row(cancel, cancel_result, backtest),
        tabs,
    )


def build(
    viewer: Viewer, run_id: str, *, refresh_ms: int | None = REFRESH_MS, store: RunStore | None = None
) -> Viewable:
    return view(RunDetailState(viewer, run_id, store=store), refresh_ms=refresh_ms)


def page() -> Viewable:
    return guarded(lambda viewer: build(viewer, pn.state.route_params.get("run_id", "")), TITLE)
