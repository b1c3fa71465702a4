"""``/settings/brokers``: connect Alpaca or Schwab (signing in with the broker, or, for Alpaca, API
keys), see each connection (masked account, paper or live, expiry, last refresh, what needs doing)
and disconnect. No secret is ever shown or sent to the page.

CSS classes: ``stockbot-brokers`` (the table, a ``<table>``; each row ``stockbot-broker`` with
``data-broker`` and ``data-connected``), ``stockbot-broker-connect`` (links),
``stockbot-broker-disconnect-<broker>`` (buttons), ``stockbot-alpaca-keys`` (the form: its fields
``stockbot-alpaca-key-id``, ``stockbot-alpaca-secret``, ``stockbot-alpaca-paper`` and the button
``stockbot-alpaca-save``), ``stockbot-brokers-message``, ``stockbot-brokers-real-money`` (why live
accounts are refused here, when they are); the page is ``stockbot-page-settings-brokers``.
"""

from __future__ import annotations

import html
from typing import Any

import panel as pn
from panel.viewable import Viewable

from dashboards import format as fmt
from dashboards.layout import guarded, shell
from dashboards.state.brokers import LABELS, BrokersState
from dashboards.viewer import Viewer
from stockbot.store.runs import RunStore
from stockbot.store.tokens import BROKERS, TokenStore, crypt_key

TITLE = "Brokers"


def _table_html(state: BrokersState) -> str:
    rows = []
    for r in state.rows:
        url = html.escape(state.connect_url(r["broker"]), quote=True)
        label = "Connect again" if r["connected"] else "Connect"
        connect = f'<a class="stockbot-broker-connect" href="{url}">{label}</a>'
        cells = [
            f"<b>{html.escape(r['label'])}</b>",
            "connected" + (f" ({r['how']})" if r["how"] else "") if r["connected"] else "not connected",
            html.escape(r["account"] or fmt.MISSING),
            html.escape(r["mode"] or fmt.MISSING),
            html.escape(fmt.timestamp(r["expires"])) if r["expires"] else fmt.MISSING,
            html.escape(fmt.timestamp(r["refreshed"])) if r["refreshed"] else fmt.MISSING,
            f'<span style="color:#b00020">{html.escape(r["warning"])}</span>' if r["warning"] else "",
            connect,
        ]
        tds = "".join(f'<td style="padding:4px 10px">{c}</td>' for c in cells)
        rows.append(
            f'<tr class="stockbot-broker" data-broker="{r["broker"]}" '
            f'data-connected="{str(r["connected"]).lower()}">{tds}</tr>'
        )
    head = "".join(
        f'<th style="padding:4px 10px;text-align:left">{h}</th>'
        for h in ("Broker", "Status", "Account", "Mode", "Access expires", "Last refresh", "", "")
    )
    body = "".join(rows)
    return f'<table class="stockbot-brokers"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def view(state: BrokersState, connected: str | None = None) -> Viewable:
    table = pn.pane.HTML(sizing_mode="stretch_width")
    message = pn.pane.HTML(css_classes=["stockbot-brokers-message"])
    disconnects = []
    for broker in BROKERS:
        button = pn.widgets.Button(
            label=f"Disconnect {LABELS[broker]}",
            color="warning",
            css_classes=[f"stockbot-broker-disconnect-{broker}"],
        )
        button.on_click(lambda _, b=broker: state.disconnect(b))
        disconnects.append(button)
    key_id = pn.widgets.TextInput(label="Alpaca API key id", css_classes=["stockbot-alpaca-key-id"])
    secret = pn.widgets.PasswordInput(label="Secret key", css_classes=["stockbot-alpaca-secret"])
    paper = pn.widgets.Checkbox(label="paper account", value=True, css_classes=["stockbot-alpaca-paper"])
    save = pn.widgets.Button(label="Save API keys", color="primary", css_classes=["stockbot-alpaca-save"])

    def keep(_: Any) -> None:
        if state.save_keys(key_id.value, secret.value, paper.value):
            key_id.value = secret.value = ""  # nothing of it stays in the page

    save.on_click(keep)

    def show(*_: Any) -> None:
        table.object = _table_html(state)
        for broker, button in zip(BROKERS, disconnects, strict=True):
            button.visible = any(r["broker"] == broker and r["connected"] for r in state.rows)
        message.object = html.escape(state.message)

    state.param.watch(show, ["rows", "message"])
    if connected in LABELS:
        state.message = f"{LABELS[connected]} connected."
    show()
    keys = pn.Card(
        pn.pane.Markdown(
            "Instead of signing in with Alpaca, enter an API key pair. It is kept encrypted and never "
            "shown again; notebooks and sessions reach the account through the service."
        ),
        pn.Row(key_id, secret, paper),
        save,
        title="Alpaca API keys",
        collapsed=True,
        css_classes=["stockbot-alpaca-keys"],
        sizing_mode="stretch_width",
    )
    refusal = pn.pane.HTML(
        f'<p style="color:#b00020">{html.escape(state.real_money)}</p>' if state.real_money else "",
        css_classes=["stockbot-brokers-real-money"],
    )
    return shell(state.viewer, "settings/brokers", TITLE, message, refusal, table, pn.Row(*disconnects), keys)


def build(viewer: Viewer, connected: str | None = None, tokens: TokenStore | None = None) -> Viewable:
    tokens = tokens or TokenStore(RunStore().col.database, crypt_key())
    return view(BrokersState(viewer, tokens), connected)


def page() -> Viewable:
    values = pn.state.session_args.get("connected") or []
    connected = values[0].decode("utf-8", errors="replace") if values else None
    return guarded(lambda viewer: build(viewer, connected), TITLE)
