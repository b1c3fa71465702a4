"""A local stand-in for Alpaca's trading API (``/v2``), spoken to by alpaca-py's real
``TradingClient`` (``url_override``): account, positions, orders (create, list open, get by id or by
client order id, cancel) and the account's FILL activities.

It keeps one account in memory. Orders are accepted with a UUID and stay open until the test
executes them (:meth:`FakeAlpacaTrading.execute`, in parts if it likes) or they are cancelled; every
execution is an activity and moves the position and the cash. It can also act out what the real
service does to a careless client:

- a client order id seen before answers 422 ``client_order_id must be unique`` (code 40010001);
- :meth:`accept_then_fail`: the next order is accepted, and the answer is a 504 (or anything else),
  as when a gateway times out after the order went in;
- any scripted answer (:meth:`ScriptedServer.script`): 429, 5xx, rejects with a broker code;
- Alpaca's order rules: an ``opg`` order between 09:28 and 19:00 New York time (by :attr:`clock`)
  and a fractional quantity on anything but a market DAY order are refused (422, code 42210000).

It takes API keys (``keys``) or OAuth bearer tokens (``bearer``: a function saying which are
valid, e.g. a local OAuth provider's). ``fill_price`` (a function of the order) makes it execute
market orders in full when they arrive, as a market that is open would.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import threading
import uuid
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import serve

from tests.servers.http import Request, Response, ScriptedServer

ORDERS = "/v2/orders"
BY_CLIENT_ID = "/v2/orders:by_client_order_id"
FILLS = "/v2/account/activities/FILL"
OPEN = ("new", "accepted", "partially_filled")
NEW_YORK = ZoneInfo("America/New_York")
OPG_REFUSED = (dt.time(9, 28), dt.time(19, 0))  # Alpaca refuses opg orders from 09:28 to 19:00 ET


def _stamp(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _now() -> str:
    return _stamp(dt.datetime.now(dt.UTC))


def error(status: int, code: int, message: str) -> Response:
    return Response.json({"code": code, "message": message}, status=status)


class FakeAlpacaTrading(ScriptedServer):
    def __init__(
        self,
        cash: float = 100_000.0,
        keys: dict[str, str] | None = None,
        bearer: Callable[[str], bool] | None = None,
    ) -> None:
        super().__init__()
        self.keys = dict(keys if keys is not None else {"k": "s"})
        self.bearer = bearer
        self.clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
        self.fill_price: Callable[[dict[str, Any]], float] | None = None
        self.stream: FakeTradeStream | None = None  # the trade_updates stand-in, when one runs
        self.initial_cash = cash
        self.account_id = str(uuid.uuid4())
        self._clear()
        self.route("GET", "/v2/account", self._account)
        self.route("GET", "/v2/positions", self._positions)
        self.route("POST", ORDERS, self._create)
        self.route("GET", ORDERS, self._list)
        self.route("GET", BY_CLIENT_ID, self._by_client_id)
        self.route_match("GET", r"/v2/orders/[0-9a-f-]{36}", self._get)
        self.route_match("DELETE", r"/v2/orders/[0-9a-f-]{36}", self._cancel)
        self.route("GET", FILLS, self._fills)

    def _clear(self) -> None:
        self.cash = self.initial_cash
        self.orders: dict[str, dict[str, Any]] = {}  # by order id
        self.positions: dict[str, float] = {}
        self.last_price: dict[str, float] = {}
        self.activities: list[dict[str, Any]] = []
        self.refused: list[dict[str, Any]] = []  # orders refused by the order rules, with when
        self.received: list[dict[str, Any]] = []  # every order request, with its clock time
        self._fail_after_accept: Response | None = None
        self._last_fill = dt.datetime.min.replace(tzinfo=dt.UTC)

    def reset(self) -> None:
        """Also a fresh account: no orders, positions or activities."""
        super().reset()
        with self._lock:
            self._clear()

    # ------------------------------------------------------------------ what tests do

    def accept_then_fail(self, answer: Response | None = None) -> None:
        """The next order is taken, and its answer is ``answer`` (a 504 by default)."""
        self._fail_after_accept = answer or error(504, 50400000, "gateway timeout")

    def by_client_id(self, client_order_id: str) -> dict[str, Any] | None:
        return next((o for o in self.orders.values() if o["client_order_id"] == client_order_id), None)

    def execute(self, client_order_id: str, qty: float, price: float) -> None:
        """An execution of ``qty`` at ``price`` (a partial fill when less than what is left)."""
        with self._lock:
            o = self.by_client_id(client_order_id)
            if o is None or o["status"] not in OPEN:
                raise AssertionError(f"no open order {client_order_id}")
            filled = float(o["filled_qty"]) + qty
            left = float(o["qty"]) - filled
            if left < -1e-9:
                raise AssertionError(f"{client_order_id}: {filled} filled of {o['qty']}")
            sign = 1.0 if o["side"] == "buy" else -1.0
            symbol = o["symbol"]
            self.positions[symbol] = self.positions.get(symbol, 0.0) + sign * qty
            self.cash -= sign * qty * price
            self.last_price[symbol] = price
            avg = float(o["filled_avg_price"] or 0.0)
            o["filled_avg_price"] = str((avg * float(o["filled_qty"]) + price * qty) / filled)
            o["filled_qty"] = str(filled)
            o["status"] = "filled" if left <= 1e-9 else "partially_filled"
            o["updated_at"] = o["filled_at"] = _now()
            n = len(self.activities) + 1
            at = max(dt.datetime.now(dt.UTC), self._last_fill + dt.timedelta(microseconds=1))
            self._last_fill = at
            self.activities.append(
                {
                    "id": f"{at:%Y%m%d%H%M%S%f}::{n:08d}-0000-4000-8000-000000000000",
                    "activity_type": "FILL",
                    "transaction_time": _stamp(at),
                    "type": "fill" if left <= 1e-9 else "partial_fill",
                    "price": str(price),
                    "qty": str(qty),
                    "side": o["side"],
                    "symbol": symbol,
                    "leaves_qty": str(max(left, 0.0)),
                    "order_id": o["id"],
                    "cum_qty": str(filled),
                    "order_status": o["status"],
                }
            )
            order = dict(o)
        if self.stream is not None:
            self.stream.publish(order, qty, price, "fill" if left <= 1e-9 else "partial_fill")

    # ------------------------------------------------------------------ the endpoints

    def _authorised(self, req: Request) -> bool:
        auth = req.header("authorization") or ""
        if auth.startswith("Bearer ") and self.bearer is not None:
            return self.bearer(auth.removeprefix("Bearer "))
        key, secret = req.header("apca-api-key-id"), req.header("apca-api-secret-key")
        return key is not None and self.keys.get(key) == secret

    def _rule(self, body: dict[str, Any]) -> str | None:
        """Why Alpaca's order rules refuse ``body``, if they do."""
        tif, qty = body.get("time_in_force"), float(body["qty"])
        if tif == "opg":
            local = self.clock().astimezone(NEW_YORK).time()
            if OPG_REFUSED[0] <= local < OPG_REFUSED[1]:
                return "opg orders are accepted only between 19:00 and 09:28 ET"
        if not qty.is_integer() and (body.get("type") != "market" or tif != "day"):
            return "fractional orders must be market orders with time_in_force day"
        return None

    def _guard(self, req: Request) -> Response | None:
        if not self._authorised(req):
            return error(401, 40110000, "request is not authorized")
        return None

    def _account(self, req: Request) -> Response:
        if (refused := self._guard(req)) is not None:
            return refused
        value = sum(q * self.last_price.get(s, 0.0) for s, q in self.positions.items())
        return Response.json(
            {
                "id": self.account_id,
                "account_number": "PA1234567",
                "status": "ACTIVE",
                "currency": "USD",
                "cash": str(self.cash),
                "equity": str(self.cash + value),
                "buying_power": str(self.cash),
                "portfolio_value": str(self.cash + value),
                "pattern_day_trader": False,
                "trading_blocked": False,
                "transfers_blocked": False,
                "account_blocked": False,
                "created_at": "2017-01-01T00:00:00Z",
                "shorting_enabled": False,
                "multiplier": "1",
                "long_market_value": str(value),
                "short_market_value": "0",
                "initial_margin": "0",
                "maintenance_margin": "0",
                "sma": "0",
                "daytrade_count": 0,
            }
        )

    def _positions(self, req: Request) -> Response:
        if (refused := self._guard(req)) is not None:
            return refused
        out = []
        for symbol, qty in sorted(self.positions.items()):
            if abs(qty) < 1e-12:
                continue
            price = self.last_price.get(symbol, 0.0)
            out.append(
                {
                    "asset_id": str(uuid.uuid5(uuid.NAMESPACE_DNS, symbol)),
                    "symbol": symbol,
                    "exchange": "NASDAQ",
                    "asset_class": "us_equity",
                    "avg_entry_price": str(price),
                    "qty": str(qty),
                    "side": "long" if qty > 0 else "short",
                    "market_value": str(qty * price),
                    "cost_basis": str(qty * price),
                }
            )
        return Response.json(out)

    def _create(self, req: Request) -> Response:
        if (refused := self._guard(req)) is not None:
            return refused
        body = req.json() or {}
        cid = body.get("client_order_id") or str(uuid.uuid4())
        with self._lock:
            self.received.append({**body, "at": self.clock()})
            if self.by_client_id(cid) is not None:
                return error(422, 40010001, "client_order_id must be unique")
            if body.get("qty") is None or float(body["qty"]) <= 0:
                return error(422, 40010001, "qty must be > 0")
            if (why := self._rule(body)) is not None:
                self.refused.append({**body, "at": self.clock(), "why": why})
                return error(422, 42210000, why)
            at = _now()
            order = {
                "id": str(uuid.uuid4()),
                "client_order_id": cid,
                "created_at": at,
                "updated_at": at,
                "submitted_at": at,
                "filled_at": None,
                "canceled_at": None,
                "asset_id": str(uuid.uuid5(uuid.NAMESPACE_DNS, body["symbol"])),
                "symbol": body["symbol"],
                "asset_class": "us_equity",
                "qty": str(body["qty"]),
                "filled_qty": "0",
                "filled_avg_price": None,
                "order_class": "simple",
                "order_type": body["type"],
                "type": body["type"],
                "side": body["side"],
                "time_in_force": body["time_in_force"],
                "limit_price": None if body.get("limit_price") is None else str(body["limit_price"]),
                "status": "accepted",
                "extended_hours": False,
            }
            self.orders[order["id"]] = order
            failure, self._fail_after_accept = self._fail_after_accept, None
        if self.fill_price is not None and order["type"] == "market":
            self.execute(cid, float(order["qty"]), self.fill_price(order))
        return failure if failure is not None else Response.json(order)

    def _list(self, req: Request) -> Response:
        if (refused := self._guard(req)) is not None:
            return refused
        status = req.param("status", "open")
        rows = [
            o for o in self.orders.values() if status == "all" or (o["status"] in OPEN) == (status == "open")
        ]
        return Response.json(rows)

    def _get(self, req: Request) -> Response:
        if (refused := self._guard(req)) is not None:
            return refused
        order = self.orders.get(req.path.rsplit("/", 1)[-1])
        return Response.json(order) if order else error(404, 40410000, "order not found")

    def _by_client_id(self, req: Request) -> Response:
        if (refused := self._guard(req)) is not None:
            return refused
        order = self.by_client_id(req.param("client_order_id") or "")
        return Response.json(order) if order else error(404, 40410000, "order not found")

    def _cancel(self, req: Request) -> Response:
        if (refused := self._guard(req)) is not None:
            return refused
        with self._lock:
            order = self.orders.get(req.path.rsplit("/", 1)[-1])
            if order is None:
                return error(404, 40410000, "order not found")
            if order["status"] not in OPEN:
                return error(422, 42210000, f"order is already in '{order['status']}' state")
            order["status"] = "canceled"
            order["canceled_at"] = order["updated_at"] = _now()
        return Response(204)

    def _fills(self, req: Request) -> Response:
        if (refused := self._guard(req)) is not None:
            return refused
        rows = self.activities
        after = req.param("after")
        if after:
            rows = [a for a in rows if a["transaction_time"] > after]
        token = req.param("page_token")
        if token:
            ids = [a["id"] for a in rows]
            rows = rows[ids.index(token) + 1 :] if token in ids else []
        size = int(req.param("page_size") or 100)
        return Response.json(rows[:size])


