"""A local stand-in for Schwab's trader API (``/trader/v1``), reached by a real schwab-py client
through :class:`tests.servers.schwab.RedirectTransport`: account numbers and hashes, the account with
its positions and balances, orders (place, get, list by entered time, cancel) with their executions.

Schwab has no client order id. ``place_order`` answers 201 with an empty body and the order's id in
the ``Location`` header, on the real host (schwab-py's ``Utils.extract_order_id`` only reads that).
The stand-in keeps one account in memory; orders stay ``WORKING`` until the test executes them
(:meth:`FakeSchwabTrading.execute`, in parts if it likes). It can also act out:

- :meth:`place_without_location`: the next order is placed and the 201 has no ``Location`` (Schwab
  does this, for an order filled at once, say);
- :meth:`place_then_fail`: the next order is placed and the answer is a 502;
- scripted answers (429, 401, rejects with Schwab's error body).

Its clock (entry and execution times) starts in 2017 and moves one second per event, unless
:meth:`follow_clock` makes it the present. It takes the one ``access_token``, or those ``bearer``
says are valid (a local OAuth provider's). ``fill_price`` (a function of the order) makes it execute
market orders in full when they arrive.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from typing import Any

from tests.servers.http import Request, Response, ScriptedServer

ACCOUNT_NUMBER, ACCOUNT_HASH = "12345678", "E5B3F1C2A9D84766B0C7A1F2D3E4B5C6"
BASE = "/trader/v1/accounts"
ORDERS = f"{BASE}/{ACCOUNT_HASH}/orders"
WORKING = ("WORKING", "QUEUED", "ACCEPTED", "PENDING_ACTIVATION", "NEW")


def error(status: int, message: str) -> Response:
    return Response.json({"message": message, "errors": [message]}, status=status)


def _stamp(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S+0000")


class FakeSchwabTrading(ScriptedServer):
    def __init__(
        self,
        cash: float = 100_000.0,
        access_token: str = "test-access-token",
        bearer: Callable[[str], bool] | None = None,
    ) -> None:
        super().__init__()
        self.access_token = access_token
        self.bearer = bearer
        self.fill_price: Callable[[dict[str, Any]], float] | None = None
        self._present: Callable[[], dt.datetime] | None = None
        self.initial_cash = cash
        self._clear()
        self.route("GET", f"{BASE}/accountNumbers", self._numbers)
        self.route("GET", f"{BASE}/{ACCOUNT_HASH}", self._account)
        self.route("POST", ORDERS, self._place)
        self.route("GET", ORDERS, self._list)
        self.route_match("GET", rf"{ORDERS}/\d+", self._get)
        self.route_match("DELETE", rf"{ORDERS}/\d+", self._cancel)

    def _clear(self) -> None:
        self._ids = itertools.count(1001)
        self.cash = self.initial_cash
        self.orders: dict[int, dict[str, Any]] = {}
        self.positions: dict[str, float] = {}
        self.last_price: dict[str, float] = {}
        self._next_place: str | None = None
        self.now = dt.datetime(2017, 4, 4, 13, 0, tzinfo=dt.UTC)  # the exchange's clock, moved by tests

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self._clear()

    # ------------------------------------------------------------------ what tests do

    def follow_clock(self, clock: Callable[[], dt.datetime] | None = None) -> None:
        """Entry and execution times from ``clock`` (the present by default), for a client that
        uses its own clock."""
        self._present = clock or (lambda: dt.datetime.now(dt.UTC))

    def _tick(self) -> dt.datetime:
        """The time of the next event: one second after the last, or the clock's time (never
        earlier than the last event)."""
        self.now = max(self.now, self._present()) if self._present else self.now + dt.timedelta(seconds=1)
        return self.now

    def place_without_location(self) -> None:
        self._next_place = "no-location"

    def place_then_fail(self) -> None:
        self._next_place = "fail"

    def execute(self, order_id: int, qty: float, price: float) -> None:
        with self._lock:
            o = self.orders[order_id]
            if o["status"] not in WORKING:
                raise AssertionError(f"order {order_id} is {o['status']}")
            leg = o["orderLegCollection"][0]
            filled = o["filledQuantity"] + qty
            if filled > o["quantity"] + 1e-9:
                raise AssertionError(f"{order_id}: {filled} filled of {o['quantity']}")
            sign = 1.0 if leg["instruction"] == "BUY" else -1.0
            symbol = leg["instrument"]["symbol"]
            self.positions[symbol] = self.positions.get(symbol, 0.0) + sign * qty
            self.cash -= sign * qty * price
            self.last_price[symbol] = price
            o["filledQuantity"] = filled
            o["remainingQuantity"] = o["quantity"] - filled
            o["status"] = "FILLED" if o["remainingQuantity"] <= 1e-9 else "WORKING"
            n = len(o["orderActivityCollection"]) + 1
            self._tick()
            o["orderActivityCollection"].append(
                {
                    "activityType": "EXECUTION",
                    "activityId": order_id * 100 + n,
                    "executionType": "FILL",
                    "quantity": qty,
                    "orderRemainingQuantity": o["remainingQuantity"],
                    "executionLegs": [
                        {"legId": 1, "quantity": qty, "price": price, "time": _stamp(self.now)}
                    ],
                }
            )

    # ------------------------------------------------------------------ the endpoints

    def _guard(self, req: Request) -> Response | None:
        token = (req.header("authorization") or "").removeprefix("Bearer ")
        if token != self.access_token and not (self.bearer is not None and self.bearer(token)):
            return error(401, "Client not authorized")
        return None

    def _numbers(self, req: Request) -> Response:
        numbers = [{"accountNumber": ACCOUNT_NUMBER, "hashValue": ACCOUNT_HASH}]
        return self._guard(req) or Response.json(numbers)

    def _account(self, req: Request) -> Response:
        if (refused := self._guard(req)) is not None:
            return refused
        value = sum(q * self.last_price.get(s, 0.0) for s, q in self.positions.items())
        account: dict[str, Any] = {
            "type": "MARGIN",
            "accountNumber": ACCOUNT_NUMBER,
            "currentBalances": {"cashBalance": self.cash, "liquidationValue": self.cash + value},
        }
        if "positions" in (req.param("fields") or ""):
            account["positions"] = [
                {
                    "longQuantity": max(q, 0.0),
                    "shortQuantity": max(-q, 0.0),
                    "marketValue": q * self.last_price.get(s, 0.0),
                    "instrument": {"assetType": "EQUITY", "symbol": s},
                }
                for s, q in sorted(self.positions.items())
                if q != 0.0
            ]
        return Response.json({"securitiesAccount": account})

    def _place(self, req: Request) -> Response:
        if (refused := self._guard(req)) is not None:
            return refused
        spec = req.json() or {}
        with self._lock:
            order_id = next(self._ids)
            self._tick()
            leg = spec["orderLegCollection"][0]
            self.orders[order_id] = {
                **spec,
                "orderId": order_id,
                "accountNumber": int(ACCOUNT_NUMBER),
                "status": "WORKING",
                "enteredTime": _stamp(self.now),
                "quantity": float(leg["quantity"]),
                "filledQuantity": 0.0,
                "remainingQuantity": float(leg["quantity"]),
                "cancelable": True,
                "orderActivityCollection": [],
            }
            mode, self._next_place = self._next_place, None
        if self.fill_price is not None and spec.get("orderType") == "MARKET":
            self.execute(order_id, float(leg["quantity"]), self.fill_price(self.orders[order_id]))
        if mode == "fail":
            return error(502, "Bad Gateway")
        if mode == "no-location":
            return Response(201)
        return Response(201, headers={"Location": f"https://api.schwabapi.com{ORDERS}/{order_id}"})

    def _list(self, req: Request) -> Response:
        if (refused := self._guard(req)) is not None:
            return refused
        lo, hi = req.param("fromEnteredTime"), req.param("toEnteredTime")
        if not lo or not hi:
            return error(400, "fromEnteredTime and toEnteredTime are required")
        start = dt.datetime.fromisoformat(lo.replace("Z", "+00:00"))
        end = dt.datetime.fromisoformat(hi.replace("Z", "+00:00"))
        rows = [
            o
            for o in self.orders.values()
            if start <= dt.datetime.strptime(o["enteredTime"], "%Y-%m-%dT%H:%M:%S%z") <= end
        ]
        return Response.json(rows)

    def _get(self, req: Request) -> Response:
        if (refused := self._guard(req)) is not None:
            return refused
        order = self.orders.get(int(req.path.rsplit("/", 1)[-1]))
        return Response.json(order) if order else error(404, "Order not found")

    def _cancel(self, req: Request) -> Response:
        if (refused := self._guard(req)) is not None:
            return refused
        with self._lock:
            order = self.orders.get(int(req.path.rsplit("/", 1)[-1]))
            if order is None:
                return error(404, "Order not found")
            if order["status"] not in WORKING:
                return error(400, f"order is {order['status']} and cannot be canceled")
            order["status"] = "CANCELED"
            order["cancelable"] = False
        return Response(200)
