"""State of ``/dashboard``: the viewer's runs (admins: everyone's), filters, search and sort (done by
the store), a metric threshold on the listed page, editing a run's name, tags and note, archive and
delete (with a confirmation first), and the side-by-side comparison of selected runs."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import pandas as pd
import param

from dashboards.format import COLUMN_LABELS, METRIC_LABELS, format_metric, text_table, timestamp
from dashboards.state.compare import BENCHMARK, POLICY, compare_curves, config_differences, unique_labels
from dashboards.state.files import read_summary
from dashboards.viewer import Viewer, service_prefix
from stockbot.backtest.metrics import METRIC_KEYS
from stockbot.errors import ConfigError, StockBotError
from stockbot.jobs import KINDS
from stockbot.jobs.artifacts import delete_run_folder
from stockbot.store.runs import RunConflictError, RunStatus, RunStore

__all__ = ["BENCHMARK", "POLICY", "RunsListState", "progress_fraction"]

ANY = ""  # the "no filter" choice of the kind and status selectors
KIND_CHOICES = [ANY, *KINDS]
STATUS_CHOICES = [ANY, *(s.value for s in RunStatus)]
THRESHOLD_OPS: dict[str, Callable[[float, float], bool]] = {">": operator.gt, "<": operator.lt}
# the archived filter: what each choice asks the store for
ARCHIVED_CHOICES: dict[str, bool | None] = {"active": False, "archived": True, "all": None}
# what the list can be sorted by (the store sorts): label -> field
SORT_CHOICES: dict[str, str] = {
    "Created": "created_at",
    "Name": "name",
    "Kind": "kind",
    "Status": "status",
    "Owner": "owner",
    "Finished": "finished_at",
    **{METRIC_LABELS.get(k, k): f"metrics.{k}" for k in METRIC_KEYS},
}
# the metrics shown as columns of the run list (all METRIC_KEYS go into the comparison)
LIST_METRICS = ("sharpe", "total_return", "cagr", "max_drawdown")
ROW_COLUMNS = (
    "run",
    "name",
    "tags",
    "kind",
    "owner",
    "status",
    "created_at",
    "progress",
    "message",
    "archived",
    *LIST_METRICS,
)
# the table people see: readable names, formatted numbers (admins also see the owner)
TABLE_COLUMNS = ("name", "tags", "kind", "owner", "status", "progress", "created_at", *LIST_METRICS, "run")


def progress_fraction(progress: dict[str, Any] | None) -> float | None:
    """``step / total`` in [0, 1], or None when the total is unknown."""
    progress = progress or {}
    step, total = progress.get("step"), progress.get("total")
    if not isinstance(step, int | float) or not isinstance(total, int | float) or total <= 0:
        return None
    return min(max(step / total, 0.0), 1.0)


def parse_tags(text: str) -> list[str]:
    """Tags as typed in one box: comma-separated, blanks dropped."""
    return [t.strip() for t in text.split(",") if t.strip()]


class RunsListState(param.Parameterized):
    """One page of runs as the store lists them for this viewer, and what the viewer does to them."""

    owner = param.String(default="", doc="admins only: show this user's runs ('' = everyone's)")
    kind = param.Selector(objects=KIND_CHOICES, default=ANY)
    status = param.Selector(objects=STATUS_CHOICES, default=ANY)
    search = param.String(default="", doc="a name containing this text, or a tag equal to it")
    sort = param.Selector(objects=list(SORT_CHOICES.values()), default="created_at")
    descending = param.Boolean(default=True)
    archived = param.Selector(objects=list(ARCHIVED_CHOICES), default="active")
    metric = param.Selector(objects=list(METRIC_KEYS), default="sharpe")
    op = param.Selector(objects=list(THRESHOLD_OPS), default=">")
    threshold = param.Number(default=None, allow_None=True, doc="None: no threshold")
    page = param.Integer(default=0, bounds=(0, None))
    page_size = param.Integer(default=25, bounds=(1, 200))
    docs = param.List(default=[], doc="the current page of run documents")
    total = param.Integer(default=0, doc="runs matching the filters, on every page")
    selected = param.List(default=[], doc="ids of the ticked runs (compare, archive, delete)")
    confirm_delete = param.List(default=[], doc="ids waiting for the viewer to confirm their deletion")
    editing = param.String(default="", doc="the id of the run whose labels are being edited")
    edit_name = param.String(default="")
    edit_tags = param.String(default="", doc="comma-separated")
    edit_note = param.String(default="")
    edit_error = param.String(default="")
    message = param.String(default="", doc="what the last action did (or why it did not)")
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
            "search": self.search.strip() or None,
            "sort": self.sort,
            "descending": self.descending,
            "archived": ARCHIVED_CHOICES[self.archived],
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

    @param.depends(
        "owner", "kind", "status", "search", "sort", "descending", "archived", "page_size", watch=True
    )
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
        """The listed page (threshold applied) as data, one row per run: raw values, for logic."""
        records = []
        for doc in self.visible_docs():
            metrics = doc.get("metrics") or {}
            progress = doc.get("progress") or {}
            records.append(
                {
                    "run": doc["_id"],
                    "name": doc.get("name") or doc["_id"],
                    "tags": ", ".join(doc.get("tags") or []),
                    "kind": doc.get("kind"),
                    "owner": doc.get("owner"),
                    "status": doc.get("status"),
                    "created_at": doc.get("created_at"),
                    "progress": progress_fraction(progress),
                    "message": progress.get("message") or "",
                    "archived": doc.get("archived_at") is not None,
                    **{m: metrics.get(m) for m in LIST_METRICS},
                }
            )
        frame = pd.DataFrame.from_records(records, columns=list(ROW_COLUMNS))
        for m in LIST_METRICS:
            frame[m] = frame[m].astype("float64")
        frame["progress"] = frame["progress"].astype("float64")
        return frame

    def table_columns(self) -> list[str]:
        return [c for c in TABLE_COLUMNS if c != "owner" or self.viewer.admin]

    def table(self) -> pd.DataFrame:
        """The listed page as people read it: readable column names (``dashboards.format``),
        metrics formatted (percentages, ratios), times as ``YYYY-MM-DD HH:MM UTC``; the progress
        stays a fraction for the progress bar. Same rows and order as :meth:`rows`."""
        rows = self.rows()
        shown = pd.DataFrame(index=rows.index)
        for col in self.table_columns():
            if col == "progress":
                shown[col] = rows[col]
                continue
            if col in LIST_METRICS:
                values = [format_metric(col, None if pd.isna(v) else float(v)) for v in rows[col]]
            elif col == "created_at":
                values = [timestamp(v) for v in rows[col]]
            elif col == "status":
                values = [
                    f"{s} (archived)" if a else s
                    for s, a in zip(rows["status"], rows["archived"], strict=True)
                ]
            else:
                values = list(rows[col])
            # text even when the page is empty: the table picks each column's formatter from the
            # first frame it gets, and a number formatter shows later text as NaN
            shown[col] = pd.Series(values, index=rows.index, dtype="object")
        return shown.rename(columns=COLUMN_LABELS)

    @staticmethod
    def run_url(run_id: str) -> str:
        return f"{service_prefix()}runs/{run_id}"

    # ------------------------------------------------------------------ selection and actions

    def select(self, run_ids: list[str]) -> None:
        """Tick runs; only runs this viewer was listed are accepted."""
        self.selected = [r for r in dict.fromkeys(run_ids) if r in self._seen]

    def _mine(self, run_id: str) -> dict[str, Any] | None:
        """The run, read again, if this viewer may change it (the owner, or an admin)."""
        doc = self.store.get(run_id)
        return doc if doc is not None and self.viewer.can_see(doc) else None

    def _forget(self, run_ids: list[str]) -> None:
        gone = set(run_ids)
        for r in gone:
            self._seen.pop(r, None)
        self.selected = [r for r in self.selected if r not in gone]

    def set_archived(self, archived: bool = True) -> None:
        """Archive (or bring back) every ticked run; says what happened in ``message``."""
        done, refused = [], []
        for run_id in list(self.selected):
            doc = self._mine(run_id)
            if doc is None:
                refused.append(f"{run_id}: no such run")
                continue
            try:
                self.store.archive(run_id, archived)
                done.append(run_id)
            except StockBotError as e:
                refused.append(str(e))
        verb = "Archived" if archived else "Restored"
        self.message = " ".join([f"{verb} {len(done)} run(s).", *refused])
        if ARCHIVED_CHOICES[self.archived] is not None:  # they left this list
            self._forget(done)
        self.refresh()

    def request_delete(self) -> None:
        """Ask before deleting: the ticked runs wait in ``confirm_delete`` for :meth:`delete_confirmed`."""
        self.confirm_delete = list(self.selected)
        self.message = ""

    def cancel_delete(self) -> None:
        self.confirm_delete = []

    def delete_confirmed(self) -> None:
        """Delete the runs waiting for confirmation, with their folders; a run that is active or
        that others depend on stays, and ``message`` says why."""
        done, refused = [], []
        for run_id in self.confirm_delete:
            doc = self._mine(run_id)
            if doc is None:
                refused.append(f"{run_id}: no such run")
                continue
            try:
                if self.store.delete(run_id, remove_files=delete_run_folder):
                    done.append(run_id)
            except RunConflictError as e:
                shown = [d["id"] for d in e.dependents if self.viewer.can_see(d)]
                refused.append(f"{e}" + (f" ({', '.join(shown)})" if shown else ""))
            except StockBotError as e:
                refused.append(f"{run_id}: {e}")
        self._forget(done)
        self.confirm_delete = []
        self.message = " ".join([f"Deleted {len(done)} run(s) and their files.", *refused])
        self.refresh()

    def start_edit(self, run_id: str | None = None) -> None:
        """Edit one run's name, tags and note (the ticked run when it is the only one)."""
        run_id = run_id or (self.selected[0] if len(self.selected) == 1 else "")
        doc = self._mine(run_id) if run_id else None
        if doc is None:
            self.message = "Tick one run to edit its name, tags and note."
            return
        self.param.update(
            editing=run_id,
            edit_name=str(doc.get("name") or ""),
            edit_tags=", ".join(doc.get("tags") or []),
            edit_note=str(doc.get("note") or ""),
            edit_error="",
        )

    def cancel_edit(self) -> None:
        self.param.update(editing="", edit_error="")

    def save_edit(self) -> bool:
        """Store the edited labels; a bad value stays in the dialog with ``edit_error`` naming it."""
        if not self.editing or self._mine(self.editing) is None:
            self.param.update(editing="", edit_error="")
            return False
        changes = {"name": self.edit_name, "tags": parse_tags(self.edit_tags), "note": self.edit_note}
        try:
            self.store.edit(self.editing, changes)
        except ConfigError as e:
            self.edit_error = "; ".join(f"{p.get('field') or 'labels'}: {p.get('message')}" for p in e.errors)
            return False
        except StockBotError as e:
            self.edit_error = str(e)
            return False
        self.param.update(editing="", edit_error="", message="Saved.")
        self.refresh()
        return True

    # ------------------------------------------------------------------ comparison

    def _selected_docs(self) -> list[dict[str, Any]]:
        return [self._seen[r] for r in self.selected if r in self._seen]

    def compare_labels(self) -> dict[str, str]:
        return unique_labels({str(d["_id"]): str(d.get("name") or d["_id"]) for d in self._selected_docs()})

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

    def compare_table(self) -> pd.DataFrame:
        """:meth:`compare_metrics` as people read it: run names, formatted numbers, readable names."""
        raw = self.compare_metrics()
        labels = self.compare_labels()
        columns: dict[str, list[str]] = {
            "run": [labels.get(r, r) for r in raw["run"]],
            "series": list(raw["series"]),
            **{k: [format_metric(k, None if pd.isna(v) else float(v)) for v in raw[k]] for k in METRIC_KEYS},
        }
        return text_table(columns).rename(columns=COLUMN_LABELS)

    def compare_config(self) -> pd.DataFrame:
        """The config keys whose values differ between the selected runs (dotted keys; one column
        per run, named as in the legend); the kind too when the runs are of different kinds."""
        docs = self._selected_docs()
        configs = {str(d["_id"]): {"kind": d.get("kind"), **(d.get("config") or {})} for d in docs}
        return config_differences(configs, self.compare_labels())

    def compare_equity(self) -> pd.DataFrame:
        """Long table (timestamp, equity, run, series, label) of each selected run's equity and one
        buy-and-hold curve per distinct universe and period, for one overlaid chart."""
        return compare_curves(self._selected_docs())
