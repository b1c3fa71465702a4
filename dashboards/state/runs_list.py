"""State of ``/dashboard``: the viewer's runs (admins: everyone's), filters, a metric threshold and
the side-by-side comparison of selected runs."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import pandas as pd
import param

from dashboards.state.files import read_equity, read_summary
from dashboards.viewer import Viewer, service_prefix
from stockbot.backtest.metrics import METRIC_KEYS
from stockbot.errors import StockBotError
from stockbot.jobs import KINDS
from stockbot.store.runs import RunStatus, RunStore

ANY = ""  # the "no filter" choice of the kind and status selectors
KIND_CHOICES = [ANY, *KINDS]
STATUS_CHOICES = [ANY, *(s.value for s in RunStatus)]
THRESHOLD_OPS: dict[str, Callable[[float, float], bool]] = {">": operator.gt, "<": operator.lt}
# the metrics shown as columns of the run list (all METRIC_KEYS go into the comparison)
LIST_METRICS = ("sharpe", "total_return", "cagr", "max_drawdown")
ROW_COLUMNS = ("run", "kind", "owner", "status", "created_at", "progress", "message", *LIST_METRICS)
POLICY, BENCHMARK = "policy", "buy & hold"


def progress_fraction(progress: dict[str, Any] | None) -> float | None:
    """``step / total`` in [0, 1], or None when the total is unknown."""
    progress = progress or {}
    step, total = progress.get("step"), progress.get("total")
    if not isinstance(step, int | float) or not isinstance(total, int | float) or total <= 0:
        return None
    return min(max(step / total, 0.0), 1.0)


class RunsListState(param.Parameterized):
    """One page of runs, newest first, as the store lists them for this viewer."""

    owner = param.String(default="", doc="admins only: show this user's runs ('' = everyone's)")
    kind = param.Selector(objects=KIND_CHOICES, default=ANY)
    status = param.Selector(objects=STATUS_CHOICES, default=ANY)
    metric = param.Selector(objects=list(METRIC_KEYS), default="sharpe")
    op = param.Selector(objects=list(THRESHOLD_OPS), default=">")
    threshold = param.Number(default=None, allow_None=True, doc="None: no threshold")
    page = param.Integer(default=0, bounds=(0, None))
    page_size = param.Integer(default=25, bounds=(1, 200))
    docs = param.List(default=[], doc="the current page of run documents")
    total = param.Integer(default=0, doc="runs matching the filters, on every page")
    selected = param.List(default=[], doc="ids of the runs to compare")
    error = param.String(default="")

    def __init__(self, viewer: Viewer, store: RunStore | None = None, **params: Any) -> None:
        super().__init__(**params)
        self.viewer = viewer
        self._store = store
        self._seen: dict[str, dict[str, Any]] = {}  # every run this viewer was shown, by id

    @property
    def store(self) -> RunStore:
        if self._store is None:
            self._store = RunStore()
        return self._store

    # ------------------------------------------------------------------ listing

    def query(self) -> dict[str, Any]:
        """The store query; a non-admin's owner is always themself, whatever ``owner`` says."""
        owner = (self.owner.strip() or None) if self.viewer.admin else self.viewer.name
        return {
            "owner": owner,
            "kind": self.kind or None,
            "status": self.status or None,
            "limit": self.page_size,
            "skip": self.page * self.page_size,
        }

    def refresh(self) -> None:
        """Re-read the current page (the periodic callback calls this)."""
        try:
            docs, total = self.store.list(**self.query())
        except StockBotError as e:
            self.error = f"cannot list runs: {e}"
            return
        self._seen.update({d["_id"]: d for d in docs})
        self.param.update(docs=docs, total=total, error="")

    @param.depends("owner", "kind", "status", "page_size", watch=True)
    def _filters_changed(self) -> None:
        if self.page:
            self.page = 0  # its watcher refreshes
        else:
            self.refresh()

    @param.depends("page", watch=True)
    def _page_changed(self) -> None:
        self.refresh()

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))

    def passes(self, doc: dict[str, Any]) -> bool:
        """Whether a run meets the metric threshold; a run without that metric does not."""
        if self.threshold is None:
            return True
        value = (doc.get("metrics") or {}).get(self.metric)
        if not isinstance(value, int | float):
            return False
        return THRESHOLD_OPS[self.op](float(value), float(self.threshold))

    def visible_docs(self) -> list[dict[str, Any]]:
        """The listed page after the metric threshold."""
        return [d for d in self.docs if self.passes(d)]

    def rows(self) -> pd.DataFrame:
        """The table of the listed page (threshold applied), one row per run."""
        records = []
        for doc in self.visible_docs():
            metrics = doc.get("metrics") or {}
            progress = doc.get("progress") or {}
            records.append(
                {
                    "run": doc["_id"],
                    "kind": doc.get("kind"),
                    "owner": doc.get("owner"),
                    "status": doc.get("status"),
                    "created_at": doc.get("created_at"),
                    "progress": progress_fraction(progress),
                    "message": progress.get("message") or "",
                    **{m: metrics.get(m) for m in LIST_METRICS},
                }
            )
        frame = pd.DataFrame.from_records(records, columns=list(ROW_COLUMNS))
        for m in LIST_METRICS:
            frame[m] = frame[m].astype("float64")
        frame["progress"] = frame["progress"].astype("float64")
        return frame

    @staticmethod
    def run_url(run_id: str) -> str:
        return f"{service_prefix()}runs/{run_id}"

    # ------------------------------------------------------------------ comparison

    def select(self, run_ids: list[str]) -> None:
        """Choose the runs to compare; only runs this viewer was listed are accepted."""
        self.selected = [r for r in dict.fromkeys(run_ids) if r in self._seen]

    def compare_metrics(self) -> pd.DataFrame:
        """Policy and buy-and-hold metrics of each selected run (summary.json; the run document's
        metrics when there is no summary yet), one row per (run, series)."""
        records = []
        for run_id in self.selected:
            summary = read_summary(run_id) or {}
            policy = summary.get("policy") or self._seen[run_id].get("metrics")
            for series, metrics in ((POLICY, policy), (BENCHMARK, summary.get("benchmark"))):
                if isinstance(metrics, dict):
                    records.append(
                        {"run": run_id, "series": series, **{k: metrics.get(k) for k in METRIC_KEYS}}
                    )
        frame = pd.DataFrame.from_records(records, columns=["run", "series", *METRIC_KEYS])
        for k in METRIC_KEYS:
            frame[k] = frame[k].astype("float64")
        return frame

    def compare_equity(self) -> pd.DataFrame:
        """Long table (timestamp, equity, run, series) of each selected run's equity and its
        buy-and-hold benchmark, for one overlaid chart."""
        parts = []
        for run_id in self.selected:
            eq = read_equity(run_id)
            if eq is None or "equity" not in eq.columns:
                continue
            columns = [(POLICY, "equity")]
            if "benchmark_equity" in eq.columns:
                columns.append((BENCHMARK, "benchmark_equity"))
            for series, col in columns:
                parts.append(
                    pd.DataFrame(
                        {
                            "timestamp": eq["timestamp"],
                            "equity": eq[col].astype("float64"),
                            "run": run_id,
                            "series": series,
                            "label": f"{run_id} · {series}",
                        }
                    )
                )
        if not parts:
            return pd.DataFrame(columns=["timestamp", "equity", "run", "series", "label"])
        return pd.concat(parts, ignore_index=True)
