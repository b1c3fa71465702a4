"""The pages the StockBot service serves, by URL path under its prefix."""

from __future__ import annotations

from collections.abc import Callable

from panel.viewable import Viewable

from dashboards import backtest_form, brokers, live, run_detail, runs_list, training_form

PAGES: dict[str, Callable[[], Viewable]] = {
    "dashboard": runs_list.page,
    "training/new": training_form.page,
    "backtest/new": backtest_form.page,
    "runs/{run_id}": run_detail.page,
    "live": live.page,
    "settings/brokers": brokers.page,
}
