"""The page shell every dashboard shares: navigation, the signed-in user, notices, the page guard.

CSS classes: ``stockbot-page`` (and ``stockbot-page-<name>``) on the page, ``stockbot-nav`` on the
navigation bar, ``stockbot-nav-link`` on its links (the current one has ``aria-current="page"``),
``stockbot-user`` on the user name, ``stockbot-denied`` on the not-signed-in notice and
``stockbot-error`` on a failure notice.
"""

from __future__ import annotations

import html
import json
import logging
import os
from collections.abc import Callable
from typing import Any

import pandas as pd
import panel as pn
from bokeh.models import CustomJS
from panel.viewable import Viewable

from dashboards.viewer import Viewer, current_viewer, service_prefix
from stockbot.errors import StockBotError

log = logging.getLogger(__name__)

# (label, path under the service prefix)
NAV: tuple[tuple[str, str], ...] = (
    ("Dashboard", "dashboard"),
    ("New training", "training/new"),
    ("New backtest", "backtest/new"),
    ("Live", "live"),
    ("Brokers", "settings/brokers"),
)
EXTENSIONS = ("tabulator",)


def hub_prefix() -> str:
    """The hub's pages (``JUPYTERHUB_BASE_URL`` + ``hub/``)."""
    return os.environ.get("JUPYTERHUB_BASE_URL", "/").rstrip("/") + "/hub/"


def nav_bar(viewer: Viewer, current: str) -> pn.pane.HTML:
    prefix = service_prefix()
    links = []
    for label, path in NAV:
        here = ' aria-current="page"' if path == current else ""
        links.append(f'<a class="stockbot-nav-link" href="{prefix}{path}"{here}>{html.escape(label)}</a>')
    role = " (admin)" if viewer.admin else ""
    # the hub's own pages: the user's JupyterLab (started on demand) and logging out
    hub = f'<a class="stockbot-hub-link" href="{hub_prefix()}user-redirect/lab">JupyterLab</a>'
    out = f'<a class="stockbot-logout" href="{hub_prefix()}logout">Log out</a>'
    return pn.pane.HTML(
        f'<nav class="stockbot-nav">{" ".join(links)}{hub}'
        f'<span class="stockbot-user">{html.escape(viewer.name)}{role}</span>{out}</nav>',
        stylesheets=[
            ".stockbot-nav{display:flex;gap:1.2em;align-items:center;font-size:1.05em}"
            ".stockbot-nav a{text-decoration:none}"
            ".stockbot-nav a[aria-current=page]{font-weight:bold}"
            ".stockbot-user{margin-left:auto;color:#555}"
        ],
        sizing_mode="stretch_width",
        css_classes=["stockbot-nav-bar"],
    )


def shell(viewer: Viewer, current: str, title: str, *objects: Any) -> pn.Column:
    """A page: navigation, its title, then ``objects``."""
    return pn.Column(
        nav_bar(viewer, current),
        pn.pane.Markdown(f"## {title}", css_classes=["stockbot-title"]),
        *objects,
        sizing_mode="stretch_width",
        css_classes=["stockbot-page", f"stockbot-page-{current.replace('/', '-')}"],
    )


def notice(message: str, css_class: str, alert_type: str = "warning") -> pn.pane.Alert:
    return pn.pane.Alert(
        html.escape(message), alert_type=alert_type, css_classes=[css_class], sizing_mode="stretch_width"
    )


def link(url: str, label: str, css_class: str, new_tab: bool = False) -> str:
    """An HTML link with a stable class (``url`` is built by the pages, ``label`` is escaped)."""
    target = ' target="_blank" rel="noopener"' if new_tab else ""
    return f'<a class="{css_class}" href="{html.escape(url, quote=True)}"{target}>{html.escape(label)}</a>'


def utc_naive(frame: pd.DataFrame | None) -> pd.DataFrame | None:
    """``frame`` with its zoned datetime columns as naive UTC, for tables: Panel's Tabulator reads
    zoned columns through ``Series.values``, which pandas 3 deprecates (all StockBot times are UTC)."""
    if frame is None:
        return None
    zoned = [c for c in frame.columns if isinstance(frame[c].dtype, pd.DatetimeTZDtype)]
    if not zoned:
        return frame
    return frame.assign(**{c: frame[c].dt.tz_convert("UTC").dt.tz_localize(None) for c in zoned})


def set_title(title: str) -> None:
    """The browser tab's title. Panel gives every page of a served dict the server's title after the
    page is built (and a later change of ``doc.title`` does not reach the browser), so the browser
    is also told once the page is ready."""
    doc = pn.state.curdoc
    if doc is None:
        return
    full = f"{title} · StockBot"
    doc.title = full
    doc.js_on_event("document_ready", CustomJS(code=f"document.title = {json.dumps(full)};"))


def guarded(build: Callable[[Viewer], Viewable], title: str) -> Viewable:
    """Build a page for the signed-in viewer. Without the service's user header the page says so
    (and builds nothing); a StockBot failure (the store is down) becomes a notice, not a 500."""
    pn.extension(*EXTENSIONS)
    try:
        viewer = current_viewer()
    except PermissionError as e:
        log.warning("refused a dashboard session: %s", e)
        set_title("Not signed in")
        return notice(f"Not signed in: {e}", "stockbot-denied", "danger")
    set_title(title)
    try:
        page = build(viewer)
    except StockBotError as e:
        log.exception("page %r failed for %s", title, viewer.name)
        return pn.Column(nav_bar(viewer, ""), notice(str(e), "stockbot-error", "danger"))
    doc = pn.state.curdoc
    log.info(
        "built %r for %s%s", doc.title if doc else title, viewer.name, " (admin)" if viewer.admin else ""
    )
    return page
