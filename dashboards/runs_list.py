"""``/dashboard``: the viewer's runs (admins: everyone's, with an owner filter), refreshed every few
seconds. Search by name or tag, sort by any column or metric (the store sorts and pages), filters by
kind, status and archived, a metric threshold on the listed page; tick runs to edit their name, tags
and note, archive or restore them, delete them (after a confirmation), or compare them (metrics,
config differences, equity with one buy-and-hold line per universe and period). A viewer without
runs first sees the getting-started panel (:mod:`dashboards.getting_started`).

CSS classes: ``stockbot-filter-owner`` (admins only), ``stockbot-filter-kind``,
``stockbot-filter-status``, ``stockbot-filter-archived``, ``stockbot-runs-search``,
``stockbot-runs-sort``, ``stockbot-runs-order``, ``stockbot-threshold-metric``,
``stockbot-threshold-op``, ``stockbot-threshold-value``, ``stockbot-runs-table`` (its Name column
links to the run page), ``stockbot-runs-total``, ``stockbot-page-prev``, ``stockbot-page-next``,
``stockbot-runs-error``, ``stockbot-runs-message``, ``stockbot-run-edit``, ``stockbot-run-archive``,
``stockbot-run-unarchive``, ``stockbot-run-delete``, ``stockbot-delete-confirm`` (the confirmation:
``stockbot-delete-question``, ``stockbot-delete-yes``, ``stockbot-delete-no``), ``stockbot-edit-dialog`` (with
``stockbot-edit-name``, ``stockbot-edit-tags``, ``stockbot-edit-note``, ``stockbot-edit-save``,
``stockbot-edit-cancel``, ``stockbot-edit-error``), ``stockbot-compare-metrics``,
``stockbot-compare-config``, ``stockbot-compare-equity``; the page is ``stockbot-page-dashboard``.
"""

from __future__ import annotations

import html
from typing import Any

import panel as pn
from panel.viewable import Viewable

from dashboards.charts import compare_chart_v2
from dashboards.format import COLUMN_LABELS, METRIC_LABELS
from dashboards.getting_started import getting_started_panel
from dashboards.layout import guarded, notice, shell
from dashboards.state.getting_started import GettingStartedState
from dashboards.state.runs_list import (
    ARCHIVED_CHOICES,
    KIND_CHOICES,
    SORT_CHOICES,
    STATUS_CHOICES,
    THRESHOLD_OPS,
    RunsListState,
)
from dashboards.viewer import Viewer, service_prefix
from stockbot.backtest.metrics import METRIC_KEYS
from stockbot.store.runs import RunStore

TITLE = "Dashboard"
REFRESH_MS = 3000
RUN, NAME = COLUMN_LABELS["run"], COLUMN_LABELS["name"]


def _bound(widget: pn.widgets.Widget, state: Any, name: str) -> pn.widgets.Widget:
    """Keep ``widget.value`` and ``state.<name>`` equal, whichever changes (the URL may set it)."""
    widget.value = getattr(state, name)
    widget.param.watch(lambda e: setattr(state, name, e.new), "value")
    state.param.watch(lambda e: setattr(widget, "value", e.new), name)
    return widget


def _choices(values: list[str]) -> dict[str, str]:
    return {v or "any": v for v in values}


def _filters(state: RunsListState) -> pn.Column:
    search = pn.widgets.TextInput(
        label="search", placeholder="name or tag", width=220, css_classes=["stockbot-runs-search"]
    )
    sort = pn.widgets.Select(
        label="sort by", options=SORT_CHOICES, width=170, css_classes=["stockbot-runs-sort"]
    )
    order = pn.widgets.Select(
        label="order",
        options={"descending": True, "ascending": False},
        width=120,
        css_classes=["stockbot-runs-order"],
    )
    archived = pn.widgets.Select(
        label="show", options=list(ARCHIVED_CHOICES), width=110, css_classes=["stockbot-filter-archived"]
    )
    kind = pn.widgets.Select(
        label="kind", options=_choices(KIND_CHOICES), width=120, css_classes=["stockbot-filter-kind"]
    )
    status = pn.widgets.Select(
        label="status", options=_choices(STATUS_CHOICES), width=120, css_classes=["stockbot-filter-status"]
    )
    metric = pn.widgets.Select(
        label="metric threshold",
        options={METRIC_LABELS.get(k, k): k for k in METRIC_KEYS},
        width=170,
        css_classes=["stockbot-threshold-metric"],
    )
    op = pn.widgets.Select(
        label="", options=list(THRESHOLD_OPS), width=60, css_classes=["stockbot-threshold-op"]
    )
    value = pn.widgets.FloatInput(
        label="value", placeholder="none", width=100, css_classes=["stockbot-threshold-value"]
    )
    first: list[Any] = []
    if state.viewer.admin:
        owner = pn.widgets.TextInput(
            label="owner", placeholder="everyone", width=140, css_classes=["stockbot-filter-owner"]
        )
        first.append(_bound(owner, state, "owner"))
    for widget, name in ((search, "search"), (sort, "sort"), (order, "descending"), (archived, "archived")):
        first.append(_bound(widget, state, name))
    second = [
        _bound(w, state, n)
        for w, n in ((kind, "kind"), (status, "status"), (metric, "metric"), (op, "op"), (value, "threshold"))
    ]
    return pn.Column(pn.Row(*first), pn.Row(*second), sizing_mode="stretch_width")


