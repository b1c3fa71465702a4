"""``/live``: sessions of trained runs on the paper broker or a connected account, as they trade.

A status bar (PAPER/LIVE badge, broker, market clock, data freshness, engine and risk state,
heartbeat); the controls (pause entries, resume, stop, stop and flatten, reconcile, and the kill
switch behind a typed confirmation); the account (equity, cash, day and total P&L, drawdown,
exposure, headroom to each risk limit); the session's equity against its shadow backtest and
buy-and-hold with a drawdown subplot; positions (weight against the policy's target); orders with
their timeline and slippage against the simulated fill; fills; the latest decision; the event log.
It refreshes itself; the selected session's id is in the URL (``?session=``). Starting a session
takes one of the viewer's trained runs, a broker (paper, or their connected Alpaca or Schwab account)
and a clock (a replay period, or the market's).

CSS classes: ``stockbot-live-select``, ``stockbot-live-start`` (the start form; its fields
``stockbot-live-run``, ``stockbot-live-broker``, ``stockbot-live-account-kind``,
``stockbot-live-confirm``, ``stockbot-live-clock``, ``stockbot-live-feed``, ``stockbot-live-from``,
``stockbot-live-to``, ``stockbot-live-speed``, ``stockbot-live-cash``, ``stockbot-live-name``, the
button ``stockbot-live-start-button`` and ``stockbot-live-errors``), ``stockbot-live-status``
(with ``stockbot-live-badge``, whose ``data-mode`` is PAPER or LIVE, and ``data-status`` /
``data-risk`` attributes for the engine and risk states), ``stockbot-live-message``, the controls
``stockbot-live-pause``, ``-resume``, ``-stop``, ``-flatten``, ``-reconcile``, ``-kill-confirm``
and ``-kill``, ``stockbot-live-account``, ``stockbot-live-equity``, ``stockbot-live-gap`` (the
cumulative live-minus-shadow equity, on a real broker), ``stockbot-live-drawdown``,
``stockbot-live-positions``, ``stockbot-live-orders``, ``stockbot-live-fills``, ``stockbot-live-decision`` and
``stockbot-live-events``; the page is ``stockbot-page-live``.
"""

from __future__ import annotations

import datetime as dt
import html
import time
from typing import Any

import pandas as pd
import panel as pn
from panel.viewable import Viewable

from dashboards.charts import drawdown_chart, gap_chart, session_chart
from dashboards.layout import guarded, notice, shell
from dashboards.state.live import (
    BENCHMARK,
    GAP,
    KILL_WORD,
    NOT_FOUND,
    SESSION,
    SHADOW,
    TABLE_ROWS,
    LiveState,
)
from dashboards.viewer import Viewer
from stockbot.config import REAL_MONEY

TITLE = "Live"
REFRESH_MS = 1000
CHART_SECONDS = 4.0
TABLE_HEIGHT = 420
SERIES = (SESSION, SHADOW, BENCHMARK)
BADGE = {
    "PAPER": "background:#2e7d32;color:white",
    "LIVE": "background:#c62828;color:white",
}


def _status_html(state: LiveState) -> str:
    if not state.found:
        return ""
    doc = state.doc or {}
    view = state.view
    mode = state.badge()
    risk = (view.get("risk") or {}).get("status", "")
    items = "".join(
        f'<span class="stockbot-live-item"><b>{html.escape(label)}</b> {html.escape(text)}</span>'
        for label, text in state.status_items()
    )
    name = html.escape(str(doc.get("name") or doc.get("_id")))
    return (
        f'<div class="stockbot-live-status" data-status="{html.escape(str(doc.get("status")))}" '
        f'data-risk="{html.escape(str(risk))}" style="display:flex;flex-wrap:wrap;gap:0.4em 1.4em;'
        'align-items:center;padding:6px 8px;border:1px solid #ddd;border-radius:4px">'
        f'<span class="stockbot-live-badge" data-mode="{mode}" style="{BADGE[mode]};padding:2px 10px;'
        f'border-radius:4px;font-weight:bold">{mode}</span>'
        f"<span><b>{name}</b> <code>{html.escape(str(doc.get('_id')))}</code></span>{items}</div>"
    )


def _lines_html(lines: list[str], css: str, height: int = 320) -> str:
    body = "\n".join(html.escape(line) for line in lines)
    return (
        f'<pre class="{css}" style="max-height:{height}px;overflow:auto;margin:0;padding:6px;'
        f'border:1px solid #ddd;font-size:12px;white-space:pre-wrap">{body}</pre>'
    )


