"""State of ``/runs/{run_id}``: the run document, its progress, timing and log tail while it runs,
its training curves, and its results (equity against buy-and-hold over the labelled train /
validation / test periods, drawdowns, exposure, metrics, per-trade P&L, monthly returns, artifacts)
once written. Tables come with readable column names; numbers are formatted by the view."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, NamedTuple
from urllib.parse import quote

import pandas as pd
import param

from dashboards import format as fmt
from dashboards.state.curves import TrainingCurves, training_curves
from dashboards.state.files import read_equity, read_summary, read_trades, tail_log
from dashboards.state.runs_list import BENCHMARK, POLICY, progress_fraction
from dashboards.viewer import Viewer, service_prefix
from stockbot.backtest.analysis import monthly_returns, trade_pnl
from stockbot.backtest.metrics import METRIC_KEYS, TRADE_COLUMNS, drawdown
from stockbot.backtest.periods import TRAIN, VALIDATION, Splits, in_sample_splits
from stockbot.errors import JobError, StockBotError
from stockbot.jobs import list_artifacts
from stockbot.jobs.kinds import check_run_id
from stockbot.progress import PROGRESS_PREFIX
from stockbot.store.runs import TERMINAL, RunStatus, RunStore

log = logging.getLogger(__name__)

NOT_FOUND = "No such run, or it is not yours."
TEST = "test"
# the trades tab: the fills and what each realised, in this order
TRADE_TABLE_COLUMNS = (*TRADE_COLUMNS, "position_after", "avg_cost", "realized_pnl", "cum_realized_pnl")
# how the view formats each trades-tab column (Tabulator formatters are keyed by these names)
TRADE_FORMATS: dict[str, str] = {
    "qty": "number",
    "price": "money",
    "notional": "money",
    "fee": "money",
    "slippage_cost": "money",
    "position_after": "number",
    "avg_cost": "money",
    "realized_pnl": "money",
    "cum_realized_pnl": "money",
}


class Span(NamedTuple):
    """One of the policy's periods as drawn on the equity chart: ``[start, end)``."""

    label: str  # train | validation | test
    start: pd.Timestamp
    end: pd.Timestamp


class PeriodNote(NamedTuple):
    """What the results' period is, in words; ``in_sample`` names the policy's periods it overlaps."""

    text: str
    in_sample: tuple[str, ...] = ()


