"""State of ``/backtest/new``: a ``backtest`` job's form. The policy is one of the viewer's
succeeded train runs (admins: anyone's) or a baseline; choosing a run fills in its universe and its
test period (the bars after its ``split.val_end``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

import param
from pymongo.errors import PyMongoError

from dashboards.state.coverage import DEFAULT_DATASET
from dashboards.state.form import NONE_LABEL, FormState, Note, Section, Step
from dashboards.state.schema import FieldKind, FieldSpec
from dashboards.state.training import Layout, build_layout, data_field_active
from dashboards.viewer import Viewer
from stockbot.backtest.periods import TRAIN, VALIDATION, Splits, in_sample_splits
from stockbot.config import BacktestConfig
from stockbot.errors import StockBotError
from stockbot.store.runs import RunStatus, RunStore

DEFAULTS = BacktestConfig()
POLICY_TYPES = ("run", "buy_and_hold", "equal_weight", "cash")
PARENT_LIMIT = 200

LAYOUT: Layout = (
    ("Policy", (("Policy", "policy", ("type", "run_id", "which", "rebalance")),)),
    (
        "Test period",
        (
            ("Data", "data", ("provider", "dataset", "path", "symbols", "start", "end", "interval")),
            ("Account", "", ("initial_cash",)),
        ),
    ),
    ("Costs", (("Costs", "costs", ("commission_bps", "slippage_bps", "per_share", "min_fee", "fill")),)),
)

SET_COSTS = FieldSpec(
    path="costs",
    kind=FieldKind.BOOL,
    default=False,
    label="set costs (otherwise the trained run's, or the defaults for a baseline)",
    local=True,
)


def _date(value: Any) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def holdout_period(parent_config: dict[str, Any]) -> dict[str, Any]:
    """Form values that backtest a trained run on its own test split: its data source and symbols,
    from the day after ``split.val_end`` to its ``data.end``."""
    data = parent_config.get("data") or {}
    val_end = _date((parent_config.get("split") or {}).get("val_end"))
    values: dict[str, Any] = {
        "data.provider": data.get("provider", "sample"),
        "data.dataset": data.get("dataset") or DEFAULT_DATASET,
        "data.path": data.get("path"),
        "data.symbols": list(data["symbols"]) if data.get("symbols") else None,
        "data.interval": data.get("interval", "1d"),
        "data.end": _date(data.get("end")),
    }
    if val_end is not None:
        values["data.start"] = val_end + dt.timedelta(days=1)
    return values


def parent_splits(parent_config: dict[str, Any]) -> Splits | None:
    """A trained run's train and validation periods (None when its config has no split)."""
    split = parent_config.get("split") or {}
    train_end, val_end = _date(split.get("train_end")), _date(split.get("val_end"))
    if train_end is None or val_end is None:
        return None
    return Splits(train_end, val_end, _date((parent_config.get("data") or {}).get("start")))


def in_sample_warning(start: dt.date | None, end: dt.date | None, splits: Splits) -> str:
    """What to tell a person whose backtest period overlaps the policy's own periods ("" if none)."""
    hit = in_sample_splits(start, end, splits)
    if not hit:
        return ""
    first = str(splits.data_start) if splits.data_start else "the first bar"
    periods = {
        TRAIN: f"training period ({first} … {splits.train_end})",
        VALIDATION: f"validation period ({splits.train_end + dt.timedelta(days=1)} … {splits.val_end})",
    }
    which = " and ".join(periods[h] for h in hit)
    return (
        f"in-sample: these dates overlap the policy's {which}, so the results show how well it "
        f"remembers, not how it trades. For an out-of-sample test start after {splits.val_end}."
    )


