"""``/dashboard``: the viewer's runs (admins: everyone's, with an owner filter), newest first,
refreshed every few seconds; filters by kind and status and a metric threshold on the listed page;
tick runs to compare their metrics and equity curves (with buy & hold) side by side.

CSS classes: ``stockbot-filter-owner`` (admins only), ``stockbot-filter-kind``,
``stockbot-filter-status``, ``stockbot-threshold-metric``, ``stockbot-threshold-op``,
``stockbot-threshold-value``, ``stockbot-runs-table`` (its ``run`` column links to the run page),
``stockbot-runs-total``, ``stockbot-page-prev``, ``stockbot-page-next``, ``stockbot-runs-error``,
``stockbot-compare-metrics``, ``stockbot-compare-equity``; the page is ``stockbot-page-dashboard``.
"""

from __future__ import annotations

from typing import Any

import panel as pn
from panel.viewable import Viewable

from dashboards.charts import compare_chart
from dashboards.layout import guarded, notice, shell, utc_naive
from dashboards.state.runs_list import KIND_CHOICES, STATUS_CHOICES, THRESHOLD_OPS, RunsListState
from dashboards.viewer import Viewer, service_prefix
from stockbot.backtest.metrics import METRIC_KEYS
from stockbot.store.runs import RunStore

TITLE = "Dashboard"
REFRESH_MS = 3000


def _bound(widget: pn.widgets.Widget, state: RunsListState, name: str) -> pn.widgets.Widget:
    """Keep ``widget.value`` and ``state.<name>`` equal, whichever changes (the URL may set it)."""
    widget.value = getattr(state, name)
    widget.param.watch(lambda e: setattr(state, name, e.new), "value")
    state.param.watch(lambda e: setattr(widget, "value", e.new), name)
    return widget


def _choices(values: list[str]) -> dict[str, str]:
    return {v or "any": v for v in values}


def _filters(state: RunsListState) -> pn.Row:
    widgets: list[Any] = []
    if state.viewer.admin:
        owner = pn.widgets.TextInput(
            label="owner", placeholder="everyone", css_classes=["stockbot-filter-owner"]
        )
        widgets.append(_bound(owner, state, "owner"))
    kind = pn.widgets.Select(
        label="kind", options=_choices(KIND_CHOICES), css_classes=["stockbot-filter-kind"]
    )
    status = pn.widgets.Select(
        label="status", options=_choices(STATUS_CHOICES), css_classes=["stockbot-filter-status"]
    )
    metric = pn.widgets.Select(
        label="metric threshold", options=list(METRIC_KEYS), css_classes=["stockbot-threshold-metric"]
    )
    op = pn.widgets.Select(
        label="", options=list(THRESHOLD_OPS), width=60, css_classes=["stockbot-threshold-op"]
    )
    value = pn.widgets.FloatInput(label="value", placeholder="none", css_classes=["stockbot-threshold-value"])
    for widget, name in (
        (kind, "kind"),
        (status, "status"),
        (metric, "metric"),
        (op, "op"),
        (value, "threshold"),
    ):
        widgets.append(_bound(widget, state, name))
    return pn.Row(*widgets, sizing_mode="stretch_width")


def _table(state: RunsListState) -> pn.widgets.Tabulator:
    table = pn.widgets.Tabulator(
        utc_naive(state.rows()),
        label="runs",
        show_index=False,
        disabled=True,
        selectable="checkbox",
        layout="fit_data_stretch",
        sizing_mode="stretch_width",
        css_classes=["stockbot-runs-table"],
        formatters={
            "run": {"type": "link", "urlPrefix": f"{service_prefix()}runs/", "labelField": "run"},
            "progress": {"type": "progress", "min": 0, "max": 1, "legend": False},
        },
    )
    syncing = False

    def show(*_: Any) -> None:
        nonlocal syncing
        rows = state.rows()
        syncing = True
        try:
            table.value = utc_naive(rows)
            table.selection = [i for i, run in enumerate(rows["run"]) if run in state.selected]
        finally:
            syncing = False

    def picked(event: Any) -> None:
        if syncing:
            return
        on_page = list(table.value["run"])
        chosen = [on_page[i] for i in event.new if i < len(on_page)]
        kept = [r for r in state.selected if r not in on_page]  # selections on other pages stay
        state.select(kept + chosen)

    state.param.watch(show, ["docs", "metric", "op", "threshold"])
    table.param.watch(picked, "selection")
    return table


def _pager(state: RunsListState) -> pn.Row:
    total = pn.pane.HTML(css_classes=["stockbot-runs-total"])
    prev = pn.widgets.Button(label="←", width=50, css_classes=["stockbot-page-prev"])
    nxt = pn.widgets.Button(label="→", width=50, css_classes=["stockbot-page-next"])
    prev.on_click(lambda _: setattr(state, "page", max(state.page - 1, 0)))
    nxt.on_click(lambda _: setattr(state, "page", min(state.page + 1, state.pages - 1)))

    def show(*_: Any) -> None:
        total.object = f"{state.total} runs · page {state.page + 1} of {state.pages}"
        prev.disabled = state.page == 0
        nxt.disabled = state.page >= state.pages - 1

    state.param.watch(show, ["total", "page", "page_size"])
    show()
    return pn.Row(prev, total, nxt)


def _comparison(state: RunsListState) -> pn.Column:
    metrics = pn.widgets.Tabulator(
        state.compare_metrics(),
        show_index=False,
        disabled=True,
        sizing_mode="stretch_width",
        css_classes=["stockbot-compare-metrics"],
        label="compare metrics",
    )
    chart = pn.pane.HoloViews(
        None, sizing_mode="stretch_width", css_classes=["stockbot-compare-equity"], name="compare equity"
    )
    hint = pn.pane.Markdown("Tick runs in the table to compare them.")

    def show(*_: Any) -> None:
        metrics.value = state.compare_metrics()
        curves = state.compare_equity()
        chart.object = compare_chart(curves) if len(curves) else None
        hint.visible = not state.selected
        metrics.visible = bool(state.selected)
        chart.visible = bool(len(curves))

    state.param.watch(show, "selected")
    show()
    return pn.Column(pn.pane.Markdown("### Compare"), hint, metrics, chart, sizing_mode="stretch_width")


def view(state: RunsListState, *, refresh_ms: int | None = REFRESH_MS) -> pn.Column:
    """The page of ``state``; ``refresh_ms=None`` leaves out the periodic refresh (tests)."""
    if pn.state.location is not None:
        # filters live in the URL, so a filtered list can be bookmarked and shared
        pn.state.location.sync(state, {"kind": "kind", "status": "status", "owner": "owner", "page": "page"})
    state.refresh()
    error = notice("", "stockbot-runs-error")
    error.visible = False

    def show_error(*_: Any) -> None:
        error.object = state.error
        error.visible = bool(state.error)

    state.param.watch(show_error, "error")
    show_error()
    if refresh_ms:
        pn.state.add_periodic_callback(state.refresh, period=refresh_ms)
    return shell(
        state.viewer,
        "dashboard",
        "Runs (all users)" if state.viewer.admin else "Your runs",
        _filters(state),
        error,
        _table(state),
        _pager(state),
        _comparison(state),
    )


def build(viewer: Viewer, *, refresh_ms: int | None = REFRESH_MS, store: RunStore | None = None) -> Viewable:
    return view(RunsListState(viewer, store=store), refresh_ms=refresh_ms)


def page() -> Viewable:
    return guarded(build, TITLE)
