"""The live loop of one session (``stockbot live run SESSION``): DESIGN.md §6.

On each closed bar, in this order:

1. the broker sees the bar (the paper broker fills the orders sent for it; real brokers fill on
   their own) and the session takes the fills it has not applied yet (from its saved cursor), then
   the shadow backtest fills the same decisions at the same bar;
2. orders whose fill bar has passed end (filled, expired, cancelled), journal intents never sent
   expire; the session reconciles with the broker: positions it cannot explain stop the trading
   (``reconcile_required``) until a person resolves it;
3. the portfolio is marked at the close and the risk state takes the mark;
4. control requests (stop, kill, pause, resume, reconcile) are honoured;
5. the signal: the frozen pipeline recomputed over the bars from the session's fixed warm-up start
   (never a trailing window: EMA-type features depend on where the data begins), the observation,
   the policy's action (garbage outputs hold), the price sanity check;
6. plan, orders, each journaled in the store before it is sent, then submitted (an unknown outcome
   is resolved by a lookup, never by sending again);
7. the commit: the whole state (cursor, portfolio, risk, pending orders, the broker's fill cursor,
   the LSTM state, the shadow and the benchmark) in one write of the session document.

A loop killed at any point restarts from the last commit and redoes the bar: the broker answers a
client order id it already has with that order, the fills after the saved cursor are applied once,
and the folder's files are cut back to the committed bar first. So it never sends an order twice,
never loses a fill, and ends where an uninterrupted run ends.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from stockbot.backtest.engine import trade_row
from stockbot.backtest.runner import _resolved, check_universe
from stockbot.backtest.trained import PolicySignal, TrainedRun, load_trained
from stockbot.brokers.base import (
    AmbiguousOrderError,
    AuthExpiredError,
    Broker,
    BrokerFill,
    BrokerOrder,
    Outcome,
    SubmitResult,
    TemporaryError,
)
from stockbot.brokers.paper import PaperBroker
from stockbot.config import LiveConfig, validate_config
from stockbot.data import load_bars
from stockbot.envs.actions import ActionMap
from stockbot.envs.market import MarketData
from stockbot.envs.observation import ObservationBuilder
from stockbot.errors import BrokerError, ConfigError, DataError, ProviderError, StockBotError
from stockbot.execution import CostModel, Fill, Mark, Order, OrderPath, RiskLimits
from stockbot.execution.records import fill_to_doc, order_from_doc, order_to_doc
from stockbot.execution.venue import Bar, PaperVenue
from stockbot.live.folder import SessionFolder, session_dir
from stockbot.live.journal import Journal
from stockbot.live.market_clock import MarketClock, check_feed, first_decision
from stockbot.live.store import LiveStore, now
from stockbot.live.units import RawUnits
from stockbot.live.windows import send_window
from stockbot.paths import stockbot_home

if TYPE_CHECKING:
    from stockbot.brokers.accounts import Connection

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 2.0
RETRY_SECONDS = 30.0  # a broker that cannot answer: the loop waits this long, then redoes its bar
TEMPFAIL = 75  # the loop's exit code then (EX_TEMPFAIL): its supervisor starts it again (control.py)
ALPACA_CASH_BUFFER = 0.04  # the most Alpaca prices a market buy above the market when checking it
REQUEST_POLL_SECONDS = 0.2


@dataclass
class Resolved:
    """A session's settings with the trained run's defaults filled in."""

    run: TrainedRun
    config: LiveConfig
    costs: Any
    risk: Any
    execution: Any
    initial_cash: float
    data: Any
    notes: list[str]  # what the session changed of the run's settings for its broker, and why


def resolve(config: LiveConfig, which_root: Path | None = None) -> Resolved:
    """The trained run and the settings a session of ``config`` uses."""
    ref = config.policy
    path = ref.path if ref.path is not None else (which_root or stockbot_home() / "runs") / str(ref.run_id)
    if not Path(path).is_dir():
        raise ConfigError(f"policy: trained run folder not found: {path}")
    run = load_trained(path, config.which)
    cfg = run.config
    costs, risk, cash, execution = _resolved(
        run, config.costs, config.risk, config.initial_cash, config.execution
    )
    notes = []
    if config.broker == "schwab" and execution.fractional_shares:
        # Schwab takes whole shares only: the shadow is sized the same way, so parity holds
        execution = execution.model_copy(update={"fractional_shares": False})
        notes.append("sized in whole shares: Schwab takes no fractions")
    if config.broker == "alpaca" and execution.cash_buffer < ALPACA_CASH_BUFFER:
        execution = execution.model_copy(update={"cash_buffer": ALPACA_CASH_BUFFER})
        notes.append(
            f"{ALPACA_CASH_BUFFER:.0%} of equity kept in cash: Alpaca checks a market buy's buying "
            "power as if priced up to 4% above the market"
        )
    if costs.fill == "close":
        raise ConfigError(
            f"the trained run {Path(path).name} uses costs.fill 'close', which no broker can fill; "
            "set costs.fill: next_open in the live config"
        )
    data = config.data or cfg.data
    if data.symbols is None and cfg.data.symbols is not None:
        data = data.model_copy(update={"symbols": cfg.data.symbols})
    clock = config.clock
    if clock.kind == "replay":
        start = clock.start or data.start
        end = clock.end or data.end
        if start is None:
            raise ConfigError.at("clock.start", "a replay needs a first decision day (or data.start)")
        if end is not None and end <= start:
            raise ConfigError.at(
                "clock.start", f"the replay starts {start}, but its data end {end}: nothing to replay"
            )
        data = data.model_copy(update={"start": start, "end": end})
    else:
        check_feed(data)
    trained = cfg.data.provider
    if data.provider != trained:
        notes.append(f"decisions read {data.provider} bars; the policy was trained on {trained} bars")
    return Resolved(run, config, costs, risk, execution, cash, data, notes)


@dataclass
class Timeline:
    """The bars a session trades: which exist, and which are its first and last decisions (a
    market session has no last one)."""

    bars: pd.DataFrame
    times: pd.DatetimeIndex
    symbols: list[str]
    first: int
    end: int | None


def timeline(r: Resolved, bars: pd.DataFrame | None = None, *, now: pd.Timestamp | None = None) -> Timeline:
    """The session's bars (loaded unless given: a replay's period, or the feed's bars so far)
    checked against the trained run. Only timestamps are read from this full transform: every
    observation is recomputed from the bars up to its bar."""
    run = r.run
    market_clock = r.config.clock.kind == "market"
    if bars is None:
        if market_clock:
            clock = MarketClock(r.config.clock, r.data, run.config.warmup_bars())
            bars = clock.bars(now if now is not None else pd.Timestamp.now(tz="UTC"))
        else:
            bars = load_bars(r.data, warmup_bars=run.config.warmup_bars())
    full = MarketData.from_frames(bars, run.pipeline.transform(bars))
    check_universe(run, full)
    window = ObservationBuilder(full, run.config.env).first
    first = max(full.first_index_on_or_after(r.data.start), window)
    if market_clock:
        return Timeline(bars, full.timestamps, list(full.symbols), first, None)
    end = full.n_bars - 1
    if first >= end:
        raise DataError(f"nothing to replay: no bars after {r.data.start}")
    return Timeline(bars, full.timestamps, list(full.symbols), first, end)


def preflight(config: LiveConfig, now: pd.Timestamp | None = None) -> LiveConfig:
    """What a session of ``config`` needs before it is recorded: the trained run, settings a broker
    can fill, and bars (a :class:`ConfigError` or :class:`DataError` otherwise). Returns the config
    to record: a market session's first decision day fixed in ``data.start``."""
    r = resolve(config)
    if config.clock.kind == "market":
        now = now if now is not None else pd.Timestamp.now(tz="UTC")
        r.data = r.data.model_copy(update={"start": first_decision(config, now), "end": None, "cache": False})
        r.config = config = config.model_copy(update={"data": r.data})
    timeline(r, now=now)
    return config