def _date(value: Any) -> dt.date | None:
    """A config or summary date (ISO string, date or datetime) as a date; None if absent/invalid."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).date() if value.tzinfo else value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _utc(value: Any) -> dt.datetime | None:
    if not isinstance(value, dt.datetime):
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


def _same(a: Any, b: Any) -> bool:
    """Equal training curves (so an unchanged one does not redraw its charts every refresh)."""
    if not isinstance(a, TrainingCurves) or not isinstance(b, TrainingCurves):
        return a is b
    va, vb = a.validation, b.validation
    same_validation = (va is None and vb is None) or (va is not None and vb is not None and va.equals(vb))
    return same_validation and a.scalars.equals(b.scalars)


class RunDetailState(param.Parameterized):
    """Everything the run page shows; :meth:`refresh` re-reads it (periodically while live)."""

    doc = param.Dict(default=None, allow_None=True, doc="the run document; None when not found")
    log_tail = param.String(default="")
    equity = param.DataFrame(default=None, allow_None=True)
    summary = param.Dict(default=None, allow_None=True)
    trades = param.DataFrame(default=None, allow_None=True)
    artifacts = param.List(default=[], doc='[{"path", "size"}] of the run folder')
    training = param.ClassSelector(
        class_=TrainingCurves, default=None, allow_None=True, doc="eval.csv and tb/ of a train run"
    )
    message = param.String(default="")

    def __init__(self, viewer: Viewer, run_id: str, store: RunStore | None = None, **params: Any) -> None:
        super().__init__(**params)
        self.viewer = viewer
        self.run_id = str(run_id)
        self._store = store
        self._splits: tuple[Splits | None] | None = None  # read once: a trained run's splits never change
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
        # only a run that succeeded has results: what a failed, cancelled or lost run left behind
        # (a job that went on writing after its executor died) stays a file, never a result
        done = doc.get("status") == RunStatus.SUCCEEDED.value
        update: dict[str, Any] = {
            "doc": doc,
            # progress lines are shown as the progress bar, not as JSON in the log
            "log_tail": tail_log(self.run_id, drop=PROGRESS_PREFIX),
            "equity": read_equity(self.run_id) if done else None,
            "summary": read_summary(self.run_id) if done else None,
            "trades": read_trades(self.run_id) if done else None,
            "artifacts": artifacts,
            "message": "",
        }
        if doc.get("kind") == "train":
            curves = training_curves(self.run_id)
            if not _same(curves, self.training):
                update["training"] = curves
        self.param.update(**update)

    @property
    def found(self) -> bool:
        return self.doc is not None

    def no_results_text(self) -> str:
        """Why the results tabs are empty."""
        if self.status in (RunStatus.FAILED.value, RunStatus.CANCELLED.value):
            why = (self.doc or {}).get("error") or {}
            kind = "lost (its executor died)" if why.get("type") == "lost" else self.status
            return (
                f"No results: the run {kind}. Any files it left are listed under Artifacts; "
                "they are not its results."
            )
        return "No results yet: `equity.csv` is written when the backtest ends."

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
        """``step N of TOTAL (P%) · message`` (``step N`` while the total is unknown)."""
        progress = (self.doc or {}).get("progress") or {}
        step, total = progress.get("step"), progress.get("total")
        fraction = self.progress
        if fraction is not None:
            counts = f"step {fmt.count(step)} of {fmt.count(total)} ({fmt.pct(fraction, 0)})"
        else:
            counts = f"step {fmt.count(step)}" if isinstance(step, int | float) and step else ""
        return " · ".join(p for p in (counts, str(progress.get("message") or "")) if p)

    def elapsed(self, now: dt.datetime | None = None) -> float | None:
        """Seconds since the run started (to its end once finished); None before it starts."""
        doc = self.doc or {}
        started = _utc(doc.get("started_at"))
        if started is None:
            return None
        end = _utc(doc.get("finished_at")) if not self.live else None
        end = end or now or dt.datetime.now(dt.UTC)
        return max((end - started).total_seconds(), 0.0)

    def eta(self, now: dt.datetime | None = None) -> float | None:
        """Seconds left at the rate progress has advanced since ``started_at``; None when unknown
        (not running, no total, no step yet)."""
        if not self.live or self.status != RunStatus.RUNNING.value:
            return None
        progress = (self.doc or {}).get("progress") or {}
        step, total, elapsed = progress.get("step"), progress.get("total"), self.elapsed(now)
        if not isinstance(step, int | float) or not isinstance(total, int | float) or not elapsed:
            return None
        if step <= 0 or total <= 0:
            return None
        return max(total - step, 0) * elapsed / step

    def timing_text(self, now: dt.datetime | None = None) -> str:
        """``elapsed 1m 15s · about 3m 45s left`` while running, ``took 5m 02s`` once done."""
        elapsed = self.elapsed(now)
        if elapsed is None:
            return "waiting for the executor" if self.status == RunStatus.QUEUED.value else ""
        if not self.live:
            return f"took {fmt.duration(elapsed)}"
        eta = self.eta(now)
        left = f" · about {fmt.duration(eta)} left" if eta is not None else ""
        return f"elapsed {fmt.duration(elapsed)}{left}"

    @property
    def can_cancel(self) -> bool:
        return self.live and not (self.doc or {}).get("cancel_requested_at")

    # ------------------------------------------------------------------ results

    def curves(self) -> pd.DataFrame | None:
        """Equity and drawdown of the policy and of buy-and-hold, and the policy's gross and net
        exposure, indexed by timestamp. The benchmark's drawdown is computed here (equity.csv has
        the policy's only)."""
        eq = self.equity
        if eq is None or "equity" not in eq.columns or "timestamp" not in eq.columns:
            return None
        out = pd.DataFrame(index=pd.DatetimeIndex(eq["timestamp"], name="timestamp"))
        try:
            for name, col in ((POLICY, "equity"), (BENCHMARK, "benchmark_equity")):
                if col in eq.columns:
                    out[name] = eq[col].to_numpy(dtype=float)
                    out[f"{name} drawdown"] = drawdown(out[name]).to_numpy()
            for col in ("gross_exposure", "net_exposure"):
                if col in eq.columns:
                    out[col.replace("_", " ")] = eq[col].to_numpy(dtype=float)
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

    def metrics_display(self) -> pd.DataFrame:
        """The metrics table as people read it: ``Metric, Policy, Buy & hold`` as formatted text."""
        table = self.metrics_table()
        columns = {fmt.column_label("metric"): [fmt.METRIC_LABELS[k] for k in table["metric"]]}
        for name, label in ((POLICY, "policy"), (BENCHMARK, "benchmark")):
            if name in table.columns:
                values = table[name].astype(object).where(table[name].notna(), None)
                columns[fmt.column_label(label)] = [
                    fmt.format_metric(k, v) for k, v in zip(table["metric"], values, strict=True)
                ]
        return fmt.text_table(columns)

    def trades_table(self) -> pd.DataFrame | None:
        """The fills with the P&L each realised (against the position's average cost, net of fees),
        in fill order, columns :data:`TRADE_TABLE_COLUMNS` (those present); None without trades.csv."""
        trades = self.trades
        if trades is None:
            return None
        try:
            table = trade_pnl(trades)
        except (TypeError, ValueError) as e:  # a foreign or damaged trades.csv: show the fills alone
            log.warning("run %s: no per-trade P&L: %s", self.run_id, e)
            table = trades
        return table[[c for c in TRADE_TABLE_COLUMNS if c in table.columns]].reset_index(drop=True)

    def monthly_table(self) -> pd.DataFrame | None:
        """Returns by year (rows) and month (``Jan..Dec``, ``Year``) from equity.csv; None without it."""
        eq = self.equity
        if eq is None or "equity" not in eq.columns or "timestamp" not in eq.columns or eq.empty:
            return None
        try:
            return monthly_returns(pd.Series(eq["equity"].to_numpy(dtype=float), index=eq["timestamp"]))
        except (TypeError, ValueError) as e:
            log.warning("run %s: no monthly returns: %s", self.run_id, e)
            return None

    # ------------------------------------------------------------------ periods

    def _split_doc(self) -> dict[str, Any] | None:
        """The train run whose split applies: this one, or the trained policy of a backtest (None if
        there is none or it is not the viewer's); LookupError when the store cannot say."""
        doc = self.doc or {}
        if doc.get("kind") == "train":
            return doc
        policy = (doc.get("config") or {}).get("policy") or {}
        parent = doc.get("parent") or (policy.get("run_id") if policy.get("type") == "run" else None)
        if doc.get("kind") != "backtest" or not parent:
            return None
        try:
            check_run_id(str(parent))
            parent_doc = self.store.get(str(parent))
        except (JobError, StockBotError) as e:
            log.warning("run %s: cannot read its policy's run %s: %s", self.run_id, parent, e)
            raise LookupError(parent) from e
        if parent_doc is None or not self.viewer.can_see(parent_doc):
            return None
        return parent_doc if parent_doc.get("kind") == "train" else None

    @property
    def splits(self) -> Splits | None:
        """The policy's train / validation split (this train run's, or a backtest's trained run's)."""
        if self._splits is None and self.doc is not None:
            try:
                source = self._split_doc()
            except LookupError:
                return None  # the store is unreachable: try again at the next refresh
            config = (source or {}).get("config") or {}
            split = config.get("split") or {}
            train_end, val_end = _date(split.get("train_end")), _date(split.get("val_end"))
            found = None
            if train_end is not None and val_end is not None and train_end < val_end:
                data_start = _date((config.get("data") or {}).get("start"))
                found = Splits(train_end=train_end, val_end=val_end, data_start=data_start)
            self._splits = (found,)
        return self._splits[0] if self._splits else None

    @property
    def period(self) -> tuple[dt.date, dt.date] | None:
        """First and last bar of the results: summary.json's period, else equity.csv's dates."""
        summary_period = (self.summary or {}).get("period") or {}
        first, last = _date(summary_period.get("first")), _date(summary_period.get("last"))
        if first is None or last is None:
            eq = self.equity
            if eq is None or "timestamp" not in eq.columns or eq.empty:
                return None
            first, last = _date(eq["timestamp"].iloc[0]), _date(eq["timestamp"].iloc[-1])
        return (first, last) if first is not None and last is not None else None

    @property
    def in_sample(self) -> tuple[str, ...]:
        """The policy's periods (``train``, ``validation``) that the results' period overlaps."""
        splits, period = self.splits, self.period
        if splits is None or period is None:
            return ()
        return in_sample_splits(period[0], period[1], splits)

    def period_note(self) -> PeriodNote | None:
        """What period the results cover and whether it is out of sample; None without results."""
        period, splits = self.period, self.splits
        if period is None:
            return None
        dates = f"{period[0].isoformat()} to {period[1].isoformat()}"
        if splits is None:
            return PeriodNote(f"Backtest period: {dates}.")
        trained = (
            f"the policy was trained on data to {splits.train_end.isoformat()} and selected on "
            f"validation data to {splits.val_end.isoformat()}"
        )
        hit = self.in_sample
        if hit:
            names = " and ".join("training" if h == TRAIN else "validation" for h in hit)
            return PeriodNote(
                f"In-sample: this period ({dates}) overlaps the policy's {names} data; {trained}. "
                "These results show how well the policy remembers its data, not how it trades.",
                hit,
            )
        what = "Test period" if (self.doc or {}).get("kind") == "train" else "Backtest period"
        return PeriodNote(f"{what}: {dates}, out of sample ({trained}).")

    def split_spans(self) -> list[Span]:
        """The train / validation / test periods within the equity chart's dates (``[start, end)``;
        a split's end date is inclusive, so its span ends at midnight after it)."""
        splits, eq = self.splits, self.equity
        if splits is None or eq is None or "timestamp" not in eq.columns or eq.empty:
            return []
        first, last = pd.Timestamp(eq["timestamp"].iloc[0]), pd.Timestamp(eq["timestamp"].iloc[-1])
        tz = first.tz

        def midnight_after(day: dt.date) -> pd.Timestamp:
            return pd.Timestamp(day + dt.timedelta(days=1)).tz_localize(tz)

        train_start = pd.Timestamp(splits.data_start).tz_localize(tz) if splits.data_start else first
        bounds = [
            (TRAIN, train_start, midnight_after(splits.train_end)),
            (VALIDATION, midnight_after(splits.train_end), midnight_after(splits.val_end)),
            (TEST, midnight_after(splits.val_end), last),
        ]
        spans = []
        for label, lo, hi in bounds:
            start, end = max(lo, first), min(hi, last)
            if start < end:
                spans.append(Span(label, start, end))
        return spans

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