# each column's share of the table's width (percent); the rest goes to the name
WIDTHS = {
    "tags": 9,
    "kind": 5,
    "owner": 7,
    "status": 10,
    "progress": 5,
    "created_at": 11,
    "sharpe": 5,
    "total_return": 7,
    "cagr": 5,
    "max_drawdown": 7,
    "run": 16,
}


def _widths(state: RunsListState) -> dict[str, str]:
    columns = state.table_columns()
    shares = {COLUMN_LABELS[c]: WIDTHS[c] for c in columns if c in WIDTHS}
    if "owner" in columns:  # admins: the owner's share comes off the id and the name
        shares[COLUMN_LABELS["run"]] -= 3
    shares[NAME] = 97 - sum(shares.values())  # the checkbox column takes a little
    return {name: f"{share}%" for name, share in shares.items()}


def _table(state: RunsListState) -> pn.widgets.Tabulator:
    table = pn.widgets.Tabulator(
        state.table(),
        label="runs",
        show_index=False,
        disabled=True,
        sortable=False,  # the store sorts (the "sort by" selector): a header sort would sort one page
        selectable="checkbox",
        # fixed shares of the width: a layout fitted to the first page's data would keep those
        # widths for every later page (and cut longer names and statuses)
        layout="fit_columns",
        widths=_widths(state),
        sizing_mode="stretch_width",
        css_classes=["stockbot-runs-table"],
        formatters={
            NAME: {"type": "link", "urlPrefix": f"{service_prefix()}runs/", "urlField": RUN},
            COLUMN_LABELS["progress"]: {"type": "progress", "min": 0, "max": 1, "legend": False},
        },
    )
    syncing = False

    def show(*_: Any) -> None:
        nonlocal syncing
        shown = state.table()
        syncing = True
        try:
            table.value = shown
            table.selection = [i for i, run in enumerate(shown[RUN]) if run in state.selected]
        finally:
            syncing = False

    def picked(event: Any) -> None:
        if syncing:
            return
        on_page = list(table.value[RUN])
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
        total.object = f"{state.total:,} runs · page {state.page + 1} of {state.pages}"
        prev.disabled = state.page == 0
        nxt.disabled = state.page >= state.pages - 1

    state.param.watch(show, ["total", "page", "page_size"])
    show()
    return pn.Row(prev, total, nxt)


def _actions(state: RunsListState) -> pn.Column:
    """Edit, archive, restore and delete the ticked runs; delete asks first."""
    edit = pn.widgets.Button(label="Edit name, tags, note", css_classes=["stockbot-run-edit"])
    archive = pn.widgets.Button(label="Archive", css_classes=["stockbot-run-archive"])
    restore = pn.widgets.Button(label="Restore", css_classes=["stockbot-run-unarchive"])
    delete = pn.widgets.Button(label="Delete…", color="danger", css_classes=["stockbot-run-delete"])
    edit.on_click(lambda _: state.start_edit())
    archive.on_click(lambda _: state.set_archived(True))
    restore.on_click(lambda _: state.set_archived(False))
    delete.on_click(lambda _: state.request_delete())

    question = pn.pane.HTML("", css_classes=["stockbot-delete-question"])
    yes = pn.widgets.Button(label="Delete for good", color="danger", css_classes=["stockbot-delete-yes"])
    no = pn.widgets.Button(label="Keep them", css_classes=["stockbot-delete-no"])
    yes.on_click(lambda _: state.delete_confirmed())
    no.on_click(lambda _: state.cancel_delete())
    confirm = pn.Row(question, yes, no, css_classes=["stockbot-delete-confirm"], visible=False)
    message = pn.pane.HTML("", css_classes=["stockbot-runs-message"])

    def show(*_: Any) -> None:
        picked = [state._seen[r] for r in state.selected if r in state._seen]
        edit.disabled = len(picked) != 1
        archive.disabled = not any(d.get("archived_at") is None for d in picked)
        restore.disabled = not any(d.get("archived_at") is not None for d in picked)
        delete.disabled = not picked
        n = len(state.confirm_delete)
        question.object = (
            f"<b>Delete {n} run(s) and all their files?</b> This cannot be undone: "
            + html.escape(", ".join(state.confirm_delete))
        )
        confirm.visible = bool(n)  # after its text: the question never shows stale runs
        message.object = html.escape(state.message)

    state.param.watch(show, ["selected", "confirm_delete", "message", "docs"])
    show()
    return pn.Column(pn.Row(edit, archive, restore, delete), confirm, message, sizing_mode="stretch_width")