class LiveSession:
    def __init__(
        self,
        store: LiveStore,
        session_id: str,
        *,
        bars: pd.DataFrame | None = None,
        now: Callable[[], pd.Timestamp] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        doc = store.get(session_id)
        if doc is None:
            raise ConfigError(f"no live session {session_id}")
        self.store = store
        self.id = session_id
        self.doc = doc
        self.now = now or (lambda: pd.Timestamp.now(tz="UTC"))
        self.sleep = sleep
        self.config = validate_config(LiveConfig, doc["config"])
        self.r = resolve(self.config)
        run = self.r.run
        self.folder = SessionFolder(session_dir(session_id))
        self.journal = Journal(store, session_id)
        self.clock: MarketClock | None = None
        if self.config.clock.kind == "market":
            self.clock = MarketClock(self.config.clock, self.r.data, run.config.warmup_bars())
        line = self._timeline(bars)
        self.bars, self.times, self.symbols = line.bars, line.times, line.symbols
        self.first, self.end = line.first, line.end
        self._stale: dt.date | None = None  # the session last reported stale
        self._next_poll: pd.Timestamp | None = None  # market clock: when to ask the feed again
        self._next_doubt: pd.Timestamp | None = None  # market clock: when to look up doubtful orders
        self._attempt: set[str] = set()  # a dead process's orders for a bar it had not committed
        self.bench_invested = False
        self._stamps = self.bars.index.get_level_values("timestamp")
        limits = RiskLimits.from_config(self.r.risk, allow_short=run.config.env.short)
        self.limits = limits
        self.path = self._path(limits)
        self.shadow = self._path(limits)
        bench_limits = RiskLimits(self.r.risk.max_gross_leverage, max(self.r.risk.max_position_weight, 1.0))
        self.bench = self._path(bench_limits)
        # what a real broker's fill is measured against when the shadow did not send that order
        self.model = PaperVenue(CostModel.from_config(self.r.costs), fill_at_close=False)
        self.connection: Connection | None = None
        self.unusable: Exception | None = None  # the account cannot be reached: run() says why
        try:
            self.broker: Broker = self._open_broker(limits)
        except (BrokerError, StockBotError) as e:
            self.unusable = e
            self.broker = None  # type: ignore[assignment]
        self.applied: set[str] = set()  # a real broker's fills applied (its cursor may shift)
        self.cum_applied: dict[str, float] = {}  # order -> its cumulative raw shares applied
        self.actions = ActionMap(run.config.env.action, len(self.symbols), run.config.env.short)
        self.signal = PolicySignal(run.model, self.actions, run.recurrent)
        self.k = -1  # the last committed bar
        self.fill_cursor = 0
        self.reconcile_required: str | None = None
        self.stopping = False
        self.csv_peak = self.r.initial_cash
        self.last_decision: dict[str, Any] | None = None
        self._events: list[dict[str, Any]] = []
        self._done: list[str] = []
        self._market: tuple[int, MarketData] | None = None
        self._mark: Mark | None = None  # the last mark (equity.csv's row of the bar)
        self.status = "running"

    def _timeline(self, bars: pd.DataFrame | None) -> Timeline:
        """The session's bars; a market session's feed may be down for a while when the loop
        (re)starts: it is asked again every ``poll_seconds`` for up to ``stale_after_minutes``."""
        if self.clock is None:
            return timeline(self.r, bars)
        clock = self.config.clock
        give_up = self.now() + pd.Timedelta(minutes=clock.stale_after_minutes)
        while True:
            try:
                return timeline(self.r, bars if bars is not None else self.clock.bars(self.now()))
            except ProviderError as e:
                if self.now() >= give_up:
                    raise
                log.warning("%s: the feed failed (%s); asking again in %g s", self.id, e, clock.poll_seconds)
                self.sleep(clock.poll_seconds)

    def _open_broker(self, limits: RiskLimits) -> Broker:
        """The paper broker, or the owner's connected account (its credentials from the store)."""
        if self.config.broker == "paper":
            return PaperBroker(
                self.store.db,
                self.id,
                self.symbols,
                costs=self.r.costs,
                initial_cash=self.r.initial_cash,
                max_gross_leverage=limits.max_gross_leverage,
                fractional=self.r.execution.fractional_shares,
            )
        from stockbot.brokers.accounts import StoredIds, connect  # the broker SDKs load only here
        from stockbot.store.tokens import TokenStore, crypt_key

        created = self.doc["created_at"]
        self.connection = connect(
            TokenStore(self.store.db, crypt_key()),
            self.doc["owner"],
            self.config.broker,
            paper=not self.config.real_money,
            ids=StoredIds(self.store.db["broker_order_ids"], self.id),
            since=created if created.tzinfo else created.replace(tzinfo=dt.UTC),
            opening_auction=self.clock is not None,
            streaming=True,
        )
        # the broker holds raw shares at raw prices; the session counts in the adjusted series
        return RawUnits(self.connection.broker, self.symbols, whole=not self.r.execution.fractional_shares)

    def _path(self, limits: RiskLimits) -> OrderPath:
        return order_path_for(self.symbols, self.r, limits, self.id)

    # ------------------------------------------------------------------ state

    def snapshot(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "time": self.times[self.k].isoformat() if self.k >= 0 else None,
            "first": self.first,
            "path": self.path.snapshot(),
            "shadow": self.shadow.snapshot(),
            "bench": self.bench.snapshot(),
            "fill_cursor": self.fill_cursor,
            "applied": sorted(self.applied),
            "cum_applied": self.cum_applied,
            "raw_held": self.broker.snapshot() if isinstance(self.broker, RawUnits) else None,
            "signal": self.signal.snapshot(),
            "reconcile_required": self.reconcile_required,
            "stopping": self.stopping,
            "csv_peak": self.csv_peak,
            "last_decision": self.last_decision,
            "bench_invested": self.bench_invested,
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.k = int(state["k"])
        if self.times[self.k].isoformat() != state["time"] or state["first"] != self.first:
            raise DataError(
                f"session {self.id}: its saved bar {state['time']} is not bar {self.k} of the data now "
                "loaded; the data changed under a running session"
            )
        self.path.restore(state["path"])
        self.shadow.restore(state["shadow"])
        self.bench.restore(state["bench"])
        self.fill_cursor = int(state["fill_cursor"])
        self.applied = set(state.get("applied", ()))
        self.cum_applied = {k: float(v) for k, v in (state.get("cum_applied") or {}).items()}
        if isinstance(self.broker, RawUnits):
            self.broker.restore(state.get("raw_held") or {})
        self.signal.restore(state["signal"])
        self.reconcile_required = state["reconcile_required"]
        self.stopping = bool(state["stopping"])
        self.csv_peak = float(state["csv_peak"])
        self.last_decision = state["last_decision"]
        self.bench_invested = bool(state.get("bench_invested", self.k > self.first))

    def event(self, message: str, bar: pd.Timestamp | None = None) -> None:
        log.info("%s: %s", self.id, message)
        self._events.append(self.folder.log(bar, message))

    def commit(self) -> None:
        self.journal.flush()  # the orders the state refers to are in the store before it
        state = self.snapshot() if self.k >= 0 else None  # before the first bar there is none
        self.store.save(self.id, state, self.view(), done=self._done, events=self._events)
        self._events, self._done = [], []

    # ------------------------------------------------------------------ the loop

    def run(self) -> str:
        """Run until the replay ends or a stop; returns the final status."""
        state = self.doc.get("state")
        if state and int(state.get("k", -1)) >= 0:
            self.restore(state)
            self.folder.cut_after(self.times[self.k])
            self.folder.write_orders(self.journal.ended_docs())
            # orders the dead process journaled for a bar it had not committed: its redo decides
            # again; what it does not decide again is cancelled at the end of the redone bar
            pending = {o.client_order_id for o in self.path.pending}
            self._attempt = {cid for cid in self.journal.inherited if self.journal.is_open(cid)} - pending
            self.event(
                f"loop restarted at bar {self.times[self.k].date()} (pid {os.getpid()})", self.times[self.k]
            )
        else:
            self.folder.cut_after(None)
            self.folder.write_orders(self.journal.ended_docs())
            venue = self._venue()
            for note in self.r.notes:
                self.event(f"note: {note}")
            if self.clock is None:
                self.event(f"session started: {venue}, replay from {self.times[self.first].date()}")
            else:
                name, first = self.clock.schedule.name, self.clock.first_day
                self.event(f"session started: {venue} on the {name} clock, first decision {first}")
        self.store.set_status(self.id, "running", None, pid=os.getpid(), started_at=dt.datetime.now(dt.UTC))
        beat = _Heartbeat(self.store, self.id)
        beat.start()
        whole = True  # the state in memory is a committed bar's (not one cut off half-way)
        try:
            if self.unusable is not None:
                raise self.unusable
            self._trade()
            self._settle()
        except TemporaryError as e:  # the broker cannot answer now: redo from the last commit
            when = self.times[self.k] if self.k >= 0 else None
            self.event(
                f"the broker could not answer ({e}); the loop redoes its bar from the last commit "
                f"in {RETRY_SECONDS:g} s",
                when,
            )
            self.store.push_events(self.id, self._events)
            self.sleep(RETRY_SECONDS)
            raise SystemExit(TEMPFAIL) from e
        except (AuthExpiredError, AmbiguousOrderError, BrokerError, StockBotError) as e:
            # nothing can be sent or checked: stop, and say why
            whole = self.unusable is not None
            self.status = "failed"
            left = f"positions and open orders left at {self.config.broker}"
            self.doc["reason"] = f"{e}; trading stopped, {left}"
            self.event(self.doc["reason"], self.times[self.k] if self.k >= 0 else None)
        finally:
            beat.stop()
            self.close()
        if whole:
            self.commit()
        else:  # a bar cut off half-way: its redo is a person's; only what happened is recorded
            self.store.push_events(self.id, self._events)
            self._events = []
        self.store.set_status(self.id, self.status, self.doc.get("reason"))
        return self.status

    def close(self) -> None:
        """Let go of the broker (its stream's thread, if it has one)."""
        closing = getattr(self.broker, "close", None) if self.unusable is None else None
        if closing is not None:
            closing()

    def _settle(self) -> None:
        """A real broker may have filled orders after the last bar (a stop cancels only what is
        still open): the session ends holding what the account holds from its orders."""
        if self.connection is None or self.k < 0:
            return
        self._renew()
        self._resync()  # the account's record, not only what a stream said
        fills = self._take_fills({})
        if fills:
            self.folder.append_trades([trade_row(f) for f in fills])
            self.event(f"{len(fills)} fills after the last bar taken at the end", self.times[self.k])

    def _venue(self) -> str:
        if self.connection is None:
            return "paper broker"
        account = "LIVE account (real money)" if self.config.real_money else "paper account"
        return f"{self.config.broker} {account}"

    def _trade(self) -> None:
        """Tick bar after bar until the session ends."""
        while self.status == "running":
            k = self.first if self.k < 0 else self.k + 1
            if self.clock is not None:
                if not self._await_bar(k):
                    continue
            elif self.end is not None and k > self.end:
                self.status = "finished"
                self.event("replay finished: no more bars", self.times[self.k])
                break
            else:
                self._pace()
            if self.status != "running":
                break
            self.tick(k)
            self.commit()

    def _pace(self) -> None:
        """Replay speed: wait 1/speed seconds between bars, answering requests meanwhile."""
        speed = self.config.clock.speed
        if speed <= 0 or self.k < 0:
            return
        deadline = time.monotonic() + 1.0 / speed
        while (left := deadline - time.monotonic()) > 0:
            self.sleep(min(left, REQUEST_POLL_SECONDS))
            if not self._answer_requests():
                return

    def _answer_requests(self) -> bool:
        """Honour waiting requests between bars; False once the session no longer runs."""
        requests = self.store.requests(self.id)
        if requests:
            self._between_bars(requests)
        return self.status == "running"

    def _await_bar(self, k: int) -> bool:
        """Market clock: True once bar ``k`` is here. Until its session has closed (plus the data
        lag) it waits; then it asks the feed, every ``poll_seconds``, and reports a bar that is
        late past ``stale_after_minutes`` as stale. Requests are answered meanwhile."""
        assert self.clock is not None
        if k < len(self.times):
            return True
        self._send_due(waiting=True)  # orders held for their send window
        self.journal.flush()
        day = self.clock.session_of(self.times, k, self.first)
        now = self.now()
        due = self.clock.due(day)
        if now >= due and (self._next_poll is None or now >= self._next_poll):
            self._next_poll = now + pd.Timedelta(seconds=self.config.clock.poll_seconds)
            self._load_feed(now)
            if k < len(self.times):
                return True
        if now >= due:
            if now >= self.clock.stale_at(day) and self._stale != day:
                self._stale = day
                late = (now - due).total_seconds() / 60
                self.event(
                    f"stale data: no bar for {day} yet, {late:.0f} minutes after it was due; still "
                    "waiting (its decision is skipped if it comes after the next open)"
                )
            wait = (self._next_poll - now).total_seconds() if self._next_poll is not None else 0.0
        else:
            wait = (due - now).total_seconds()
        self.sleep(max(0.0, min(wait, REQUEST_POLL_SECONDS * 5)))
        self._answer_requests()
        return False

    def _load_feed(self, now: pd.Timestamp) -> None:
        """The feed's bars so far; the history the session has seen must not have changed."""
        assert self.clock is not None
        try:
            bars = self.clock.bars(now)
        except (ProviderError, DataError) as e:  # the feed is down or answers badly: wait it out
            self.event(f"the feed failed ({e}); asking again in {self.config.clock.poll_seconds:g} s")
            return
        market = MarketData.from_frames(bars, self.r.run.pipeline.transform(bars))
        times = market.timestamps
        seen = self.times[: max(self.k + 1, 0)]
        if not times[: len(seen)].equals(seen):
            raise DataError(
                f"session {self.id}: the feed's bars up to {seen[-1] if len(seen) else '-'} are not the ones "
                "the session traded on; the data changed under a running session"
            )
        if len(times) > len(self.times):
            self.bars, self.times = bars, times
            self._stamps = bars.index.get_level_values("timestamp")
            # the features of every bar loaded: those the tick of the newest bar needs
            self._market = (len(times) - 1, market)

    def _fill_times(self, k: int, n: int) -> list[pd.Timestamp]:
        """The bars the orders decided at bar ``k`` fill at: the next ``n`` bars (a replay's, or
        the exchange's sessions to come)."""
        if self.clock is not None:
            return self.clock.fill_times(self.times[k], n)
        return list(self.times[k + 1 : k + 1 + n])  # a replay's bars end at its last

    def _late_decision(self, when: pd.Timestamp) -> str | None:
        """Why the decision of the bar at ``when`` is skipped: it could not go out before the next
        open (a market session that is behind); None when it can."""
        assert self.clock is not None
        day = pd.Timestamp(when).date()
        d = self.clock.decision(day, self.now())
        if not d.late:
            return None
        return f"decision for {day} missed its open ({d.fills_at:%Y-%m-%d %H:%M} UTC): skipped, nothing sent"

    def _has_next(self, k: int) -> bool:
        return self.end is None or k < self.end

    def market_at(self, k: int) -> MarketData:
        """Features and prices known at bar ``k``'s close: the pipeline over the bars from the
        session's start up to bar ``k``, nothing later."""
        if self._market is not None and self._market[0] == k:
            return self._market[1]
        bars = self.bars[self._stamps <= self.times[k]]
        market = MarketData.from_frames(bars, self.r.run.pipeline.transform(bars))
        if market.timestamps[-1] != self.times[k]:
            raise DataError(f"the features at {self.times[k]} end at {market.timestamps[-1]}")
        self._market = (k, market)
        return market

    def tick(self, k: int) -> None:
        market = self.market_at(k)
        j = market.n_bars - 1
        bar = market.bar(j)
        session = market.session(j)
        self.journal.bar = bar.time
        if isinstance(self.broker, RawUnits):
            self.broker.at(bar, market.bar(j - 1) if j > 0 else None)
            if self.clock is not None and k > self.first:
                self._rebase(self.broker.splits(), bar.time)
        self._renew()
        if k == self.first:
            for p in (self.path, self.shadow, self.bench):
                p.reset(session)
            if self.connection is not None:  # what the account holds already is the broker's
                self._reconcile(bar.time)
        else:
            self.broker.on_bar(bar)
            simulated = {f.client_order_id: f.price for f in self.shadow.fill(bar)}
            self.bench.fill(bar)
            fills = self._take_fills(simulated, bar)
            self._end_orders(bar.time)
            if self.connection is not None:  # orders the lookups just found (Schwab's, receipt lost)
                fills += self._take_fills(simulated, bar)
            fills += self._reconcile(bar.time, lambda: self._take_fills(simulated, bar))
            self._mark, change = self.path.mark(bar, session)
            self.shadow.mark(bar, session)
            self.bench.mark(bar, session)
            if change:
                self.event(change, bar.time)
            self.folder.append_trades([trade_row(f) for f in fills])
        self.k = k
        self._control(self.store.requests(self.id), market, j, between=False)
        late = self._late_decision(bar.time) if self.clock is not None else None
        if self.status == "running" and self._has_next(k):
            if late:
                self.event(late, bar.time)
            elif self.stopping:
                self._exit(market, j, flatten=True)
            else:
                self._decide(market, j)
        self._drop_attempt(bar.time)
        self._write_equity(bar)
        self.folder.append_orders(bar.time, self.journal.take_ended())

    def _rebase(self, splits: dict[str, float], when: pd.Timestamp) -> None:
        """The feed re-adjusted its history for a split (its latest factor is 1 again): the
        session's positions, its shadow's and its benchmark's, count in the new adjusted shares
        (``r`` times as many, at ``1/r`` the cost). A replay's data was adjusted for its splits
        from the start: nothing to re-base there."""
        for symbol, r in splits.items():
            for p in (self.path, self.shadow, self.bench):
                i = p.portfolio.index[symbol]
                p.portfolio.qty[i] *= r
                p.portfolio.avg_cost[i] /= r
            self.event(
                f"{symbol}: the feed re-adjusted its history by {r:g} (a split): positions re-based", when
            )

    def _drop_attempt(self, when: pd.Timestamp) -> None:
        """After a redone bar: the dead process's orders for it that the redo did not decide again
        are cancelled at the broker (those due at this bar have run and were taken as they ended)."""
        if not self._attempt:
            return
        kept = {o.client_order_id for o in self.path.pending}
        for cid in sorted(self._attempt - kept):
            doc = self.journal.get(cid)
            if doc is None or not self.journal.is_open(cid) or pd.Timestamp(doc["fill_time"]) <= when:
                continue
            self._broker_cancel(cid)
            self.journal.set(
                cid, "cancelled", message="decided by a process that died; its redo decided otherwise"
            )
        self._attempt = set()

    # ------------------------------------------------------------------ fills and orders

    def _take_fills(self, simulated: dict[str, float], bar: Bar | None = None) -> list[Fill]:
        """The broker's fills not applied yet: after the saved cursor on paper; on a real broker
        every execution since the start, each applied once by its id (an execution the broker
        reports late, before others already taken, is not lost; one reported twice counts once).

        Each is measured against its simulated price: the shadow's fill of the same order, or,
        when the shadow (its own simulated path) did not send that order, the price the paper
        venue would fill it at in ``bar``."""
        fills, docs = [], []
        exact = self.broker.exact_cursor
        for reported in self.broker.fills_since(self.fill_cursor if exact else 0):
            bf = reported
            if not exact:
                if bf.fill_id in self.applied:
                    continue
                self.applied.add(bf.fill_id)
                if bf.order_ref is not None and bf.cumulative is not None:
                    # shares counted once: an execution reported after a later one of its order
                    # (whose step held it) adds nothing; otherwise the step since the last one
                    top = self.cum_applied.get(bf.order_ref, 0.0)
                    if bf.cumulative <= top + 1e-9:
                        continue
                    step = (bf.cumulative - top) / bf.adj_factor  # in the session's units
                    self.cum_applied[bf.order_ref] = bf.cumulative
                    bf = dataclasses.replace(bf, quantity=step)
            order = self.journal.get(bf.client_order_id)
            if order is None:
                self.event(f"fill {bf.fill_id} is for an order this session did not send; left alone")
                self.fill_cursor = bf.cursor
                continue
            fill = _fill(bf, order)
            self.path.portfolio.apply(fill)
            if isinstance(self.broker, RawUnits):
                self.broker.took(bf)
            sim = simulated.get(fill.client_order_id)
            if sim is None and bar is not None and fill.symbol in self.path.portfolio.index:
                i = self.path.portfolio.index[fill.symbol]
                sim = self.model.model_price(order_from_doc(order), bar, i)
            bps = None
            if sim is not None:
                sign = 1.0 if fill.side == "buy" else -1.0
                bps = sign * (fill.price - sim) / sim * 1e4
            doc = {
                "fill_id": bf.fill_id,
                **fill_to_doc(fill),
                "timestamp": fill.fill_time.isoformat(),
                "simulated_price": sim,
                "slippage_bps": bps,
            }
            docs.append(doc)
            self.fill_cursor = bf.cursor
            fills.append(fill)
        self.store.record_fills(self.id, docs)
        return fills

    def _end_orders(self, when: pd.Timestamp) -> None:
        """Orders due at or before ``when`` have had their bar: record how they ended."""
        due = self.journal.open_due(when)
        sent = [d["_id"] for d in due if d["status"] != "intent" or self.journal.in_doubt(d["_id"])]
        found, ambiguous = self._lookup_many(sent)
        for doc in due:
            cid = doc["_id"]
            if cid in ambiguous:  # a person says which order it is (reconcile)
                continue
            if doc["status"] == "intent" and cid not in found:
                self.journal.set(cid, "expired", message="never sent: its fill bar passed")
                continue
            at_broker = found.get(cid)
            if at_broker is None:
                self.journal.set(cid, "expired", message="the broker does not know it")
            elif at_broker.status == "accepted":  # still open past its bar: a DAY order ends unfilled
                self._broker_cancel(cid)
                self.journal.set(cid, "expired", filled_quantity=at_broker.filled_quantity)
            else:
                self.journal.set(
                    cid,
                    at_broker.status,
                    filled_quantity=at_broker.filled_quantity,
                    message=at_broker.message,
                )
        self.path.pending = [o for o in self.path.pending if o.fill_time is None or o.fill_time > when]

    def _resync(self) -> bool:
        """Ask a broker whose fills come by a stream to read its account's record again; False
        when it has no such thing (its fills are already the record)."""
        resync = getattr(self.broker, "resync", None)
        if resync is None:
            return False
        resync()
        return True

    def _reconcile(self, when: pd.Timestamp, retake: Callable[[], list[Fill]] | None = None) -> list[Fill]:
        """The broker's positions against the session's: a difference no open order explains
        stops the trading until a person resolves it (the broker wins then). Before that, a broker
        whose fills come by a stream reads its account's record again (``retake`` takes what it
        adds); the fills so taken are returned."""
        outside, problems = self._differences(when)
        fills: list[Fill] = []
        if problems and retake is not None and self._resync():  # a stream behind the account
            fills = retake()
            outside, problems = self._differences(when)
        if outside:
            self.event(f"positions outside the session's universe, left alone: {', '.join(outside)}", when)
        if problems:
            self._require_reconcile("; ".join(problems), when)
        return fills

    def _differences(self, when: pd.Timestamp | None = None) -> tuple[list[str], list[str]]:
        """The broker's positions outside the universe, and those that differ from the
        session's by more than its open orders explain. A real broker's are compared in raw
        shares, after accepting what a split explains."""
        if isinstance(self.broker, RawUnits):
            held = self.broker.raw_positions()
            for accepted in self.broker.corporate_actions(held):
                self.event(f"corporate action accepted: {accepted}", when)
            in_flight = self.broker.raw_in_flight(lambda cid: self.journal.get(cid) is not None)
            ours_by_symbol = {s: self.broker.raw_held.get(s, 0.0) for s in self.symbols}
        else:
            held = self.broker.positions()
            in_flight = {}
            for o in self.broker.open_orders():
                in_flight[o.symbol] = in_flight.get(o.symbol, 0.0) + o.quantity - o.filled_quantity
            p = self.path.portfolio
            ours_by_symbol = {s: float(p.qty[i]) for s, i in p.index.items()}
        outside = sorted(s for s in held if s not in self.path.portfolio.index)
        problems = []
        for s, ours in ours_by_symbol.items():
            theirs = float(held.get(s, 0.0))
            diff = abs(theirs - ours)
            if diff > 1e-6 * max(1.0, abs(ours)) and diff > in_flight.get(s, 0.0) + 1e-9:
                problems.append(f"{s}: broker {theirs:g}, session {ours:g}")
        return outside, problems

    def _decide(self, market: MarketData, j: int) -> None:
        bar = market.bar(j)
        k = self.k
        fill_times = self._fill_times(k, self.path.slices)
        obs = ObservationBuilder(market, self.r.run.config.env).observe(j, self.path.portfolio)
        signal = self.signal(obs)
        target = signal.target.copy()
        if signal.held:
            self.event(f"decision held: {signal.held}", bar.time)
        moved = self._price_moves(market, j)
        for i, why in moved.items():
            target[i] = np.nan
            self.event(f"{self.symbols[i]} held: {why}", bar.time)
        decision = {
            "time": bar.time.isoformat(),
            "action": np.asarray(signal.action, dtype=float).reshape(-1).tolist(),
            "target": _listed(signal.target),
            "held": signal.held,
            "price_holds": [self.symbols[i] for i in moved],
        }
        if self.reconcile_required:
            self.event("no orders: reconcile required", bar.time)
            decision["skipped"] = "reconcile required"
            self.last_decision = decision
            return
        orders = self.path.decide(target, bar, fill_times)
        for o in self.path.cancelled:  # children of symbols this decision trades again
            self._cancel(o)
        self.path.cancelled = []
        self.shadow.decide(target, bar, fill_times)
        self.bench.decide(self._bench_target(k), bar, fill_times)
        plan = self.path.last_plan
        if plan is not None:
            decision["weights"] = _listed(plan.weights)
            decision["current"] = _listed(plan.current)
            decision["kind"] = plan.kind
        decision["orders"] = [o.client_order_id for o in orders]
        self.last_decision = decision
        self._send(orders)

    def _bench_target(self, k: int) -> np.ndarray:
        """Buy-and-hold: equal weights at the first bar the session decides, then held."""
        n = len(self.symbols)
        if self.bench_invested:
            return np.full(n, np.nan)
        self.bench_invested = True
        return np.full(n, 1.0 / n)

    def _price_moves(self, market: MarketData, j: int) -> dict[int, str]:
        limit = self.config.max_price_move
        if limit is None or j == 0:
            return {}
        last, now = market.close[j - 1], market.close[j]
        move = np.abs(now / last - 1.0)
        return {
            int(i): f"close {now[i]:.4g} moved {move[i]:.1%} from {last[i]:.4g} (max_price_move {limit:.0%})"
            for i in np.flatnonzero(~(move <= limit))
        }

    def _send(self, orders: list[Order]) -> None:
        """Journal every new order (TWAP children too), then send those due at the next bar.

        The intents reach the store before anything is sent. An order in doubt (journaled or sent
        by a process that died, or sent with an unknown outcome) is looked up first and sent only
        if the broker does not have it: every broker takes a client order id it already holds as
        that order, never as a second one."""
        self.journal.record(order_to_doc(o) for o in orders)
        self._send_due()

    def _send_due(self, *, waiting: bool = False) -> None:
        """Send the orders for the next bar whose send window is open now (a replay's always is;
        on the market clock, :func:`stockbot.live.windows.send_window`). ``waiting``: between bars,
        only intents not sent yet are looked at."""
        if self.k < 0 or not self._has_next(self.k) or self.reconcile_required:
            return  # nothing goes out while a person must reconcile
        nxt = self._fill_times(self.k, 1)[0]
        wanted: tuple[str, ...] = ("intent", "submitted", "unknown")
        if waiting:  # between bars: intents, and orders in doubt once a minute
            now_ = self.now()
            doubt = self._next_doubt is None or now_ >= self._next_doubt
            if doubt:
                self._next_doubt = now_ + pd.Timedelta(seconds=60)
            wanted = ("intent", "submitted", "unknown") if doubt else ("intent",)
        due = [
            o
            for o in self.path.pending
            if o.fill_time == nxt and self.journal.status(o.client_order_id) in wanted
        ]
        due = [o for o in due if self._window_open(o, nxt)]
        if not due:
            return
        self._renew()
        doubtful = [o.client_order_id for o in due if self.journal.in_doubt(o.client_order_id)]
        held, ambiguous = self._lookup_many(doubtful)
        for cid, at_broker in held.items():
            if at_broker.status in ("accepted", "filled"):
                self.journal.set(cid, "accepted")
            else:  # it ended there (cancelled, say): that id cannot be sent again
                self.journal.set(cid, at_broker.status, message=at_broker.message)
        to_send = [o for o in due if o.client_order_id not in held and o.client_order_id not in ambiguous]
        sent_at = now()
        results = self._submit(to_send)
        unknown = [r.client_order_id for r in results if r.outcome == Outcome.UNKNOWN]
        resolved, _ = self._lookup_many(unknown)
        steps = {"submitted": sent_at}
        for r in results:
            found = resolved.get(r.client_order_id)
            if r.outcome == Outcome.ACCEPTED or (
                found is not None and found.status in ("accepted", "filled")
            ):
                self.journal.set(r.client_order_id, "accepted", steps=steps)
            elif r.outcome == Outcome.REJECTED:
                self.journal.set(r.client_order_id, "rejected", steps=steps, message=r.message)
                self.event(f"order {r.client_order_id} rejected: {r.message}", self.times[self.k])
            else:
                self.journal.set(r.client_order_id, "unknown", steps=steps)

    def _window_open(self, order: Order, fill_time: pd.Timestamp) -> bool:
        if self.clock is None:
            return True
        at = self.now()
        opens = self.clock.schedule.open(pd.Timestamp(fill_time).date())
        if isinstance(self.broker, RawUnits):  # the window of the order the broker gets
            raw = self.broker.raw_order(order)
            order = raw if isinstance(raw, Order) else order
        earliest, latest = send_window(self.config.broker, order, at, opens)
        return earliest <= at < latest

    def _lookup_many(self, cids: list[str]) -> tuple[dict[str, BrokerOrder], set[str]]:
        """The orders the broker holds among ``cids``, and those it cannot tell apart from others
        (Schwab, with no client id): each of those stops trading in its symbol until a person
        resolves it, and is neither sent again nor taken as absent."""
        if not cids:
            return {}, set()
        try:
            return self.broker.lookup_many(cids), set()
        except AmbiguousOrderError:
            pass
        found, ambiguous = {}, set()
        for cid in cids:
            try:
                if (at_broker := self.broker.lookup(cid)) is not None:
                    found[cid] = at_broker
            except AmbiguousOrderError as e:
                ambiguous.add(cid)
                self.journal.set(cid, "unknown", message=str(e))
                self._require_reconcile(f"{e.symbol}: {e}", self.times[self.k])
        return found, ambiguous

    def _require_reconcile(self, why: str, when: pd.Timestamp | None) -> None:
        if not self.reconcile_required:
            self.reconcile_required = why
            self.event(f"reconcile required, trading stopped: {why}", when)

    def _renew(self) -> None:
        """A current access token for a real broker's client (AuthExpiredError if none can be had)."""
        if self.connection is not None:
            self.connection.renew()

    def _submit(self, orders: list[Order]) -> list[SubmitResult]:
        if not orders:
            return []
        try:
            return self.broker.submit_many(orders)
        except TemporaryError as e:  # the broker may or may not have them: lookups will tell
            self.event(f"submit of {len(orders)} orders in doubt: {e}", self.times[self.k])
            return [SubmitResult(Outcome.UNKNOWN, o.client_order_id, message=str(e)) for o in orders]

    def _cancel(self, order: Order) -> None:
        status = self.journal.status(order.client_order_id)
        if status == "accepted" or self.journal.in_doubt(order.client_order_id):
            self._broker_cancel(order.client_order_id)
        if status in ("intent", "submitted", "accepted", "unknown"):
            self.journal.set(order.client_order_id, "cancelled", message="replaced by a later decision")

    # ------------------------------------------------------------------ control

    def _control(self, requests: list[dict[str, Any]], market: MarketData, j: int, *, between: bool) -> None:
        """Honour requests at bar ``j`` of ``market``: inside a tick (before its decision, which
        then plans the exits) or ``between`` bars (the exits are planned here, at the last bar)."""
        bar = market.bar(j)
        for req in requests:
            action = req["action"]
            self._done.append(req["id"])
            if action == "pause":
                for p in (self.path, self.shadow):
                    p.risk.pause()
                self.event("entries paused by a person", bar.time)
            elif action == "resume":
                for p in (self.path, self.shadow):
                    p.resume()
                self.event("resumed by a person", bar.time)
            elif action == "reconcile":
                self._adopt_broker(bar.time)
            elif action == "kill":
                if self.path.risk.status == "halted" and self.path.risk.cause == "person":
                    continue  # pressed again: the first press's exit stands (the switch is idempotent)
                for p in (self.path, self.shadow):
                    p.risk.halt("kill switch")
                self._cancel_all()
                self.event("kill switch: open orders cancelled, flattening at the next open", bar.time)
                if between and self._has_next(self.k) and self._can_send_now():
                    self._exit(market, j, flatten=False)
            elif action == "stop":
                self._cancel_all()
                if req.get("flatten") and self._has_next(self.k):
                    if between and self._can_send_now():
                        self._exit(market, j, flatten=True)
                    self.stopping = True
                    self.event("stop requested: flattening at the next open, then stopping", bar.time)
                else:
                    self.status = "stopped"
                    self.event("stopped by a person: open orders cancelled, positions left", bar.time)
        if self.stopping and not self.path.pending and not np.any(self.path.portfolio.qty):
            self.status = "stopped"
            self.stopping = False
            self.event("stopped: flat", bar.time)

    def _between_bars(self, requests: list[dict[str, Any]]) -> None:
        self._renew()  # a stop or a kill reaches the broker hours after the last tick
        if self.k < 0:  # a market session before its first bar: nothing held, nothing to send
            ends = [r for r in requests if r["action"] in ("stop", "kill")]
            if ends:  # the rest (pause, resume) waits for the first bar, which sets up the risk state
                self._done += [r["id"] for r in ends]
                self.status = "stopped"
                self.event(f"{ends[0]['action']} before the first bar: stopped, nothing was traded")
                self.commit()
            return
        market = self.market_at(self.k)
        self._control(requests, market, market.n_bars - 1, between=True)
        self.folder.append_orders(self.times[self.k], self.journal.take_ended())
        self.commit()

    def _can_send_now(self) -> bool:
        """Whether orders planned now still reach the next bar's open (always, in a replay)."""
        return (
            self.clock is None
            or self.k < 0
            or not self.clock.decision(self.times[self.k].date(), self.now()).late
        )

    def _cancel_all(self) -> None:
        """Cancel the open orders, but not those whose bar has opened (they ran) nor a dead
        process's orders of a bar being redone (the redo settles those)."""
        ran = [] if self._can_send_now() else self._fill_times(self.k, 1)
        keep = [o for o in self.path.pending if o.fill_time in ran]
        for o in self.path.pending:
            if o not in keep:
                self._cancel(o)
        self.path.pending = keep
        spared = {o.client_order_id for o in keep} | self._attempt
        if self.connection is not None:  # a real broker: what ran may still work (a DAY limit)
            for o in keep:
                self._broker_cancel(o.client_order_id)
            spared = self._attempt
        for o in self.broker.open_orders():
            # on a real account, only the session's own orders (not a person's)
            mine = self.connection is None or self.journal.get(o.client_order_id) is not None
            if mine and o.client_order_id not in spared:
                self._broker_cancel(o.client_order_id)

    def _broker_cancel(self, client_order_id: str) -> None:
        """Cancel at the broker; an order it cannot tell apart from another stops its symbol for
        a person instead."""
        try:
            self.broker.cancel(client_order_id)
        except AmbiguousOrderError as e:
            self._require_reconcile(f"{e.symbol}: {e}", self.times[self.k] if self.k >= 0 else None)

    def _exit(self, market: MarketData, j: int, *, flatten: bool) -> None:
        bar = market.bar(j)
        fill_times = self._fill_times(self.k, 1)
        zeros = np.zeros(len(self.symbols))
        orders = self.path.decide(zeros, bar, fill_times, flatten=flatten)
        self.path.cancelled = []
        self.shadow.decide(zeros, bar, fill_times, flatten=flatten)
        self._send(orders)

    def _adopt_broker(self, when: pd.Timestamp) -> None:
        held = self.broker.positions()  # a real broker's in the session's units
        if isinstance(self.broker, RawUnits):
            raw = self.broker.raw_positions()
            self.broker.raw_held = {s: float(raw[s]) for s in self.symbols if raw.get(s)}
        p = self.path.portfolio
        for s, i in p.index.items():
            q = float(held.get(s, 0.0))
            if q != p.qty[i]:
                p.qty[i] = q
                if q == 0.0:
                    p.avg_cost[i] = 0.0
        p.cash = self.broker.account().cash
        self.reconcile_required = None
        self.event("reconciled by a person: the broker's positions and cash adopted", when)

    # ------------------------------------------------------------------ outputs

    def _write_equity(self, bar: Any) -> None:
        if self.k == self.first:
            cash = self.r.initial_cash
            row = [bar.time, cash, cash, 0.0, 0.0, 0.0, cash]
            self.csv_peak = cash
        else:
            m = self._mark
            self.csv_peak = max(self.csv_peak, m.equity)
            row = [
                bar.time,
                m.equity,
                self.path.portfolio.cash,
                m.gross,
                m.net,
                m.equity / self.csv_peak - 1.0,
                self.bench.portfolio.equity,
            ]
        self.folder.append_equity(row)
        self.folder.append_shadow(bar.time, row[1] if self.k == self.first else self.shadow.portfolio.equity)

    def view(self) -> dict[str, Any]:
        p = self.path.portfolio
        risk = self.path.risk
        base = risk.session_base
        limits = self.limits
        prices = weights = None
        gross = net = 0.0
        if self._market is not None and self._market[0] == self.k:
            close = self._market[1].close[-1]
            prices = {s: float(c) for s, c in zip(p.symbols, close, strict=True)}
            w = p.weights(close)
            weights = {s: float(x) for s, x in zip(p.symbols, w, strict=True) if x != 0.0}
            gross, net = float(np.abs(w).sum()), float(w.sum())
        next_due = None
        if self.clock is not None:
            following = self.clock.session_of(
                self.times, self.first if self.k < 0 else self.k + 1, self.first
            )
            next_due = self.clock.due(following).isoformat()
        return {
            "bar": self.times[self.k].isoformat() if self.k >= 0 else None,
            "next_bar_due": next_due,  # market clock: when the next bar is taken
            "bars_done": max(0, self.k - self.first + 1) if self.k >= 0 else 0,
            "bars_total": None if self.end is None else self.end - self.first + 1,
            "equity": p.equity,
            "cash": p.cash,
            "peak": p.peak,
            "drawdown": p.drawdown,
            "day_pnl": None if base is None else p.equity - base,
            "total_pnl": p.equity - p.initial_cash,
            "shadow_equity": self.shadow.portfolio.equity,
            "benchmark_equity": self.bench.portfolio.equity,
            "positions": {s: float(q) for s, q in zip(p.symbols, p.qty, strict=True) if q != 0.0},
            "prices": prices,  # the last close
            "weights": weights,  # position values / equity at the last close
            "gross": gross,
            "net": net,
            "risk": {"status": risk.status, "cause": risk.cause, "reason": risk.reason},
            "limits": {
                "max_drawdown": limits.max_drawdown,
                "daily_loss_limit": limits.daily_loss_limit,
                "max_gross_leverage": limits.max_gross_leverage,
                "max_position_weight": limits.max_position_weight,
            },
            "reconcile_required": self.reconcile_required,
            "stopping": self.stopping,
            "last_decision": self.last_decision,
            "symbols": self.symbols,
            # a real broker's raw shares, as the session's fills account for them
            "broker_positions": self.broker.snapshot() if isinstance(self.broker, RawUnits) else None,
            "feed": self.r.data.provider,
            "trained_on": self.r.run.config.data.provider,
        }


def order_path_for(symbols: list[str], r: Resolved, limits: RiskLimits, session: str) -> OrderPath:
    """The backtest's order path under the session's name (so its client ids are the session's)."""
    return OrderPath(
        symbols,
        initial_cash=r.initial_cash,
        costs=CostModel.from_config(r.costs),
        limits=limits,
        execution=r.execution,
        session=session,
    )


def _fill(bf: BrokerFill, order: dict[str, Any]) -> Fill:
    return Fill(
        client_order_id=bf.client_order_id,
        symbol=bf.symbol,
        side=bf.side,
        quantity=bf.quantity,
        price=bf.price,
        fee=bf.fee,
        slippage_cost=bf.slippage_cost,
        decision_time=pd.Timestamp(order["decision_time"]),
        fill_time=pd.Timestamp(bf.time),
        raw_price=bf.raw_price,
        adj_factor=bf.adj_factor,
    )


def _listed(a: np.ndarray) -> list[float | None]:
    return [None if not np.isfinite(x) else float(x) for x in np.asarray(a, dtype=float)]


class _Heartbeat:
    """Beats the session's heartbeat from a thread, so a long wait still shows the loop alive."""

    def __init__(self, store: LiveStore, session_id: str) -> None:
        self.store, self.id = store, session_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{session_id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        pid = os.getpid()
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                self.store.heartbeat(self.id, pid)
            except Exception as e:  # the store restarting must not kill the loop's beat
                log.warning("heartbeat of %s failed: %s", self.id, e)
