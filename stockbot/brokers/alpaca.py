"""Alpaca through alpaca-py's ``TradingClient``, on the :class:`~stockbot.brokers.base.Broker`
protocol (paper or live endpoint by ``paper``).

alpaca-py's hazards (../shared/NOTES-live.md), each handled here:

- it retries every request on 429 and 504, POST included, so a submit whose answer was lost would be
  sent again: the client's retry is turned off and a doubtful submit is resolved by
  :meth:`AlpacaBroker.lookup` (``get_order_by_client_id``), never by sending again;
- its requests have no timeout: a session that sets one on every request replaces its own;
- a client order id it has seen answers 422 "client_order_id must be unique" (code 40010001 is
  Alpaca's generic validation code, so the message is matched): the order is there, an outcome of
  ``unknown`` for the lookup to confirm;
- ``TradingClient`` has no method for fills: they come from the account's FILL activities, one per
  execution (partial fills are separate executions and sum exactly to the order's filled quantity).

Units: Alpaca holds raw shares and quotes raw prices; fills carry the raw price (``adj_factor`` 1).
Vendor errors become :class:`RejectedError` (the broker's code and message),
:class:`TemporaryError` (a timeout, 429, 5xx: look it up later) or :class:`AuthExpiredError`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, QueryOrderStatus, TimeInForce
from alpaca.trading.requests import GetOrdersRequest, LimitOrderRequest, MarketOrderRequest
from pydantic import ValidationError

from stockbot.brokers.alpaca_stream import FillStream, fill_key
from stockbot.brokers.base import (
    AuthExpiredError,
    BrokerAccount,
    BrokerFill,
    BrokerOrder,
    OneAtATime,
    OrderState,
    Outcome,
    RejectedError,
    SubmitResult,
    TemporaryError,
)
from stockbot.execution.records import Order
from stockbot.execution.venue import Bar

log = logging.getLogger(__name__)

DUPLICATE = "client_order_id must be unique"
TIMEOUT_SECONDS = 10.0
PAGE_SIZE = 100
_STATES: dict[str, OrderState] = {
    "filled": "filled",
    "canceled": "cancelled",
    "replaced": "cancelled",
    "expired": "expired",
    "done_for_day": "expired",
    "rejected": "rejected",
    "suspended": "rejected",
}  # every other status is an order still working at the broker: "accepted"


class _TimeoutSession(requests.Session):
    """A session whose every request gives up after ``timeout`` seconds (alpaca-py sets none)."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, *args, **kwargs)


def _code_and_message(e: APIError) -> tuple[str | None, str]:
    try:
        body = json.loads(str(e._error))
        return (str(body.get("code")) if body.get("code") is not None else None), str(body.get("message", e))
    except (ValueError, TypeError, AttributeError):
        return None, str(e)


def _state(status: Any) -> OrderState:
    value = getattr(status, "value", status)
    return _STATES.get(str(value), "accepted")