class FakeTradeStream:
    """Alpaca's ``trade_updates`` WebSocket on 127.0.0.1 (``url``: its ``/stream``), fed by a
    :class:`FakeAlpacaTrading` (``trading.stream = this``): each execution is an event, sent twice
    when ``duplicates`` is set (Alpaca does that). :meth:`drop` cuts every connection (mid-fill, if
    the test likes) and, with ``down``, refuses new ones until :meth:`up`."""

    def __init__(self, trading: FakeAlpacaTrading) -> None:
        self.trading = trading
        self.duplicates = False
        self.mute = False  # the connection stays up and says nothing (an event lost on the way)
        self.logins = 0
        self.sent: list[dict[str, Any]] = []
        self._clients: set[Any] = set()
        self._lock = threading.Lock()
        self._down = False

    def __enter__(self) -> FakeTradeStream:
        self._server = serve(self._handle, "127.0.0.1", 0)
        self.url = f"ws://127.0.0.1:{self._server.socket.getsockname()[1]}/stream"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.trading.stream = self
        return self

    def __exit__(self, *exc: object) -> None:
        self.trading.stream = None
        self.drop()
        self._server.shutdown()
        self._thread.join(timeout=10)

    def _handle(self, ws: Any) -> None:
        if self._down:
            ws.close()
            return
        try:
            login = json.loads(ws.recv(timeout=10))
            data = login.get("data") or {}
            token = data.get("oauth_token")
            ok = login.get("action") == "authenticate" and (
                (token is not None and self.trading.bearer is not None and self.trading.bearer(token))
                or self.trading.keys.get(data.get("key_id")) == data.get("secret_key")
            )
            status = "authorized" if ok else "unauthorized"
            ws.send(
                json.dumps({"stream": "authorization", "data": {"status": status, "action": "authenticate"}})
            )
            if not ok:
                ws.close()
                return
            listen = json.loads(ws.recv(timeout=10))
            streams = (listen.get("data") or {}).get("streams") or []
            ws.send(json.dumps({"stream": "listening", "data": {"streams": streams}}))
            with self._lock:
                self.logins += 1
                self._clients.add(ws)
            for _ in ws:  # until it closes
                pass
        except (ConnectionClosed, TimeoutError, ValueError):
            pass
        finally:
            with self._lock:
                self._clients.discard(ws)

    def publish(self, order: dict[str, Any], qty: float, price: float, event: str) -> None:
        message = {
            "stream": "trade_updates",
            "data": {
                "event": event,
                "execution_id": str(uuid.uuid4()),
                "order": dict(order),
                "timestamp": order["updated_at"],
                "price": str(price),
                "qty": str(qty),
                "position_qty": str(self.trading.positions.get(order["symbol"], 0.0)),
            },
        }
        with self._lock:
            clients = [] if self.mute else list(self._clients)
        for ws in clients:
            for _ in range(2 if self.duplicates else 1):
                with contextlib.suppress(ConnectionClosed):
                    ws.send(json.dumps(message))
        self.sent.append(message)

    def connected(self) -> int:
        with self._lock:
            return len(self._clients)

    def drop(self, *, down: bool = False) -> None:
        self._down = down
        with self._lock:
            clients = list(self._clients)
        for ws in clients:
            ws.close()

    def up(self) -> None:
        self._down = False
