"""Alpaca's ``trade_updates`` stream as a fill source (alpaca-py's ``TradingStream`` on a thread).

The stream is the prompt source of a session's executions; the account's FILL activities
(:meth:`AlpacaBroker.fills_since`) fill in what it missed: at the start and after every reconnect
(Alpaca replays nothing to a new connection). Alpaca also sends the same event twice. So every
execution is keyed by its order and the order's cumulative filled quantity after it
(``<order id>:<cum qty>``), which the stream's events and the activities both carry: the same
execution from either source, or twice from one, is one fill, and a partial fill's quantity is
the step in the cumulative quantity (its own ``qty`` field is not trusted).

``TradingStream`` takes API keys only: with an OAuth token the authentication message carries
``oauth_token`` instead (the subclass's one change).
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from alpaca.trading.stream import TradingStream

log = logging.getLogger(__name__)

FILL_EVENTS = ("fill", "partial_fill")


def fill_key(order_id: str, cumulative: float) -> str:
    return f"{order_id}:{float(cumulative)!r}"


class _Stream(TradingStream):
    def __init__(self, owner: FillStream, oauth_token: str | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.owner = owner
        self.oauth_token = oauth_token

    async def _start_ws(self) -> None:  # every (re)connect: connect, log in, listen
        await super()._start_ws()
        self.owner.connected()  # listening now: what came before is the backfill's

    async def _auth(self) -> None:
        data = (
            {"oauth_token": self.oauth_token}
            if self.oauth_token
            else {"key_id": self._api_key, "secret_key": self._secret_key}
        )
        await self._ws.send(json.dumps({"action": "authenticate", "data": data}))
        answer = json.loads(await self._ws.recv())
        if (answer.get("data") or {}).get("status") != "authorized":
            raise ValueError(f"alpaca's stream refused the login: {answer}")


class FillStream:
    """Executions from ``trade_updates``, kept by key; :meth:`take_backfill` says when the REST
    activities must be read again (at the start, after every reconnect).

    Each connection is a generation. An execution the stream brings in a generation whose backfill
    has not been read yet is held back: an earlier partial fill of its order may be missing, and
    the step in the cumulative quantity would then be wrong."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        secret_key: str | None = None,
        oauth_token: str | None = None,
        paper: bool = True,
        url_override: str | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self.rows: dict[str, dict[str, Any]] = {}  # key -> execution
        self._filled: dict[str, float] = {}  # order id -> cumulative quantity seen
        self._seen: set[str] = set()  # execution ids
        self.connects = 0  # the generation: connections so far
        self._backfilled = -1  # the last generation whose backfill was read
        self._stream = _Stream(
            self,
            oauth_token,
            api_key=api_key or "",
            secret_key=secret_key or "",
            paper=paper,
            raw_data=True,
            url_override=url_override,
        )
        self._stream.subscribe_trade_updates(self._on_update)
        self._thread = threading.Thread(target=self._stream.run, name="alpaca-trade-updates", daemon=True)

    def start(self) -> FillStream:
        self._thread.start()
        return self

    def stop(self) -> None:
        loop = self._stream._loop
        if loop is not None and loop.is_running():
            self._stream.stop()
        self._thread.join(timeout=10)

    # ------------------------------------------------------------------ what the stream says

    def connected(self) -> None:
        with self._lock:
            self.connects += 1  # what happened while it was away comes from the activities
        log.info("alpaca trade_updates connected (%d)", self.connects)

    async def _on_update(self, msg: Any) -> None:
        data = msg.get("data") if isinstance(msg, dict) and "data" in msg else msg
        if not isinstance(data, dict) or data.get("event") not in FILL_EVENTS:
            return
        order = data.get("order") or {}
        try:
            self.add(
                order_id=str(order["id"]),
                client_order_id=str(order.get("client_order_id")),
                symbol=str(order["symbol"]),
                side=str(order["side"]),
                cumulative=float(order["filled_qty"]),
                price=float(data["price"]),
                time=str(data.get("timestamp") or order.get("filled_at")),
                execution_id=data.get("execution_id"),
            )
        except (KeyError, TypeError, ValueError) as e:  # a malformed event: the backfill has it
            log.warning("alpaca trade_updates: an unreadable fill event (%s); the activities will tell", e)
            self.resync()

    def add(
        self,
        *,
        order_id: str,
        client_order_id: str | None,
        symbol: str,
        side: str,
        cumulative: float,
        price: float,
        time: str,
        execution_id: str | None = None,
        backfill: bool = False,
    ) -> None:
        """One execution, from the stream or (``backfill``) the activities: once, whatever its
        source."""
        key = fill_key(order_id, cumulative)
        with self._lock:
            if key in self.rows or (execution_id is not None and execution_id in self._seen):
                return
            if execution_id is not None:
                self._seen.add(execution_id)
            self.rows[key] = {
                "key": key,
                "order_id": order_id,
                "client_order_id": client_order_id,
                "symbol": symbol,
                "side": side,
                "cumulative": cumulative,
                "price": price,
                "time": time,
                "generation": -1 if backfill else self.connects,
            }
            self._filled[order_id] = max(self._filled.get(order_id, 0.0), cumulative)

    def take_backfill(self) -> int | None:
        """The generation whose backfill is due (the activities are read, then
        :meth:`backfilled` is told), or None when it was read since the last (re)connect."""
        with self._lock:
            return self.connects if self._backfilled < self.connects else None

    def resync(self) -> None:
        """Read the activities again at the next look (the stream may be behind the account)."""
        with self._lock:
            self._backfilled = min(self._backfilled, self.connects - 1)

    def backfilled(self, generation: int) -> None:
        with self._lock:
            self._backfilled = max(self._backfilled, generation)

    def executions(self) -> list[dict[str, Any]]:
        """Every execution so far whose generation was backfilled, oldest first, each with its
        ``quantity``: the step in its order's cumulative filled quantity."""
        with self._lock:
            rows = [r for r in self.rows.values() if r["generation"] <= self._backfilled]
        out, before = [], {}
        for r in sorted(rows, key=lambda r: (r["order_id"], r["cumulative"])):
            before_qty = before.get(r["order_id"], 0.0)
            out.append({**r, "quantity": r["cumulative"] - before_qty})
            before[r["order_id"]] = r["cumulative"]
        return sorted(out, key=lambda r: (r["time"], r["order_id"], r["cumulative"]))
