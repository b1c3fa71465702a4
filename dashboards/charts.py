"""hvplot charts of equity curves and training curves; data comes shaped by the page state.

Axes read as people read them (money with thousands separators, drawdown and exposure in percent,
never ``1.250e+5``), and legends sit outside the plot area so they never cover a curve.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import holoviews as hv
import hvplot.pandas  # noqa: F401  (registers DataFrame.hvplot)
import pandas as pd
from bokeh.models import NumeralTickFormatter

from dashboards.format import MONEY_AXIS, PCT_AXIS, column_label
from dashboards.state.runs_list import BENCHMARK, POLICY

HEIGHT = 320
SMALL_HEIGHT = 240
# hvplot names the y dimension of every wide frame "value": shared axes would tie the equity
# chart's range to the drawdown chart's
OPTIONS = {"height": HEIGHT, "responsive": True, "shared_axes": False, "xlabel": ""}
LEGEND = "right"  # outside the plot area, right of it (the "top_left"-style positions are inside)
# without a title: hvplot's would be "Variable"
LEGEND_OPTS = {"legend_position": LEGEND, "legend_opts": {"title": None}}
COUNT_AXIS = "0,0"
NUMBER_AXIS = "0,0.[0000]"
FINE_PCT_AXIS = "0.00%"  # training returns move by tenths of a percent
# the train / validation / test periods shaded on the equity chart
SPAN_COLORS = {"train": "#8c8c8c", "validation": "#e69f00", "test": "#009e73"}
SPAN_ALPHA = 0.12


def axis(spec: str) -> NumeralTickFormatter:
    """A Bokeh tick formatter for a numeral.js format (``dashboards.format.MONEY_AXIS``, ...), for
    hvplot's ``xformatter=`` / ``yformatter=``."""
    return NumeralTickFormatter(format=spec)


def _legend(chart: Any) -> Any:
    """Legend outside the plot, untitled; a single curve has no legend (its title says what it is)."""
    if isinstance(chart, hv.Overlay | hv.NdOverlay):
        return chart.opts(**LEGEND_OPTS)
    return chart


def _naive(frame: pd.DataFrame) -> pd.DataFrame:
    """Bokeh draws datetimes as UTC wall time; spans and curves must share one (naive) axis."""
    if isinstance(frame.index, pd.DatetimeIndex) and frame.index.tz is not None:
        frame = frame.copy()
        frame.index = frame.index.tz_convert("UTC").tz_localize(None)
    return frame


def _stamp(value: pd.Timestamp) -> pd.Timestamp:
    value = pd.Timestamp(value)
    return value.tz_convert("UTC").tz_localize(None) if value.tzinfo is not None else value


def split_spans(spans: Sequence[tuple[str, pd.Timestamp, pd.Timestamp]], top: float) -> Any:
    """Shaded periods (``(label, start, end)``, label one of :data:`SPAN_COLORS`), each named at
    the top of the plot (``top``: the y value there)."""
    layers = []
    for label, start, end in spans:
        x0, x1 = _stamp(start), _stamp(end)
        color = SPAN_COLORS.get(label, "#8c8c8c")
        layers.append(hv.VSpan(x0, x1).opts(color=color, alpha=SPAN_ALPHA, line_alpha=0))
        layers.append(
            hv.Text(x0 + (x1 - x0) / 2, top, f"{label} period", fontsize=9).opts(
                color=color, text_baseline="top", text_font_style="bold"
            )
        )
    return hv.Overlay(layers)


def equity_chart(
    curves: pd.DataFrame,
    title: str = "Equity against buy & hold",
    spans: Sequence[tuple[str, pd.Timestamp, pd.Timestamp]] = (),
    series: Sequence[str] = (POLICY, BENCHMARK),
) -> Any:
    """The policy's equity with buy-and-hold's (or the ``series`` columns), marked at each bar's
    close, in dollars; ``spans`` shade the train / validation / test periods the dates fall in."""
    columns = [c for c in series if c in curves.columns]
    frame = _naive(curves[columns])
    chart = frame.hvplot.line(
        ylabel="equity ($)", title=title, legend=LEGEND, yformatter=axis(MONEY_AXIS), **OPTIONS
    )
    if spans and len(frame):
        top = float(frame.max().max())
        # the spans must not widen the x range beyond the curves' dates
        xlim = (frame.index[0], frame.index[-1])
        chart = (split_spans(spans, top) * chart).opts(xlim=xlim)
    return _legend(chart)