def _table(css: str, label: str, height: int = TABLE_HEIGHT) -> pn.widgets.Tabulator:
    return pn.widgets.Tabulator(
        None,
        show_index=False,
        disabled=True,
        pagination="local",
        page_size=50,
        css_classes=[css],
        label=label,
        sizing_mode="stretch_width",
        max_height=height,
    )


def _set_table(table: pn.widgets.Tabulator, frame: pd.DataFrame) -> None:
    current = table.value
    if current is None or not current.equals(frame):
        table.value = frame


def start_form(state: LiveState) -> pn.Card:
    """A new session: a trained run; the broker (paper, or the viewer's connected Alpaca or Schwab
    account, its paper or live endpoint, a live one confirmed by typing REAL MONEY); the clock (a
    replay period and pace, or the market's, with its feed); the capital; a name."""
    runs = pn.widgets.Select(
        label="Trained run", options=state.trained_runs(), css_classes=["stockbot-live-run"]
    )
    broker = pn.widgets.Select(
        label="Broker",
        options={"Paper (simulated here)": "paper", "Alpaca": "alpaca", "Charles Schwab": "schwab"},
        css_classes=["stockbot-live-broker"],
    )
    account = pn.widgets.Select(
        label="Account",
        options={"paper account": "paper", "LIVE account (real money)": "live"},
        css_classes=["stockbot-live-account-kind"],
    )
    confirm = pn.widgets.TextInput(
        label=f"Type {REAL_MONEY} to trade a live account",
        placeholder=REAL_MONEY,
        css_classes=["stockbot-live-confirm"],
    )
    clock = pn.widgets.Select(
        label="Clock",
        options={"Replay past bars": "replay", "Market (today's bars, on the exchange's schedule)": "market"},
        css_classes=["stockbot-live-clock"],
    )
    feed = pn.widgets.Select(
        label="Data feed", options=["alpaca", "schwab", "yahoo"], css_classes=["stockbot-live-feed"]
    )
    first = pn.widgets.TextInput(
        label="Replay from (YYYY-MM-DD)",
        placeholder="the run's test period",
        css_classes=["stockbot-live-from"],
    )
    last = pn.widgets.TextInput(
        label="Replay to (YYYY-MM-DD)", placeholder="the end of the data", css_classes=["stockbot-live-to"]
    )
    speed = pn.widgets.FloatInput(
        label="Speed (bars per second; 0 = as fast as possible)",
        value=2.0,
        start=0,
        end=10_000,
        css_classes=["stockbot-live-speed"],
    )
    cash = pn.widgets.TextInput(
        label="Capital ($)", placeholder="the trained run's", css_classes=["stockbot-live-cash"]
    )
    name = pn.widgets.TextInput(
        label="Name", placeholder="<broker> <run>", css_classes=["stockbot-live-name"]
    )
    button = pn.widgets.Button(
        label="Start session", color="primary", css_classes=["stockbot-live-start-button"]
    )

    def shape(*_: Any) -> None:
        """Only the fields that apply: Schwab has no paper account, the paper broker no live one."""
        if broker.value == "schwab":
            account.value = "live"
        elif broker.value == "paper":
            account.value = "paper"
        account.disabled = broker.value != "alpaca"
        confirm.visible = account.value == "live"
        replay = clock.value == "replay"
        first.visible = last.visible = speed.visible = replay
        feed.visible = not replay
        button.label = "Start LIVE session (real money)" if account.value == "live" else "Start session"
        button.button_type = "danger" if account.value == "live" else "primary"

    for w in (broker, account, clock):
        w.param.watch(shape, "value")
    shape()
    errors = pn.pane.HTML(css_classes=["stockbot-live-errors"], styles={"color": "#b00020"})

    def show_errors(*_: Any) -> None:
        items = "".join(
            f"<li><b>{html.escape(str(e.get('field') or 'config'))}</b>: "
            f"{html.escape(str(e.get('message')))}</li>"
            for e in state.errors
        )
        errors.object = f"<ul>{items}</ul>" if items else ""

    def start(_: Any) -> None:
        problems = []
        values: dict[str, Any] = {
            "run_id": runs.value,
            "speed": speed.value,
            "name": name.value.strip(),
            "broker": broker.value,
            "account": account.value,
            "confirm": (confirm.value_input or confirm.value or "").strip(),
            "clock": clock.value,
            "feed": feed.value,
        }
        for key, box in (("start", first), ("end", last)):
            text = box.value.strip()
            if not text or clock.value != "replay":
                continue
            try:
                values[key] = dt.date.fromisoformat(text)
            except ValueError:
                problems.append(
                    {"field": f"clock.{key}", "message": f"{text!r} is not a date like 2017-04-03"}
                )
        if cash.value.strip():
            try:
                values["initial_cash"] = float(cash.value.replace(",", "").replace("$", ""))
            except ValueError:
                problems.append({"field": "initial_cash", "message": f"{cash.value!r} is not an amount"})
        if not runs.value:
            problems.append({"field": "policy.run_id", "message": "train a policy first (Dashboard)"})
        if problems:
            state.errors = problems
            return
        state.start(values)

    button.on_click(start)
    state.param.watch(show_errors, "errors")
    card = pn.Card(
        pn.Row(runs, sizing_mode="stretch_width"),
        pn.Row(broker, account, confirm, sizing_mode="stretch_width"),
        pn.Row(clock, feed, sizing_mode="stretch_width"),
        pn.Row(first, last, speed, sizing_mode="stretch_width"),
        pn.Row(cash, name, sizing_mode="stretch_width"),
        button,
        errors,
        title="Start a session",
        collapsed=bool(state.session_id),  # open unless the page shows a session
        css_classes=["stockbot-live-start"],
        sizing_mode="stretch_width",
    )
    # a session chosen or just started: the form makes way for it
    state.param.watch(lambda e: setattr(card, "collapsed", bool(e.new)), "session_id")
    return card