def _editor(state: RunsListState) -> pn.Column:
    """The small dialog that edits one run's name, tags (comma-separated) and note."""
    title = pn.pane.HTML("")
    name = pn.widgets.TextInput(label="name", width=420, css_classes=["stockbot-edit-name"])
    tags = pn.widgets.TextInput(label="tags (comma-separated)", width=420, css_classes=["stockbot-edit-tags"])
    note = pn.widgets.TextAreaInput(label="note", width=420, height=100, css_classes=["stockbot-edit-note"])
    for widget, field in ((name, "edit_name"), (tags, "edit_tags"), (note, "edit_note")):
        _bound(widget, state, field)
    save = pn.widgets.Button(label="Save", color="primary", css_classes=["stockbot-edit-save"])
    cancel = pn.widgets.Button(label="Cancel", css_classes=["stockbot-edit-cancel"])
    save.on_click(lambda _: state.save_edit())
    cancel.on_click(lambda _: state.cancel_edit())
    error = notice("", "stockbot-edit-error")
    dialog = pn.Column(
        title,
        name,
        tags,
        note,
        pn.Row(save, cancel),
        error,
        css_classes=["stockbot-edit-dialog"],
        visible=False,
    )

    def show(*_: Any) -> None:
        dialog.visible = bool(state.editing)
        title.object = f"<b>Edit run</b> {html.escape(state.editing)}"
        error.object = html.escape(state.edit_error)
        error.visible = bool(state.edit_error)

    state.param.watch(show, ["editing", "edit_error"])
    show()
    return dialog


def _comparison(state: RunsListState) -> pn.Column:
    metrics = pn.widgets.Tabulator(
        state.compare_table(),
        show_index=False,
        disabled=True,
        sortable=False,
        sizing_mode="stretch_width",
        css_classes=["stockbot-compare-metrics"],
        label="compare metrics",
    )
    config = pn.widgets.Tabulator(
        state.compare_config(),
        show_index=False,
        disabled=True,
        sizing_mode="stretch_width",
        css_classes=["stockbot-compare-config"],
        label="config differences",
    )
    config_title = pn.pane.Markdown("#### Config differences")
    chart = pn.pane.HoloViews(
        None, sizing_mode="stretch_width", css_classes=["stockbot-compare-equity"], name="compare equity"
    )
    hint = pn.pane.Markdown("Tick runs in the table to compare them.")

    def show(*_: Any) -> None:
        metrics.value = state.compare_table()
        differences = state.compare_config()
        # the columns are run names (the user's own text): Tabulator puts header titles in as HTML
        config.titles = {str(c): html.escape(str(c)) for c in differences.columns}
        config.value = differences
        curves = state.compare_equity()
        chart.object = compare_chart_v2(curves) if len(curves) else None
        hint.visible = not state.selected
        metrics.visible = bool(state.selected)
        config.visible = config_title.visible = len(state.selected) > 1
        chart.visible = bool(len(curves))

    state.param.watch(show, "selected")
    show()
    return pn.Column(
        pn.pane.Markdown("### Compare"),
        hint,
        metrics,
        config_title,
        config,
        chart,
        sizing_mode="stretch_width",
    )


def view(
    state: RunsListState, *, refresh_ms: int | None = REFRESH_MS, start: GettingStartedState | None = None
) -> pn.Column:
    """The page of ``state`` (and the getting-started panel of ``start``); ``refresh_ms=None`` leaves
    out the periodic refresh (tests)."""
    if pn.state.location is not None:
        # filters live in the URL, so a filtered list can be bookmarked and shared
        pn.state.location.sync(
            state,
            {
                "kind": "kind",
                "status": "status",
                "owner": "owner",
                "page": "page",
                "search": "q",
                "sort": "sort",
                "descending": "desc",
                "archived": "show",
            },
        )
    start = start or GettingStartedState(state.viewer, store=state._store)
    state.refresh()
    start.refresh()
    error = notice("", "stockbot-runs-error")
    error.visible = False

    def show_error(*_: Any) -> None:
        error.object = state.error
        error.visible = bool(state.error)

    state.param.watch(show_error, "error")
    show_error()

    def tick() -> None:
        state.refresh()
        start.refresh()

    # a run the getting-started panel submits belongs in the table at once
    start.param.watch(lambda *_: state.refresh(), ["train_id", "backtest_id"])
    if refresh_ms:
        pn.state.add_periodic_callback(tick, period=refresh_ms)
    return shell(
        state.viewer,
        "dashboard",
        "Runs (all users)" if state.viewer.admin else "Your runs",
        getting_started_panel(start),
        _filters(state),
        error,
        _actions(state),
        _editor(state),
        _table(state),
        _pager(state),
        _comparison(state),
    )


def build(viewer: Viewer, *, refresh_ms: int | None = REFRESH_MS, store: RunStore | None = None) -> Viewable:
    return view(RunsListState(viewer, store=store), refresh_ms=refresh_ms)


def page() -> Viewable:
    return guarded(build, TITLE)
