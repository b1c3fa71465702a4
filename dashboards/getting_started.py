"""The dashboard's getting-started panel (state in :mod:`dashboards.state.getting_started`).

CSS classes: ``stockbot-getting-started`` (the panel), ``stockbot-gs-train`` (train in one click),
``stockbot-gs-status`` (the training's status, with ``data-step`` = start | training | trained |
failed | done), ``stockbot-gs-backtest`` (backtest it, once the training succeeded),
``stockbot-gs-links`` (links to the runs), ``stockbot-gs-error``.
"""

from __future__ import annotations

import html
from typing import Any

import panel as pn

from dashboards.layout import link, notice
from dashboards.state.getting_started import QUICK_SECONDS, QUICK_TRAIN, GettingStartedState
from dashboards.viewer import service_prefix

INTRO = (
    "### Getting started\n"
    "You have no runs yet. Train a first policy on the bundled daily bars "
    f"({' and '.join(QUICK_TRAIN['data']['symbols'])}, {QUICK_TRAIN['data']['dataset']} sample) with a "
    f"small budget ({QUICK_TRAIN['ppo']['total_timesteps']:,} timesteps, a small network; about "
    f"{QUICK_SECONDS} s here), then backtest it on its test period, the bars it never saw. "
    "For your own settings use **New training**."
)


def getting_started_panel(state: GettingStartedState) -> pn.Column:
    train = pn.widgets.Button(
        label="Train a first policy", color="primary", css_classes=["stockbot-gs-train"]
    )
    backtest = pn.widgets.Button(
        label="Backtest it on its test period", color="primary", css_classes=["stockbot-gs-backtest"]
    )
    train.on_click(lambda _: state.train())
    backtest.on_click(lambda _: state.backtest())
    status = pn.pane.HTML("", css_classes=["stockbot-gs-status"])
    links = pn.pane.HTML("", css_classes=["stockbot-gs-links"])
    error = notice("", "stockbot-gs-error", "danger")
    panel = pn.Column(
        pn.pane.Markdown(INTRO),
        pn.Row(train, backtest),
        status,
        links,
        error,
        css_classes=["stockbot-getting-started"],
        sizing_mode="stretch_width",
        styles={"border": "1px solid #9ecae1", "border-radius": "6px", "padding": "0 1em 0.5em"},
    )

    def show(*_: Any) -> None:
        panel.visible = state.visible
        train.visible = state.step in ("start", "failed")
        train.label = "Train again" if state.step == "failed" else "Train a first policy"
        backtest.visible = state.step == "trained"
        text = {
            "start": "",
            "training": f"Training… {state.progress}",
            "trained": "Trained. Now see how it trades on bars it never saw:",
            "failed": f"The training ended {state.progress}: open it to see why, or train again.",
            "done": "Backtest submitted: follow it on its page; your runs are listed below.",
        }[state.step]
        status.object = f'<span data-step="{state.step}">{html.escape(text)}</span>'
        parts = []
        prefix = service_prefix()
        if state.train_id:
            parts.append(link(f"{prefix}runs/{state.train_id}", "the training", "stockbot-gs-train-link"))
        if state.backtest_id:
            parts.append(
                link(f"{prefix}runs/{state.backtest_id}", "its backtest", "stockbot-gs-backtest-link")
            )
        links.object = " · ".join(parts)
        error.object = html.escape(state.message)
        error.visible = bool(state.message)

    state.param.watch(show, ["visible", "step", "progress", "train_id", "backtest_id", "message"])
    show()
    return panel
