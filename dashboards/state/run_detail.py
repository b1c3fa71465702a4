"""State of ``/runs/{run_id}``: the run document, its progress and log tail while it runs, and its
results (equity against buy-and-hold, drawdowns, metrics, trades, artifacts) once written."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

import pandas as pd
import param

from dashboards.state.files import read_equity, read_summary, read_trades, tail_log
from dashboards.state.runs_list import BENCHMARK, POLICY, progress_fraction
from dashboards.viewer import Viewer, service_prefix
from stockbot.backtest.metrics import METRIC_KEYS, drawdown
from stockbot.errors import JobError, StockBotError
from stockbot.jobs import list_artifacts
from stockbot.jobs.kinds import check_run_id
from stockbot.store.runs import TERMINAL, RunStatus, RunStore

log = logging.getLogger(__name__)

NOT_FOUND = "No such run, or it is not yours."


class RunDetailState(param.Parameterized):
    """Everything the run page shows; :meth:`refresh` re-reads it (periodically while live)."""

    doc = param.Dict(default=None, allow_None=True, doc="the run document; None when not found")
    log_tail = param.String(default="")
    equity = param.DataFrame(default=None, allow_None=True)
    summary = param.Dict(default=None, allow_None=True)
    trades = param.DataFrame(default=None, allow_None=True)
    artifacts = param.List(default=[], doc='[{"path", "size"}] of the run folder')
    message = param.String(default="")

    def __init__(self, viewer: Viewer, run_id: str, store: RunStore | None = None, **params: Any) -> None:
        super().__init__(**params)
        self.viewer = viewer
        self.run_id = str(run_id)
        self._store = store
        self.refresh()

    @property
    def store(self) -> RunStore:
        if self._store is None:
            self._store = RunStore()
        return self._store

    # ------------------------------------------------------------------ reading

    def _load_doc(self) -> dict[str, Any] | None:
        try:
            check_run_id(self.run_id)  # a malformed id is "not found", never a path
        except JobError:
            return None
        doc = self.store.get(self.run_id)
        # someone else's run answers exactly like a missing one: ids are not secrets, results are
        return doc if doc is not None and self.viewer.can_see(doc) else None

    def refresh(self) -> None:
        """Re-read the document, the log tail and the results."""
        try:
            doc = self._load_doc()
        except StockBotError as e:
            self.message = f"cannot read the run: {e}"
            return
        if doc is None:
            self.param.update(doc=None, message="")
            return
        try:
            artifacts = list_artifacts(self.run_id)
        except JobError:
            artifacts = []  # the folder is written at submit; a missing one just has nothing yet
        self.param.update(
            doc=doc,
            log_tail=tail_log(self.run_id),
            equity=read_equity(self.run_id),
            summary=read_summary(self.run_id),
            trades=read_trades(self.run_id),
            artifacts=artifacts,
            message="",
        )

    @property
    def found(self) -> bool:
        return self.doc is not None

    @property
    def status(self) -> str:
        return str(self.doc["status"]) if self.doc else ""

    @property
    def live(self) -> bool:
        """Queued or running: the page keeps refreshing."""
        return self.found and RunStatus(self.status) not in TERMINAL

    @property
    def progress(self) -> float | None:
        return progress_fraction(self.doc.get("progress")) if self.doc else None

    @property
    def progress_message(self) -> str:
        progress = (self.doc or {}).get("progress") or {}
        step, total = progress.get("step"), progress.get("total")
        counts = f"{step} / {total}" if total else (f"step {step}" if step else "")
        return " · ".join(p for p in (counts, str(progress.get("message") or "")) if p)

    @property
    def can_cancel(self) -> bool:
        return self.live and not (self.doc or {}).get("cancel_requested_at")

    # ------------------------------------------------------------------ results

    def curves(self) -> pd.DataFrame | None:
        """Equity and drawdown of the policy and of buy-and-hold, indexed by timestamp. The
        benchmark's drawdown is computed here (equity.csv has the policy's only)."""
        eq = self.equity
        if eq is None or "equity" not in eq.columns or "timestamp" not in eq.columns:
            return None
        out = pd.DataFrame(index=pd.DatetimeIndex(eq["timestamp"], name="timestamp"))
        try:
            for name, col in ((POLICY, "equity"), (BENCHMARK, "benchmark_equity")):
                if col in eq.columns:
                    out[name] = eq[col].to_numpy(dtype=float)
                    out[f"{name} drawdown"] = drawdown(out[name]).to_numpy()
        except ValueError as e:  # empty, unordered or non-finite equity: nothing sound to chart
            log.warning("run %s: cannot chart equity.csv: %s", self.run_id, e)
            return None
        return out

    def metrics_table(self) -> pd.DataFrame:
        """summary.json's metrics: one row per metric, a column each for policy and buy-and-hold."""
        summary = self.summary or {}
        columns = {POLICY: summary.get("policy"), BENCHMARK: summary.get("benchmark")}
        columns = {k: v for k, v in columns.items() if isinstance(v, dict)}
        if not columns:
            return pd.DataFrame(columns=["metric", POLICY, BENCHMARK])
        keys = [k for k in METRIC_KEYS if any(k in v for v in columns.values())]
        frame = pd.DataFrame({"metric": keys})
        for name, values in columns.items():
            frame[name] = pd.Series([values.get(k) for k in keys], dtype="float64")
        return frame

    # ------------------------------------------------------------------ links and actions

    @staticmethod
    def run_url(run_id: str) -> str:
        return f"{service_prefix()}runs/{run_id}"

    def artifact_url(self, relpath: str) -> str:
        return f"{service_prefix()}api/artifacts/{self.run_id}/{quote(relpath)}"

    @property
    def zip_url(self) -> str:
        return f"{service_prefix()}api/artifacts/{self.run_id}/zip"

    @property
    def notebook_url(self) -> str:
        return f"{service_prefix()}api/runs/{self.run_id}/notebook"

    @property
    def has_notebook(self) -> bool:
        return any(a["path"] == "notebook.ipynb" for a in self.artifacts)

    @property
    def backtest_url(self) -> str | None:
        """A new backtest of this run, for a succeeded train run."""
        if self.doc and self.doc.get("kind") == "train" and self.status == RunStatus.SUCCEEDED.value:
            return f"{service_prefix()}backtest/new?run_id={self.run_id}"
        return None

    def cancel(self) -> str:
        """Ask the executor to stop this run; returns what happened, for the page."""
        if not self.found:
            return NOT_FOUND
        if not self.live:
            return f"the run is already {self.status}"
        try:
            doc = self.store.request_cancel(self.run_id)
        except StockBotError as e:
            return f"cannot cancel: {e}"
        self.refresh()
        status = (doc or {}).get("status", self.status)
        return "cancelled" if status == RunStatus.CANCELLED.value else "cancel requested"
