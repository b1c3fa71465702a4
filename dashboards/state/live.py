"""State of ``/live``: the viewer's live sessions, one selected session as it trades, the controls
and the start of a new paper session of a trained run.

Everything comes from the store (the session document's view, its orders and fills) and the
session's folder (``equity.csv``, ``shadow.csv``); the controls are requests the loop honours
within one tick (:mod:`stockbot.live.control`). Tables come with readable text; the view formats
nothing itself.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import numpy as np
import pandas as pd
import param

from dashboards import format as fmt
from dashboards.state.brokers import login_warning
from dashboards.state.files import read_path_csv
from dashboards.viewer import Viewer, service_prefix
from stockbot.errors import ConfigError, StockBotError
from stockbot.live.control import request, start_session, status, validate_live
from stockbot.live.feed import SessionFeed
from stockbot.live.folder import session_dir
from stockbot.live.store import ENDED, SESSION_ID, LiveStore
from stockbot.store.runs import RunStatus, RunStore
from stockbot.store.tokens import TokenStore, crypt_key

log = logging.getLogger(__name__)

NOT_FOUND = "No such live session, or it is not yours."
KILL_WORD = "KILL"  # typed to arm the kill switch
SESSION, SHADOW, BENCHMARK = "session", "shadow backtest", "buy & hold"
GAP = "live minus shadow"  # on a real broker: what its fills cost against the simulated ones
ORDER_STEPS = ("intent", "submitted", "accepted", "filled")
ORDER_ENDS = ("filled", "expired", "cancelled", "rejected")
MAX_SESSIONS = 100
TABLE_ROWS = 200  # the newest orders and fills on the page; all of them are in the API and orders.csv


def _utc(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = pd.Timestamp(value).to_pydatetime()
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return None


def _clock(value: Any) -> str:
    """A moment of an order's timeline as ``HH:MM:SS`` (UTC), or :data:`fmt.MISSING`."""
    t = _utc(value)
    return fmt.MISSING if t is None else t.astimezone(dt.UTC).strftime("%H:%M:%S")