class BacktestFormState(FormState):
    job_kind = "backtest"
    note_params = ("coverage", "in_sample")

    parents = param.List(default=[], doc="the succeeded train runs this viewer may backtest")
    in_sample = param.String(default="", doc="the warning when the dates overlap the policy's own periods")

    def __init__(
        self, viewer: Viewer, store: RunStore | None = None, run_id: str | None = None, **params: Any
    ) -> None:
        """``run_id``: the train run to backtest (from the page's URL); default: the newest one."""
        self._initial_run = run_id
        super().__init__(viewer, store, **params)

    def build_steps(self) -> tuple[Step, ...]:
        steps = build_layout(BacktestConfig, DEFAULTS, LAYOUT)
        policy, period, costs = steps
        section = policy.sections[0]
        policy = Step(
            policy.title,
            (Section(section.title, section.key, tuple(_policy_field(f) for f in section.fields)),),
        )
        costs_section = costs.sections[0]
        costs = Step(
            costs.title,
            (Section(costs_section.title, costs_section.key, (SET_COSTS, *costs_section.fields)),),
        )
        return policy, period, costs

    def _prepare(self) -> None:
        # the run named in the URL, else the newest trained run, else a baseline
        self.load_parents()
        run_id = self._initial_run or (self.parents[0]["_id"] if self.parents else None)
        if run_id:
            values = {**self.values, "policy.type": "run", "policy.run_id": run_id}
            self.values = self._adjust("policy.run_id", run_id, values)

    # ------------------------------------------------------------------ parents

    def load_parents(self) -> None:
        """List the train runs this viewer may build on (newest first)."""
        try:
            docs, _ = self.store.list(
                owner=self.viewer.parent_owner,
                kind="train",
                status=RunStatus.SUCCEEDED.value,
                limit=PARENT_LIMIT,
            )
        except StockBotError as e:
            self.message = f"cannot list your trained runs: {e}"
            docs = []
        self.parents = docs

    def choices(self, spec: FieldSpec) -> dict[str, Any]:
        if spec.path != "policy.run_id":
            return super().choices(spec)
        out: dict[str, Any] = {NONE_LABEL: None}
        for doc in self.parents:
            out[parent_label(doc, show_owner=self.viewer.admin)] = doc["_id"]
        current = self.values.get("policy.run_id")
        if current is not None and current not in out.values():
            out[current] = current  # from the URL but not listed: validation says why
        return out

    def _adjust(self, path: str, value: Any, values: dict[str, Any]) -> dict[str, Any]:
        if path == "policy.run_id" and value:
            parent = next((d for d in self.parents if d["_id"] == value), None)
            if parent is not None:
                values.update(holdout_period(parent.get("config") or {}))
        return values

    # ------------------------------------------------------------------ in-sample

    def _parent(self, run_id: str) -> dict[str, Any] | None:
        listed = next((d for d in self.parents if d["_id"] == run_id), None)
        if listed is not None:
            return listed
        try:  # named in the URL but not listed (older than the list): still warn
            doc = self.store.get(run_id)
        except (StockBotError, PyMongoError):
            return None
        return doc if doc is not None and self.viewer.can_see(doc) else None

    def _refresh(self) -> None:
        super()._refresh()
        warning = ""
        run_id = self.values.get("policy.run_id")
        start, end = self.values.get("data.start"), self.values.get("data.end")
        dates_ok = all(v is None or isinstance(v, dt.date) for v in (start, end))
        if self.values.get("policy.type") == "run" and run_id and dates_ok:
            parent = self._parent(str(run_id))
            splits = parent_splits(parent.get("config") or {}) if parent else None
            if splits is not None:
                warning = in_sample_warning(start, end, splits)
        if warning != self.in_sample:
            self.in_sample = warning

    def notices(self) -> list[Note]:
        return [Note(self.in_sample, "stockbot-in-sample", "warning")] if self.in_sample else []

    def active(self, spec: FieldSpec) -> bool:
        policy = self.values.get("policy.type")
        if spec.path in ("policy.run_id", "policy.which"):
            return policy == "run"
        if spec.path == "policy.rebalance":
            return policy == "equal_weight"
        if spec.path.startswith("costs."):
            return bool(self.values.get("costs"))
        return data_field_active(spec.path, self.values)


def _policy_field(spec: FieldSpec) -> FieldSpec:
    if spec.path == "policy.type":
        return replace(spec, options=POLICY_TYPES)  # weights_csv has no input here
    if spec.path == "policy.run_id":
        return replace(spec, kind=FieldKind.CHOICE, label="trained run", nullable=True)
    return spec


def parent_label(doc: dict[str, Any], show_owner: bool = False) -> str:
    """How a train run shows in the selector: id, universe, test Sharpe."""
    data = (doc.get("config") or {}).get("data") or {}
    symbols = ",".join(data.get("symbols") or []) or "all symbols"
    sharpe = (doc.get("metrics") or {}).get("sharpe")
    parts = [doc["_id"], symbols]
    if isinstance(sharpe, int | float):
        parts.append(f"Sharpe {sharpe:.2f}")
    if show_owner:
        parts.append(str(doc.get("owner")))
    return " · ".join(parts)