def controls(state: LiveState) -> pn.Column:
    pause = pn.widgets.Button(label="Pause entries", css_classes=["stockbot-live-pause"])
    resume = pn.widgets.Button(label="Resume", css_classes=["stockbot-live-resume"])
    flatten = pn.widgets.Checkbox(label="flatten on stop", css_classes=["stockbot-live-flatten"])
    stop = pn.widgets.Button(label="Stop", color="warning", css_classes=["stockbot-live-stop"])
    reconcile = pn.widgets.Button(
        label="Reconcile: adopt the broker's positions", css_classes=["stockbot-live-reconcile"]
    )
    confirm = pn.widgets.TextInput(
        placeholder=f"type {KILL_WORD} to arm", width=150, css_classes=["stockbot-live-kill-confirm"]
    )
    kill = pn.widgets.Button(label="Kill switch", color="danger", css_classes=["stockbot-live-kill"])
    pause.on_click(lambda _: state.act("pause"))
    resume.on_click(lambda _: state.act("resume"))
    stop.on_click(lambda _: state.act("stop", flatten=flatten.value))
    reconcile.on_click(lambda _: state.act("reconcile"))

    def fire(_: Any) -> None:
        state.kill(confirm.value_input or confirm.value)
        confirm.value = ""

    kill.on_click(fire)

    ended = pn.pane.HTML(
        "This session has ended: it takes no more requests.", css_classes=["stockbot-live-ended"]
    )

    def show(*_: Any) -> None:
        for w in (pause, resume, stop, flatten, confirm, kill):
            w.disabled = not state.live
        reconcile.visible = state.can_reconcile
        ended.visible = state.found and not state.live

    state.param.watch(show, "doc")
    show()
    row = pn.Row(
        pause,
        resume,
        stop,
        flatten,
        reconcile,
        pn.Spacer(width=30),
        confirm,
        kill,
        sizing_mode="stretch_width",
    )
    return pn.Column(row, ended, sizing_mode="stretch_width")