class LiveState(param.Parameterized):
    """Everything ``/live`` shows; :meth:`refresh` re-reads it (periodically while a session runs)."""

    sessions = param.List(default=[], doc="the viewer's sessions (status summaries), newest first")
    session_id = param.String(default="", doc="the selected session ('' for none)")
    doc = param.Dict(default=None, allow_None=True, doc="the selected session, without its saved state")
    orders = param.List(default=[], doc="the selected session's order documents, oldest first")
    fills = param.List(default=[], doc="the selected session's fill documents, oldest first")
    curves = param.DataFrame(default=None, allow_None=True, doc="equity of session, shadow, buy & hold")
    message = param.String(default="", doc="the outcome of the last control or start")
    errors = param.List(default=[], doc='the start form\'s problems: [{"field", "message"}]')

    def __init__(
        self,
        viewer: Viewer,
        session_id: str = "",
        *,
        store: LiveStore | None = None,
        runs: RunStore | None = None,
        **params: Any,
    ) -> None:
        super().__init__(**params)
        self.viewer = viewer
        self._store = store
        self._runs = runs
        self._feed: SessionFeed | None = None
        self.session_id = session_id if SESSION_ID.fullmatch(session_id or "") else ""
        self.refresh()

    @property
    def store(self) -> LiveStore:
        if self._store is None:
            self._store = LiveStore()
        return self._store

    @property
    def runs(self) -> RunStore:
        if self._runs is None:
            self._runs = RunStore(self.store.db)
        return self._runs

    # ------------------------------------------------------------------ reading

    def refresh(self) -> None:
        self._list_sessions()
        if self._feed is None or self._feed.id != self.session_id:
            self._feed = SessionFeed(self.store, self.session_id) if self.session_id else None
            self.param.update(orders=[], fills=[])  # another session: nothing of the last one stays
        changes = self._feed.poll() if self._feed is not None else None
        doc = changes.session if changes is not None else None
        if doc is not None and not self.viewer.can_see(doc):
            doc = None
        if doc is None or changes is None or self._feed is None:
            self.param.update(doc=None, orders=[], fills=[], curves=None)
            return
        update: dict[str, Any] = {"doc": doc, "curves": self._read_curves(doc)}
        if changes.orders or not self.orders:
            update["orders"] = sorted(self._feed.orders.values(), key=lambda o: (o["created_at"], o["_id"]))
        if changes.fills or not self.fills:
            update["fills"] = sorted(self._feed.fills.values(), key=lambda f: (f["timestamp"], f["_id"]))
        self.param.update(**update)

    def _list_sessions(self) -> None:
        owner = None if self.viewer.admin else self.viewer.name
        self.sessions = [status(d) for d in self.store.list(owner, MAX_SESSIONS)]

    def select(self, session_id: str) -> None:
        self.session_id = session_id if SESSION_ID.fullmatch(session_id or "") else ""
        self.message = ""
        self.refresh()

    @property
    def found(self) -> bool:
        return self.doc is not None

    @property
    def live(self) -> bool:
        """The selected session may still change (its page keeps refreshing)."""
        return self.doc is not None and self.doc.get("status") not in ENDED

    @property
    def view(self) -> dict[str, Any]:
        return (self.doc or {}).get("view") or {}

    def _read_curves(self, doc: dict[str, Any]) -> pd.DataFrame | None:
        folder = session_dir(self.session_id)
        equity = read_path_csv(folder / "equity.csv")
        if equity is None or equity.empty:
            return None
        frame = pd.DataFrame(
            {SESSION: equity["equity"].to_numpy(), BENCHMARK: equity["benchmark_equity"].to_numpy()},
            index=pd.DatetimeIndex(equity["timestamp"], name="timestamp"),
        )
        shadow = read_path_csv(folder / "shadow.csv")
        if shadow is not None and not shadow.empty:
            frame[SHADOW] = pd.Series(shadow["equity"].to_numpy(), index=shadow["timestamp"])
        frame = frame[[c for c in (SESSION, SHADOW, BENCHMARK) if c in frame.columns]]
        for col in list(frame.columns):
            frame[f"{col} drawdown"] = frame[col] / frame[col].cummax() - 1.0
        if SHADOW in frame.columns and doc.get("broker", "paper") != "paper":
            frame[GAP] = frame[SESSION] - frame[SHADOW]
        return frame

    # ------------------------------------------------------------------ what the page shows

    def session_url(self, session_id: str) -> str:
        return f"{service_prefix()}live?session={session_id}"

    def session_choices(self) -> dict[str, str]:
        """Label -> id of the viewer's sessions, for the selector."""
        out = {}
        for s in self.sessions:
            owner = f" ({s['owner']})" if self.viewer.admin and s["owner"] != self.viewer.name else ""
            out[f"{s['name']} · {s['status']} · {s['id']}{owner}"] = s["id"]
        return out

    def badge(self) -> str:
        """PAPER or LIVE: what the orders of this session risk."""
        return "LIVE" if (self.doc or {}).get("mode") == "live" else "PAPER"

    def status_items(self) -> list[tuple[str, str]]:
        """The status bar: (label, text) pairs."""
        doc = self.doc or {}
        info = status(doc) if doc else {}
        view = self.view
        clock = (doc.get("config") or {}).get("clock") or {}
        if clock.get("kind", "replay") == "replay":
            done, total = view.get("bars_done") or 0, view.get("bars_total")
            speed = clock.get("speed") or 0
            pace = "as fast as possible" if not speed else f"{speed:g} bar/s"
            market = f"replay of {fmt.count(total)} bars, {pace}; bar {fmt.count(done)}"
        else:
            calendar = clock.get("calendar", "XNYS")
            market = f"{calendar} clock; next bar due {fmt.timestamp(view.get('next_bar_due'))}"
        risk = view.get("risk") or {}
        risk_text = risk.get("status", fmt.MISSING)
        if risk.get("reason"):
            risk_text += f" ({risk['reason']})"
        engine = str(doc.get("status", fmt.MISSING))
        if doc.get("reason"):
            engine += f": {doc['reason']}"
        if view.get("reconcile_required"):
            engine += " · reconcile required"
        beat = info.get("heartbeat_age")
        heartbeat = fmt.MISSING if beat is None else f"{fmt.duration(beat)} ago"
        if not self.live:
            heartbeat = "none: the session has ended"
        elif info.get("loop_alive"):
            heartbeat += f" (loop pid {info.get('pid')})"
        broker = str(doc.get("broker", fmt.MISSING))
        if broker != "paper" and doc.get("mode"):
            broker += " · LIVE account, real money" if doc["mode"] == "live" else " · paper account"
        items = [
            ("Broker", broker),
            ("Market clock", market),
            ("Data", self._data_text(view)),
            ("Engine", engine),
            ("Risk", risk_text),
            ("Heartbeat", heartbeat),
        ]
        warning = self.login_warning(doc)
        if warning:
            items.insert(1, ("Login", warning))
        return items

    def login_warning(self, doc: dict[str, Any]) -> str | None:
        """A live session's broker login that needs its owner (ends within 48 hours, ended, or
        could not be refreshed); None on paper or when all is well."""
        if doc.get("broker", "paper") == "paper" or doc.get("status") in ENDED:
            return None
        try:
            tokens = TokenStore(self.store.db, crypt_key())
            shown = tokens.public(str(doc.get("owner")), str(doc["broker"])) or {}
        except StockBotError:  # no key here: the service has one
            return None
        return login_warning(shown, dt.datetime.now(dt.UTC))

    @staticmethod
    def _data_text(view: dict[str, Any]) -> str:
        text = f"last bar {fmt.timestamp(view.get('bar'))}"
        feed, trained = view.get("feed"), view.get("trained_on")
        if feed:
            text += f" from {feed}"
            if trained and trained != feed:
                text += f" (the policy was trained on {trained} bars: they may differ)"
        return text

    def account_rows(self) -> pd.DataFrame:
        """Equity, cash, P&L, drawdown, exposure, and the headroom to each risk limit."""
        v = self.view
        limits = v.get("limits") or {}
        rows: list[tuple[str, str]] = [
            ("Equity", fmt.money(v.get("equity"))),
            ("Cash", fmt.money(v.get("cash"))),
            ("Day P&L", fmt.money(v.get("day_pnl"))),
            ("Total P&L", fmt.money(v.get("total_pnl"))),
            ("Drawdown", fmt.pct(v.get("drawdown"))),
            ("Gross exposure", fmt.pct(v.get("gross"))),
            ("Net exposure", fmt.pct(v.get("net"))),
        ]
        for label, text in self.headroom(v, limits):
            rows.append((label, text))
        return fmt.text_table({"": [r[0] for r in rows], "value": [r[1] for r in rows]})

    @staticmethod
    def headroom(view: dict[str, Any], limits: dict[str, Any]) -> list[tuple[str, str]]:
        """How far each limit is: the limit and what is left of it."""
        out = []
        dd, max_dd = view.get("drawdown"), limits.get("max_drawdown")
        if max_dd is not None:
            left = None if dd is None else max_dd + dd
            out.append(("Max drawdown", f"{fmt.pct(max_dd)} (headroom {fmt.pct(left)})"))
        daily = limits.get("daily_loss_limit")
        if daily is not None:
            pnl, equity = view.get("day_pnl"), view.get("equity")
            base = None if pnl is None or equity is None else equity - pnl
            loss = None if base in (None, 0) else -pnl / base  # type: ignore[operator]
            left = None if loss is None else daily - max(loss, 0.0)
            out.append(("Daily loss limit", f"{fmt.pct(daily)} (headroom {fmt.pct(left)})"))
        gross, max_gross = view.get("gross"), limits.get("max_gross_leverage")
        if max_gross is not None:
            left = None if gross is None else max_gross - gross
            out.append(("Max gross leverage", f"{fmt.pct(max_gross)} (headroom {fmt.pct(left)})"))
        weights = view.get("weights") or {}
        max_w = limits.get("max_position_weight")
        if max_w is not None:
            biggest = max((abs(w) for w in weights.values()), default=0.0)
            out.append(("Max position weight", f"{fmt.pct(max_w)} (headroom {fmt.pct(max_w - biggest)})"))
        return out

    def positions_table(self) -> pd.DataFrame:
        """Each symbol held or targeted: quantity, last close, value, weight against the target."""
        v = self.view
        positions = v.get("positions") or {}
        prices = v.get("prices") or {}
        weights = v.get("weights") or {}
        decision = v.get("last_decision") or {}
        symbols = v.get("symbols") or sorted(positions)
        after = dict(zip(symbols, decision.get("weights") or [], strict=False))
        asked = dict(zip(symbols, decision.get("target") or [], strict=False))
        shown = [s for s in symbols if positions.get(s) or after.get(s) or asked.get(s)]
        return fmt.text_table(
            {
                "symbol": shown,
                "quantity": [
                    fmt.count(positions.get(s, 0.0))
                    if _whole(positions.get(s, 0.0))
                    else f"{positions.get(s, 0.0):,.4f}"
                    for s in shown
                ],
                "last close": [fmt.money(prices.get(s)) for s in shown],
                "value": [fmt.money(_times(positions.get(s, 0.0), prices.get(s))) for s in shown],
                "weight": [fmt.pct(weights.get(s, 0.0)) for s in shown],
                "target (after risk)": [fmt.pct(after.get(s)) for s in shown],
                "policy's target": [fmt.pct(asked.get(s)) for s in shown],
            }
        )

    def slippage_by_order(self) -> dict[str, float]:
        """Per order, the quantity-weighted slippage of its fills against the simulated fill (bps)."""
        total: dict[str, float] = {}
        weight: dict[str, float] = {}
        for f in self.fills:
            bps = f.get("slippage_bps")
            if bps is None:
                continue
            q = float(f.get("quantity") or 0.0)
            cid = f["client_order_id"]
            total[cid] = total.get(cid, 0.0) + bps * q
            weight[cid] = weight.get(cid, 0.0) + q
        return {k: total[k] / weight[k] for k in total if weight[k] > 0}

    def orders_table(self) -> pd.DataFrame:
        """Newest first: each order with its timeline (decision -> intent -> submit -> ack -> fill)
        and the slippage of its fills against the simulated fill."""
        slip = self.slippage_by_order()
        rows = list(reversed(self.orders))[:TABLE_ROWS]
        price: dict[str, float] = {}
        for f in self.fills:
            price[f["client_order_id"]] = f["price"]
        return fmt.text_table(
            {
                "client order id": [o["_id"] for o in rows],
                "symbol": [o["symbol"] for o in rows],
                "side": [o["side"] for o in rows],
                "quantity": [f"{o['quantity']:,.4g}" for o in rows],
                "type": [
                    o["order_type"] + (f" {o['limit_price']:.2f}" if o.get("limit_price") else "")
                    for o in rows
                ],
                "status": [o["status"] for o in rows],
                "decision bar": [fmt.timestamp(o.get("decision_time")) for o in rows],
                "timeline (UTC)": [self.timeline(o) for o in rows],
                "fill price": [fmt.money(price.get(o["_id"])) for o in rows],
                "slippage vs model": [_bps(slip.get(o["_id"])) for o in rows],
            }
        )

    @staticmethod
    def timeline(order: dict[str, Any]) -> str:
        tl = order.get("timeline") or {}
        steps = [f"{k} {_clock(tl[k])}" for k in ORDER_STEPS if k in tl]
        steps += [f"{k} {_clock(tl[k])}" for k in ORDER_ENDS[1:] if k in tl]
        return " → ".join(steps)

    def fills_table(self) -> pd.DataFrame:
        rows = list(reversed(self.fills))[:TABLE_ROWS]
        return fmt.text_table(
            {
                "bar": [fmt.timestamp(f.get("fill_time")) for f in rows],
                "symbol": [f["symbol"] for f in rows],
                "side": [f["side"] for f in rows],
                "quantity": [f"{f['quantity']:,.4g}" for f in rows],
                "price": [fmt.money(f["price"]) for f in rows],
                "fee": [fmt.money(f["fee"]) for f in rows],
                "simulated price": [fmt.money(f.get("simulated_price")) for f in rows],
                "slippage vs model": [_bps(f.get("slippage_bps")) for f in rows],
                "client order id": [f["client_order_id"] for f in rows],
            }
        )

    def decision_lines(self) -> list[str]:
        """The latest decision in words: the raw action, the target, what risk clipped, the orders."""
        d = self.view.get("last_decision")
        if not d:
            return ["No decision yet."]
        symbols = self.view.get("symbols") or []

        def weights(values: list[Any] | None) -> str:
            if not values:
                return fmt.MISSING
            return ", ".join(
                f"{s} {fmt.pct(v) if v is not None else 'hold'}"
                for s, v in zip(symbols, values, strict=False)
            )

        action = ", ".join(f"{a:.4g}" for a in d.get("action") or [])
        lines = [
            f"Bar {fmt.timestamp(d.get('time'))}: raw action [{action}]",
            f"Policy's target: {weights(d.get('target'))}",
        ]
        if d.get("weights") is not None:
            lines.append(f"After risk limits: {weights(d.get('weights'))}")
        if d.get("held"):
            lines.append(f"Held: {d['held']}")
        if d.get("price_holds"):
            lines.append(f"Price-sanity holds: {', '.join(d['price_holds'])}")
        if d.get("skipped"):
            lines.append(f"No orders: {d['skipped']}")
        orders = d.get("orders")
        if orders is not None:
            lines.append(
                f"Orders: {len(orders)}"
                + (f" ({', '.join(orders[:6])}{'…' if len(orders) > 6 else ''})" if orders else "")
            )
        return lines

    def event_lines(self) -> list[str]:
        """The session's log, newest first."""
        out = []
        for e in reversed((self.doc or {}).get("events") or []):
            bar = f" [bar {fmt.timestamp(e['bar'])}]" if e.get("bar") else ""
            out.append(f"{fmt.timestamp(e.get('at'))}{bar} {e.get('message', '')}")
        return out

    # ------------------------------------------------------------------ controls

    @property
    def can_reconcile(self) -> bool:
        return self.live and bool(self.view.get("reconcile_required"))

    def act(self, action: str, **params: Any) -> str:
        """Send a control request to the selected session; the message says what happens next."""
        if not self.live:
            self.message = "This session has ended; it takes no more requests."
            return self.message
        try:
            request(self.session_id, action, store=self.store, by=self.viewer.name, **params)
        except StockBotError as e:
            self.message = str(e)
            return self.message
        self.message = {
            "pause": "Entries paused: only orders that reduce a position go out.",
            "resume": "Resumed.",
            "stop": "Stopping: open orders are cancelled"
            + (", positions flattened at the next open." if params.get("flatten") else ", positions left."),
            "kill": "Kill switch: open orders cancelled; flattening at the next open, then halted.",
            "reconcile": "Reconciling: the broker's positions and cash are adopted.",
        }[action]
        self.refresh()
        return self.message

    def kill(self, typed: str) -> str:
        """The kill switch, armed by typing :data:`KILL_WORD`."""
        if typed.strip() != KILL_WORD:
            self.message = f"Type {KILL_WORD} to confirm the kill switch."
            return self.message
        return self.act("kill")

    # ------------------------------------------------------------------ starting a session

    def trained_runs(self) -> dict[str, str]:
        """Label -> id of the succeeded train runs this viewer may trade (newest first)."""
        owner = self.viewer.parent_owner
        docs, _ = self.runs.list(owner=owner, kind="train", status=RunStatus.SUCCEEDED.value, limit=100)
        out = {}
        for d in docs:
            symbols = ((d.get("config") or {}).get("data") or {}).get("symbols") or []
            label = d.get("name") or d["_id"]
            out[f"{label} · {', '.join(symbols[:4])}{'…' if len(symbols) > 4 else ''} · {d['_id']}"] = d[
                "_id"
            ]
        return out

    def start(self, values: dict[str, Any]) -> str | None:
        """Start a session from the form's values (run_id, broker, account, confirm, clock, feed,
        start, end, speed, initial_cash, name); its id, or None with :attr:`errors` set."""
        raw: dict[str, Any] = {
            "policy": {"run_id": values.get("run_id")},
            "broker": values.get("broker") or "paper",
        }
        for key in ("account", "confirm"):
            if values.get(key):
                raw[key] = values[key]
        kind = values.get("clock") or "replay"
        clock: dict[str, Any] = {"kind": kind}
        if kind == "replay":
            for key in ("start", "end", "speed"):
                if values.get(key) not in (None, ""):
                    clock[key] = values[key]
        else:  # today's bars from the chosen feed, for the trained run's symbols
            raw["data"] = {"provider": values.get("feed") or "alpaca", "dataset": None, "symbols": None}
        raw["clock"] = clock
        for key in ("initial_cash", "name"):
            if values.get(key) not in (None, ""):
                raw[key] = values[key]
        try:
            config = validate_live(
                raw, runs=self.runs, data_root=self.viewer.data_root, parent_owner=self.viewer.parent_owner
            )
            doc = start_session(config, self.viewer.name, store=self.store)
        except ConfigError as e:
            self.param.update(errors=list(e.errors), message="Not started: fix the fields marked.")
            return None
        except StockBotError as e:
            self.param.update(errors=[{"field": "data", "message": str(e)}], message=f"Not started: {e}")
            return None
        self._list_sessions()  # first: the page's selector must know the new session when it is selected
        self.param.update(errors=[], session_id=doc["_id"], message=f"Started {doc['_id']}.")
        self.refresh()
        return str(doc["_id"])


def _whole(x: float) -> bool:
    return float(x).is_integer()


def _times(q: float, price: float | None) -> float | None:
    return None if price is None else q * price


def _bps(x: float | None) -> str:
    if x is None or not np.isfinite(x):
        return fmt.MISSING
    text = f"{x:+.1f} bps"
    return "0.0 bps" if text in ("+0.0 bps", "-0.0 bps") else text
