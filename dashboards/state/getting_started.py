"""State of the dashboard's getting-started panel: shown while the viewer has no runs at all, it
trains a small policy on the bundled data in one click, then backtests it on its test period.

Both go through :func:`stockbot.jobs.submit` as the forms do (the viewer's ``data_root`` and
``parent_owner``), so the runs are ordinary runs of the viewer.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import param

from dashboards.viewer import Viewer, service_prefix
from stockbot.errors import ConfigError, StockBotError
from stockbot.jobs import submit
from stockbot.store.runs import TERMINAL, RunStatus, RunStore

# A first training that finishes in well under a minute here: 4,096 timesteps, one env, a 32x32
# network. Measured on this project's 2-core machine under other work (load 5-8): 40 s wall for
# `stockbot train` of this config, 9 s of it CPU; the job adds a few seconds of notebook start-up.
QUICK_TRAIN: dict[str, Any] = {
    "data": {"provider": "sample", "dataset": "dow29", "symbols": ["AAPL", "MSFT"]},
    "env": {"window": 16, "episode_bars": 128},
    "ppo": {
        "total_timesteps": 4096,
        "n_envs": 1,
        "n_steps": 512,
        "batch_size": 128,
        "n_epochs": 4,
        "net_arch": [32, 32],
    },
    "eval": {"every_steps": 2048, "patience": None},
}
QUICK_SECONDS = 45  # what the panel promises (the measurement above, rounded up)


def holdout_backtest(train_doc: dict[str, Any]) -> dict[str, Any]:
    """A backtest of a trained run on its own test period: its data from the day after its
    ``split.val_end`` to its ``data.end``."""
    config = train_doc.get("config") or {}
    data = {k: v for k, v in (config.get("data") or {}).items() if v is not None}
    val_end = (config.get("split") or {}).get("val_end")
    if val_end:
        data["start"] = (dt.date.fromisoformat(str(val_end)) + dt.timedelta(days=1)).isoformat()
    return {"data": data, "policy": {"type": "run", "run_id": train_doc["_id"]}}


class GettingStartedState(param.Parameterized):
    """The panel's step: ``start`` (nothing run yet), ``training`` (the first training is queued or
    running), ``trained`` (it succeeded: a backtest can follow), ``failed``, ``done`` (the backtest
    was submitted). ``visible`` while the viewer has no runs, and for the rest of that walk."""

    visible = param.Boolean(default=False)
    step = param.Selector(objects=["start", "training", "trained", "failed", "done"], default="start")
    train_id = param.String(default="")
    backtest_id = param.String(default="")
    progress = param.String(default="", doc="the training's status and progress message")
    message = param.String(default="", doc="an error to show")

    def __init__(self, viewer: Viewer, store: RunStore | None = None, **params: Any) -> None:
        super().__init__(**params)
        self.viewer = viewer
        self._store = store

    @property
    def store(self) -> RunStore:
        if self._store is None:
            self._store = RunStore()
        return self._store

    def refresh(self) -> None:
        """Show the panel to a viewer without runs (archived ones count); follow the training."""
        try:
            if not self.train_id:
                _, total = self.store.list(owner=self.viewer.name, archived=None, limit=0)
                self.visible = total == 0
                return
            doc = self.store.get(self.train_id)
        except StockBotError as e:
            self.message = f"cannot read your runs: {e}"
            return
        if doc is None:  # deleted meanwhile: start over
            self.param.update(train_id="", step="start", progress="")
            self.refresh()
            return
        status = doc.get("status")
        note = (doc.get("progress") or {}).get("message") or ""
        self.progress = f"{status}: {note}" if note and note != status else str(status)
        if self.step == "training" and status in TERMINAL:
            self.step = "trained" if status == RunStatus.SUCCEEDED else "failed"

    def _submit(self, kind: str, config: dict[str, Any]) -> str | None:
        try:
            return submit(
                kind,
                config,
                owner=self.viewer.name,
                store=self.store,
                data_root=self.viewer.data_root,
                parent_owner=self.viewer.parent_owner,
            )
        except ConfigError as e:
            lines = [f"{p.get('field') or 'config'}: {p.get('message')}" for p in e.errors]
            self.message = f"not submitted: {'; '.join(lines)}"
        except StockBotError as e:
            self.message = f"not submitted: {e}"
        return None

    def train(self) -> str | None:
        """Submit the small first training; its id (None when it was not submitted)."""
        if self.step not in ("start", "failed"):
            return None
        run_id = self._submit("train", QUICK_TRAIN)
        if run_id is not None:
            self.param.update(train_id=run_id, step="training", message="", visible=True)
            self.refresh()
        return run_id

    def backtest(self) -> str | None:
        """Once the training succeeded: submit its backtest on the test period."""
        if self.step != "trained":
            return None
        doc = self.store.get(self.train_id)
        if doc is None:
            self.refresh()
            return None
        run_id = self._submit("backtest", holdout_backtest(doc))
        if run_id is not None:
            self.param.update(backtest_id=run_id, step="done", message="")
        return run_id

    @staticmethod
    def run_url(run_id: str) -> str:
        return f"{service_prefix()}runs/{run_id}"
