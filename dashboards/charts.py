"""hvplot charts of equity curves; data comes shaped by the page state."""

from __future__ import annotations

from typing import Any

import hvplot.pandas  # noqa: F401  (registers DataFrame.hvplot)
import pandas as pd

from dashboards.state.runs_list import BENCHMARK, POLICY

HEIGHT = 320
# hvplot names the y dimension of every wide frame "value": shared axes would tie the equity
# chart's range to the drawdown chart's
OPTIONS = {"height": HEIGHT, "responsive": True, "shared_axes": False, "xlabel": ""}


def equity_chart(curves: pd.DataFrame, title: str = "Equity against buy & hold") -> Any:
    """The policy's equity with buy-and-hold's, marked at each bar's close."""
    columns = [c for c in (POLICY, BENCHMARK) if c in curves.columns]
    return curves[columns].hvplot.line(ylabel="equity", title=title, legend="top_left", **OPTIONS)


def drawdown_chart(curves: pd.DataFrame, title: str = "Drawdown") -> Any:
    """Equity below its running peak (<= 0), policy and buy-and-hold."""
    columns = [f"{c} drawdown" for c in (POLICY, BENCHMARK) if f"{c} drawdown" in curves.columns]
    return curves[columns].hvplot.area(
        ylabel="drawdown", title=title, stacked=False, alpha=0.4, legend="bottom_left", **OPTIONS
    )


def compare_chart(long: pd.DataFrame) -> Any:
    """Several runs' equity and their buy-and-hold overlaid (``long``: timestamp, equity, label)."""
    return long.hvplot.line(
        x="timestamp",
        y="equity",
        by="label",
        ylabel="equity",
        title="Equity of the selected runs and their buy & hold",
        legend="top_left",
        **OPTIONS,
    )