def drawdown_chart(
    curves: pd.DataFrame, title: str = "Drawdown", series: Sequence[str] = (POLICY, BENCHMARK)
) -> Any:
    """Equity below its running peak (<= 0), policy and buy-and-hold (or the ``series``' columns
    ``"<series> drawdown"``), in percent."""
    columns = [f"{c} drawdown" for c in series if f"{c} drawdown" in curves.columns]
    chart = _naive(curves[columns]).hvplot.area(
        ylabel="drawdown",
        title=title,
        stacked=False,
        alpha=0.4,
        legend=LEGEND,
        yformatter=axis(PCT_AXIS),
        **OPTIONS,
    )
    return _legend(chart)


def exposure_chart(curves: pd.DataFrame, title: str = "Exposure (share of equity)") -> Any:
    """Gross (sum of |position value|) and net exposure over equity, in percent."""
    columns = [c for c in ("gross exposure", "net exposure") if c in curves.columns]
    chart = _naive(curves[columns]).hvplot.line(
        ylabel="exposure",
        title=title,
        legend=LEGEND,
        yformatter=axis(PCT_AXIS),
        **{**OPTIONS, "height": SMALL_HEIGHT},
    )
    return _legend(chart)


def training_chart(frame: pd.DataFrame, title: str, ylabel: str, *, percent: bool = False) -> Any:
    """Training curves against timesteps (``frame``: one column per curve, indexed by timesteps);
    ``percent`` for fractions such as a validation return."""
    named = frame.rename(columns={c: column_label(str(c)) for c in frame.columns})
    chart = named.hvplot.line(
        title=title,
        ylabel=ylabel,
        legend=LEGEND,
        xformatter=axis(COUNT_AXIS),
        yformatter=axis(FINE_PCT_AXIS if percent else NUMBER_AXIS),
        **{**OPTIONS, "height": SMALL_HEIGHT, "xlabel": "timesteps"},
    )
    return _legend(chart)


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


def compare_chart_v2(long: pd.DataFrame) -> Any:
    """Several runs' equity and the buy-and-hold curves they share (``long``: timestamp, equity,
    label; one curve per label), in dollars, with the legend outside the plot."""
    frame = long.assign(timestamp=pd.to_datetime(long["timestamp"], utc=True).dt.tz_localize(None))
    chart = frame.hvplot.line(
        x="timestamp",
        y="equity",
        by="label",
        ylabel="equity ($)",
        title="Equity of the selected runs and their buy & hold",
        legend=LEGEND,
        yformatter=axis(MONEY_AXIS),
        **OPTIONS,
    )
    return _legend(chart)


def session_chart(curves: pd.DataFrame, series: Sequence[str], title: str) -> Any:
    """A live session's equity with its shadow backtest and buy-and-hold, in dollars: the shadow
    dashed over the session, so both show where they coincide (on paper they should)."""
    layers = []
    for i, name in enumerate(c for c in series if c in curves.columns):
        curve = _naive(curves[[name]]).hvplot.line(
            label=name, ylabel="equity ($)", yformatter=axis(MONEY_AXIS), **OPTIONS
        )
        layers.append(curve.opts(line_width=3 if i == 0 else 2, line_dash="solid" if i != 1 else "dashed"))
    return hv.Overlay(layers).opts(title=title, **LEGEND_OPTS)


def gap_chart(curves: pd.DataFrame, column: str, title: str) -> Any:
    """One signed dollar series (a session's equity minus its shadow's) with the zero line."""
    line = _naive(curves[[column]]).hvplot.line(
        label=column, ylabel="$", yformatter=axis(MONEY_AXIS), **OPTIONS
    )
    return (line * hv.HLine(0).opts(color="#888", line_width=1)).opts(title=title, **LEGEND_OPTS)