class AlpacaBroker(OneAtATime):  # Alpaca has no batch endpoints
    name = "alpaca"
    exact_cursor = False

    def __init__(
        self,
        *,
        api_key: str | None = None,
        secret_key: str | None = None,
        oauth_token: str | None = None,
        paper: bool = True,
        url_override: str | None = None,
        since: dt.datetime | None = None,
        timeout: float = TIMEOUT_SECONDS,
        client: TradingClient | None = None,
        opening_auction: bool = False,
        stream: FillStream | None = None,
    ) -> None:
        """``since``: fills before it are not the session's (its start). ``opening_auction``:
        whole-share market orders go as market-on-open (``opg``: a daily decision filled at the
        next open; Alpaca takes them only 19:00-09:28 ET); fractional ones stay market DAY (Alpaca
        takes fractions on nothing else), as do limit orders. ``stream``: executions from
        ``trade_updates`` (started here), the activities then read only as its backfill."""
        self.paper = paper
        self.stream = stream.start() if stream is not None else None
        self.since = since
        self.opening_auction = opening_auction
        self.client = client or TradingClient(
            api_key=None if oauth_token else api_key,
            secret_key=None if oauth_token else secret_key,
            oauth_token=oauth_token,
            paper=paper,
            url_override=url_override,
        )
        self.client._retry = 0  # the SDK's own retry would send a submit twice
        self.client._session = _TimeoutSession(timeout)
        self._client_ids: dict[str, str] = {}  # Alpaca's order id -> our client order id

    # ------------------------------------------------------------------ calls

    def _call(self, what: str, fn: Any, *args: Any) -> Any:
        """One request; vendor failures as our errors (a 404 answers None)."""
        try:
            return fn(*args)
        except APIError as e:
            code, message = _code_and_message(e)
            status = e.status_code
            if status == 404:
                return None
            if status == 401:  # (a 403 is a business refusal: buying power, a blocked account)
                raise AuthExpiredError(
                    f"alpaca refused {what} ({status}): {message}; connect the account again"
                ) from e
            if status == 429 or (status is not None and status >= 500):
                raise TemporaryError(f"alpaca could not answer {what} now ({status}): {message}") from e
            raise RejectedError(f"alpaca rejected {what}: {message}", code) from e
        except requests.RequestException as e:  # a timeout, a dropped connection
            raise TemporaryError(f"alpaca did not answer {what}: {e}") from e

    # ------------------------------------------------------------------ the account

    def account(self) -> BrokerAccount:
        a = self._call("the account", self.client.get_account)
        return BrokerAccount(cash=float(a.cash), equity=float(a.equity))

    def positions(self) -> dict[str, float]:
        out = {}
        for p in self._call("the positions", self.client.get_all_positions) or []:
            qty = abs(float(p.qty))
            out[p.symbol] = -qty if getattr(p.side, "value", p.side) == "short" else qty
        return {s: q for s, q in out.items() if q != 0.0}

    # ------------------------------------------------------------------ orders

    def submit(self, order: Order) -> SubmitResult:
        cid = order.client_order_id
        side = OrderSide.BUY if order.side == "buy" else OrderSide.SELL
        common = {"symbol": order.symbol, "qty": order.quantity, "side": side, "client_order_id": cid}
        if order.order_type == "limit":
            req: Any = LimitOrderRequest(
                **common, time_in_force=TimeInForce.DAY, limit_price=round(float(order.limit_price or 0), 2)
            )
        else:
            req = MarketOrderRequest(**common, time_in_force=self.time_in_force(order))
        try:
            placed = self.client.submit_order(req)
        except APIError as e:
            code, message = _code_and_message(e)
            if e.status_code == 422 and DUPLICATE in message:
                return SubmitResult(Outcome.UNKNOWN, cid, None, message, duplicate=True)
            if e.status_code == 401:
                raise AuthExpiredError(f"alpaca refused the order ({e.status_code}): {message}") from e
            if e.status_code is not None and 400 <= e.status_code < 500 and e.status_code != 429:
                return SubmitResult(Outcome.REJECTED, cid, None, f"{message} (alpaca code {code})")
            return SubmitResult(Outcome.UNKNOWN, cid, None, f"alpaca answered {e.status_code}: {message}")
        except requests.RequestException as e:
            return SubmitResult(Outcome.UNKNOWN, cid, None, f"no answer from alpaca: {e}")
        except ValidationError as e:  # it was taken, and its answer could not be read: look it up
            return SubmitResult(Outcome.UNKNOWN, cid, None, f"alpaca's answer could not be read: {e}")
        self._client_ids[str(placed.id)] = cid
        return SubmitResult(Outcome.ACCEPTED, cid, str(placed.id))

    def time_in_force(self, order: Order) -> TimeInForce:
        whole = float(order.quantity).is_integer()
        if self.opening_auction and order.order_type == "market" and whole:
            return TimeInForce.OPG
        return TimeInForce.DAY

    def _order(self, client_order_id: str) -> Any:
        return self._call(f"order {client_order_id}", self.client.get_order_by_client_id, client_order_id)

    def lookup(self, client_order_id: str) -> BrokerOrder | None:
        o = self._order(client_order_id)
        return None if o is None else self._report(o)

    def cancel(self, client_order_id: str) -> bool:
        o = self._order(client_order_id)
        if o is None or _state(o.status) != "accepted":
            return False
        try:
            self._call(f"the cancel of {client_order_id}", self.client.cancel_order_by_id, str(o.id))
        except RejectedError:  # it filled or ended meanwhile
            return False
        return True

    def open_orders(self) -> list[BrokerOrder]:
        req = GetOrdersRequest(status=QueryOrderStatus.OPEN, limit=500)
        return [self._report(o) for o in self._call("the open orders", self.client.get_orders, req) or []]

    def _report(self, o: Any) -> BrokerOrder:
        self._client_ids[str(o.id)] = o.client_order_id
        side = getattr(o.side, "value", o.side)
        return BrokerOrder(
            client_order_id=o.client_order_id,
            broker_order_id=str(o.id),
            symbol=str(o.symbol),
            side="buy" if side == "buy" else "sell",
            quantity=float(o.qty or 0.0),
            status=_state(o.status),
            filled_quantity=float(o.filled_qty or 0.0),
        )

    # ------------------------------------------------------------------ fills

    def _activities(self) -> list[dict[str, Any]]:
        """Every FILL activity since :attr:`since`, oldest first (page by page)."""
        rows: list[dict[str, Any]] = []
        token = None
        while True:
            params: dict[str, Any] = {"direction": "asc", "page_size": PAGE_SIZE}
            if self.since is not None:
                params["after"] = self.since.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
            if token:
                params["page_token"] = token
            page = self._call("the fills", self.client.get, "/account/activities/FILL", params) or []
            rows += page
            if len(page) < PAGE_SIZE:
                return rows
            token = page[-1]["id"]

    def _client_id(self, order_id: str) -> str:
        cid = self._client_ids.get(order_id)
        if cid is None:
            placed = self._call("an order's id", self.client.get_order_by_id, order_id)
            cid = placed.client_order_id if placed is not None else f"unknown:{order_id}"
            self._client_ids[order_id] = cid
        return cid

    def fills_since(self, cursor: int) -> list[BrokerFill]:
        """The account's executions after the first ``cursor`` of them (the cursor counts them),
        each keyed ``<order id>:<cumulative filled quantity>``. With a stream: its executions,
        with the activities read as a backfill at the start and after each reconnect."""
        if self.stream is None:
            rows = [{**self._activity(a), "quantity": float(a["qty"])} for a in self._activities()]
        else:
            generation = self.stream.take_backfill()
            if generation is not None:
                for a in self._activities():
                    self.stream.add(**self._activity(a), backfill=True)
                self.stream.backfilled(generation)
            rows = self.stream.executions()
        out = []
        for n, r in enumerate(rows, start=1):
            if n <= cursor:
                continue
            out.append(
                BrokerFill(
                    fill_id=fill_key(r["order_id"], r["cumulative"]),
                    cursor=n,
                    client_order_id=r["client_order_id"] or self._client_id(r["order_id"]),
                    symbol=r["symbol"],
                    side="buy" if r["side"] == "buy" else "sell",
                    quantity=r["quantity"],
                    price=r["price"],
                    fee=0.0,  # commission-free; regulatory fees show in the account's cash
                    slippage_cost=0.0,  # measured against the shadow's simulated fill instead
                    time=r["time"],
                    raw_price=r["price"],
                    adj_factor=1.0,
                    order_ref=r["order_id"],
                    cumulative=r["cumulative"],
                )
            )
        return out

    def _activity(self, a: dict[str, Any]) -> dict[str, Any]:
        """A FILL activity as an execution (its order's cumulative filled quantity keys it)."""
        return {
            "order_id": str(a["order_id"]),
            "client_order_id": self._client_ids.get(str(a["order_id"])),
            "symbol": str(a["symbol"]),
            "side": str(a["side"]),
            "cumulative": float(a["cum_qty"]),
            "price": float(a["price"]),
            "time": str(a["transaction_time"]),
        }

    def resync(self) -> None:
        """The next :meth:`fills_since` reads the activities again (the stream may be behind)."""
        if self.stream is not None:
            self.stream.resync()

    def close(self) -> None:
        if self.stream is not None:
            self.stream.stop()

    def on_bar(self, bar: Bar) -> None:
        """Alpaca fills on its own; a closed bar changes nothing here."""
