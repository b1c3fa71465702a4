"""``/backtest/new``: a ``backtest`` job of one of the viewer's succeeded train runs (admins: any
user's) or a baseline (buy and hold, equal weight, cash), on a test period, with optional costs.
``?run_id=<train run>`` preselects that run (the run page links here). Element classes are those
of :mod:`dashboards.form_view` (the run selector is ``stockbot-field-policy-run-id``); the page is
``stockbot-page-backtest-new``.
"""

from __future__ import annotations

import panel as pn
from panel.viewable import Viewable

from dashboards.form_view import form_view
from dashboards.layout import guarded, shell
from dashboards.state.backtest import BacktestFormState
from dashboards.viewer import Viewer
from stockbot.store.runs import RunStore

TITLE = "New backtest"


def view(state: BacktestFormState) -> Viewable:
    return shell(state.viewer, "backtest/new", TITLE, form_view(state, "Submit backtest"))


def build(viewer: Viewer, run_id: str | None = None, *, store: RunStore | None = None) -> Viewable:
    state = BacktestFormState(viewer, store=store, run_id=run_id)
    return view(state)


def _url_run_id() -> str | None:
    values = pn.state.session_args.get("run_id") or []
    return values[0].decode("utf-8", errors="replace") if values else None


def page() -> Viewable:
    return guarded(lambda viewer: build(viewer, _url_run_id()), TITLE)