def session_view(state: LiveState) -> pn.Column:
    status = pn.pane.HTML(sizing_mode="stretch_width")
    account = _table("stockbot-live-account", "account", 360)
    positions = _table("stockbot-live-positions", "positions", 360)
    equity = pn.pane.HoloViews(None, sizing_mode="stretch_width", css_classes=["stockbot-live-equity"])
    drawdown = pn.pane.HoloViews(None, sizing_mode="stretch_width", css_classes=["stockbot-live-drawdown"])
    gap = pn.pane.HoloViews(None, sizing_mode="stretch_width", css_classes=["stockbot-live-gap"])
    no_curve = pn.pane.Markdown("The equity curve starts at the session's first bar.")
    orders = _table("stockbot-live-orders", "orders")
    fills = _table("stockbot-live-fills", "fills")
    decision = pn.pane.HTML(sizing_mode="stretch_width")
    events = pn.pane.HTML(sizing_mode="stretch_width")

    def show(*_: Any) -> None:
        status.object = _status_html(state)
        if not state.found:
            return
        _set_table(account, state.account_rows())
        _set_table(positions, state.positions_table())
        decision.object = _lines_html(state.decision_lines(), "stockbot-live-decision", 200)
        events.object = _lines_html(state.event_lines(), "stockbot-live-events")

    def show_orders(*_: Any) -> None:
        _set_table(orders, state.orders_table())
        _set_table(fills, state.fills_table())

    drawn: dict[str, Any] = {"at": 0.0, "curves": None}

    def show_curves(*_: Any) -> None:
        # charts are rebuilt whole: only when their data changed and, while the session trades, at
        # most every CHART_SECONDS (the browser lays each new chart out)
        curves = state.curves
        last = drawn["curves"]
        if curves is not None and last is not None and curves.equals(last):
            return
        if state.live and time.monotonic() - drawn["at"] < CHART_SECONDS and last is not None:
            return
        drawn.update(at=time.monotonic(), curves=curves)
        has = curves is not None and len(curves) > 1
        title = "Equity: session, shadow backtest, buy & hold"
        equity.object = session_chart(curves, SERIES, title) if has else None
        drawdown.object = drawdown_chart(curves, "Drawdown", series=SERIES) if has else None
        gap_title = "Live minus shadow: what real fills cost against the simulated ones"
        gap.object = gap_chart(curves, GAP, gap_title) if has and GAP in curves.columns else None
        equity.visible = drawdown.visible = has
        gap.visible = gap.object is not None
        no_curve.visible = not has

    state.param.watch(show, "doc")
    state.param.watch(show_orders, ["orders", "fills"])
    state.param.watch(show_curves, ["curves", "doc"])  # the doc: a final redraw when it ends
    for f in (show, show_orders, show_curves):
        f()
    newest = f"Newest first: the latest {TABLE_ROWS} here; all of them in the API and the session's folder."
    tabs = pn.Tabs(
        ("Orders", pn.Column(pn.pane.Markdown(newest), orders, sizing_mode="stretch_width")),
        ("Fills", pn.Column(pn.pane.Markdown(newest), fills, sizing_mode="stretch_width")),
        ("Events", events),
        sizing_mode="stretch_width",
        css_classes=["stockbot-live-tabs"],
    )
    return pn.Column(
        status,
        controls(state),
        pn.Row(
            pn.Column(pn.pane.Markdown("#### Account"), account, sizing_mode="stretch_width"),
            pn.Column(pn.pane.Markdown("#### Positions"), positions, sizing_mode="stretch_width"),
            sizing_mode="stretch_width",
        ),
        no_curve,
        equity,
        gap,
        drawdown,
        pn.pane.Markdown("#### Latest decision"),
        decision,
        tabs,
        sizing_mode="stretch_width",
    )


def view(state: LiveState, *, refresh_ms: int | None = REFRESH_MS) -> Viewable:
    """The page of ``state``; ``refresh_ms=None`` leaves out the periodic refresh (tests)."""
    if pn.state.location is not None:
        pn.state.location.sync(state, {"session_id": "session"})
    chooser = pn.widgets.Select(
        label="Session", css_classes=["stockbot-live-select"], sizing_mode="stretch_width"
    )
    message = pn.pane.HTML(css_classes=["stockbot-live-message"])
    missing = notice(NOT_FOUND, "stockbot-not-found")
    body = session_view(state)

    def show_sessions(*_: Any) -> None:
        choices = {"—": "", **state.session_choices()}
        if chooser.options != choices:
            chooser.options = choices
        if chooser.value != state.session_id:
            chooser.value = state.session_id if state.session_id in choices.values() else ""

    def show_selected(*_: Any) -> None:
        body.visible = state.found
        missing.visible = bool(state.session_id) and not state.found

    def show_message(*_: Any) -> None:
        message.object = html.escape(state.message)

    chooser.param.watch(lambda e: state.select(e.new) if e.new != state.session_id else None, "value")
    state.param.watch(show_sessions, ["sessions", "session_id"])
    state.param.watch(show_selected, ["doc", "session_id"])
    state.param.watch(show_message, "message")
    for f in (show_sessions, show_selected, show_message):
        f()
    if refresh_ms:
        pn.state.add_periodic_callback(state.refresh, period=refresh_ms)
    return shell(
        state.viewer,
        "live",
        "Live sessions (all users)" if state.viewer.admin else "Live sessions",
        start_form(state),
        chooser,
        message,
        missing,
        body,
    )


def build(
    viewer: Viewer, session_id: str = "", *, refresh_ms: int | None = REFRESH_MS, **stores: Any
) -> Viewable:
    return view(LiveState(viewer, session_id, **stores), refresh_ms=refresh_ms)


def _url_session() -> str:
    values = pn.state.session_args.get("session") or []
    return values[0].decode("utf-8", errors="replace") if values else ""


def page() -> Viewable:
    return guarded(lambda viewer: build(viewer, _url_session()), TITLE)
