"""Schwab through schwab-py, on the :class:`~stockbot.brokers.base.Broker` protocol. Schwab has no
paper mode: a Schwab account always trades real money.

Schwab knows no client order id, so this adapter keeps one of its own (``ids``: our client order id
-> what was sent, when, and Schwab's order id once known), written before the order goes out. Its
only receipt is the ``Location`` header of the 201; when that is missing or the answer is in doubt
(a timeout, a 5xx), :meth:`SchwabBroker.lookup` searches the account's orders of every status entered
since the order was sent (an order filled at once is no longer open), excluding ids already adopted,
and adopts the single one that matches symbol, side, quantity, type and price. None found: the order
is not there. Several: :class:`AmbiguousOrderError`, which a session turns into
``reconcile_required`` for that symbol. An order is never sent twice to resolve a doubt.

Fills are each order's ``orderActivityCollection[].executionLegs[]``; orders that ended are read
once. No market-on-open order and no fractional shares: quantities must be whole. Every request has
a timeout. Vendor failures become :class:`RejectedError`, :class:`TemporaryError` or
:class:`AuthExpiredError`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, MutableMapping
from typing import Any

import httpx
from authlib.integrations.base_client import OAuthError
from authlib.oauth2.rfc6749.errors import OAuth2Error

from stockbot.brokers.base import (
    AmbiguousOrderError,
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
AUTH_ERRORS = (OAuthError, OAuth2Error)

TIMEOUT_SECONDS = 15.0
SLACK = dt.timedelta(seconds=5)  # clocks: ours against Schwab's order entry time
_ENDED: dict[str, OrderState] = {
    "FILLED": "filled",
    "CANCELED": "cancelled",
    "REPLACED": "cancelled",
    "EXPIRED": "expired",
    "REJECTED": "rejected",
}  # every other status is an order still working at Schwab: "accepted"


def _time(value: str) -> dt.datetime:
    """Schwab's ``2017-04-04T13:30:00+0000`` (fractions of a second too)."""
    text = str(value)
    if len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit():
        text = f"{text[:-2]}:{text[-2:]}"
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _message(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:200] or f"HTTP {resp.status_code}"
    if isinstance(body, dict):
        return str(body.get("message") or body.get("errors") or body)
    return str(body)


class SchwabBroker(OneAtATime):  # one request per order at Schwab
    name = "schwab"
    paper = False
    exact_cursor = False

    def __init__(
        self,
        client: Any,
        *,
        ids: MutableMapping[str, dict[str, Any]],
        account_number: str | None = None,
        now: Callable[[], dt.datetime] | None = None,
        timeout: float = TIMEOUT_SECONDS,
    ) -> None:
        """``client``: a schwab-py client built with ``client_from_access_functions`` (it refreshes
        its token through them). ``ids``: where the client ids live (a store collection in a
        session; it must survive a restart). ``account_number``: which account (the first if None)."""
        from schwab.utils import Utils

        self.client = client
        self.timeout = dt.timedelta(seconds=timeout)
        self.client.set_timeout(timeout)
        self.ids = ids
        self.now = now or (lambda: dt.datetime.now(dt.UTC))
        numbers = self._json("the account numbers", self.client.get_account_numbers())
        mine = [a for a in numbers if account_number is None or a["accountNumber"] == account_number]
        if not mine:
            raise RejectedError(f"schwab: no account {account_number} under this login")
        self.account_hash = mine[0]["hashValue"]
        self.utils = Utils(client, self.account_hash)
        self._ended: dict[int, dict[str, Any]] = {}  # orders that ended (they no longer change)

    # ------------------------------------------------------------------ calls

    def _json(self, what: str, resp: httpx.Response) -> Any:
        self._check(what, resp)
        return resp.json()

    def _check(self, what: str, resp: httpx.Response) -> None:
        status = resp.status_code
        if status < 400:
            return
        if status == 401:
            raise AuthExpiredError(f"schwab refused {what} (401): connect the account again")
        if status == 429 or status >= 500:
            raise TemporaryError(f"schwab could not answer {what} now ({status}): {_message(resp)}")
        raise RejectedError(f"schwab rejected {what} ({status}): {_message(resp)}", str(status))

    def _request(
        self, what: str, fn: Callable[..., httpx.Response], *args: Any, **kwargs: Any
    ) -> httpx.Response:
        try:
            return fn(*args, **kwargs)
        except httpx.HTTPError as e:
            raise TemporaryError(f"schwab did not answer {what}: {e}") from e
        except AUTH_ERRORS as e:  # the client's token expired or could not be refreshed
            raise AuthExpiredError(f"schwab refused {what}: {e}; connect the account again") from e

    # ------------------------------------------------------------------ the account

    def _account(self) -> dict[str, Any]:
        from schwab.client import Client

        resp = self._request(
            "the account",
            self.client.get_account,
            self.account_hash,
            fields=[Client.Account.Fields.POSITIONS],
        )
        return self._json("the account", resp)["securitiesAccount"]

    def account(self) -> BrokerAccount:
        balances = self._account()["currentBalances"]
        return BrokerAccount(cash=float(balances["cashBalance"]), equity=float(balances["liquidationValue"]))

    def positions(self) -> dict[str, float]:
        out = {}
        for p in self._account().get("positions") or []:
            qty = float(p.get("longQuantity", 0.0)) - float(p.get("shortQuantity", 0.0))
            if qty:
                out[p["instrument"]["symbol"]] = qty
        return out

    # ------------------------------------------------------------------ orders

    def _spec(self, order: Order) -> Any:
        from schwab.orders import equities

        qty = float(order.quantity)
        if not qty.is_integer():
            raise RejectedError(f"schwab takes whole shares only; {order.client_order_id} asks {qty}")
        buy = order.side == "buy"
        if order.order_type == "limit":
            price = f"{float(order.limit_price or 0):.2f}"
            build = equities.equity_buy_limit if buy else equities.equity_sell_limit
            return build(order.symbol, int(qty), price)
        build = equities.equity_buy_market if buy else equities.equity_sell_market
        return build(order.symbol, int(qty))

    def submit(self, order: Order) -> SubmitResult:
        cid = order.client_order_id
        if cid in self.ids:  # sent before (or in doubt): resolve, never send twice
            found = self.lookup(cid)
            if found is None:
                return SubmitResult(
                    Outcome.UNKNOWN, cid, None, "sent before and not found at schwab", duplicate=True
                )
            return SubmitResult(
                Outcome.ACCEPTED, cid, found.broker_order_id, "already received", duplicate=True
            )
        try:
            spec = self._spec(order)
        except RejectedError as e:
            return SubmitResult(Outcome.REJECTED, cid, None, str(e))
        self.ids[cid] = {
            "order_id": None,
            "sent_at": self.now().isoformat(),
            "symbol": order.symbol,
            "side": order.side,
            "quantity": float(order.quantity),
            "order_type": order.order_type,
            "limit_price": None if order.limit_price is None else round(float(order.limit_price), 2),
        }
        try:
            resp = self.client.place_order(self.account_hash, spec)
        except httpx.HTTPError as e:
            return SubmitResult(Outcome.UNKNOWN, cid, None, f"no answer from schwab: {e}")
        except AUTH_ERRORS as e:  # refused before it went out: it is not there
            self._drop(cid, f"not sent: {e}")
            raise AuthExpiredError(f"schwab refused the order: {e}; connect the account again") from e
        return self._placed(cid, resp)

    def _drop(self, cid: str, why: str) -> None:
        """An intent Schwab surely does not have (refused): never searched for, never adopted."""
        self.ids[cid] = {**self.ids[cid], "refused": why}

    def _placed(self, cid: str, resp: httpx.Response) -> SubmitResult:
        """The outcome of a ``place_order`` answer."""
        status = resp.status_code
        if status == 401:
            self._drop(cid, "refused: 401")
            raise AuthExpiredError("schwab refused the order (401): connect the account again")
        if status == 429 or status >= 500:
            return SubmitResult(Outcome.UNKNOWN, cid, None, f"schwab answered {status}: {_message(resp)}")
        if status >= 400:
            why = f"schwab rejected it ({status}): {_message(resp)}"
            self._drop(cid, why)
            return SubmitResult(Outcome.REJECTED, cid, None, why)
        try:
            order_id = self.utils.extract_order_id(resp)
        except Exception as e:  # placed, and its receipt could not be read: the lookup finds it
            return SubmitResult(Outcome.UNKNOWN, cid, None, f"schwab's receipt could not be read: {e}")
        if order_id is None:  # placed, with no receipt: the lookup finds it
            return SubmitResult(Outcome.UNKNOWN, cid, None, "schwab placed it without saying its id")
        self._adopt(cid, order_id)
        return SubmitResult(Outcome.ACCEPTED, cid, str(order_id))

    def _adopt(self, cid: str, order_id: int) -> None:
        entry = dict(self.ids[cid])
        entry["order_id"] = int(order_id)
        self.ids[cid] = entry

    def _get(self, order_id: int) -> dict[str, Any]:
        if order_id in self._ended:
            return self._ended[order_id]
        resp = self._request(f"order {order_id}", self.client.get_order, order_id, self.account_hash)
        doc = self._json(f"order {order_id}", resp)
        if doc.get("status") in _ENDED:
            self._ended[order_id] = doc
        return doc

    def _search(self, cid: str, entry: dict[str, Any]) -> int | None:
        """The one order at Schwab that is this intent: entered since it was sent, not adopted by
        another of ours, the same symbol, side, quantity, type and price."""
        sent = dt.datetime.fromisoformat(entry["sent_at"])
        since, until = sent - SLACK, sent + self.timeout + SLACK  # one entered later is not it
        resp = self._request(
            "the orders",
            self.client.get_orders_for_account,
            self.account_hash,
            from_entered_datetime=since,
            to_entered_datetime=min(until, self.now() + SLACK),
        )
        taken = {e["order_id"] for k, e in self.ids.items() if k != cid and e.get("order_id") is not None}
        matches = []
        for o in self._json("the orders", resp):
            leg = (o.get("orderLegCollection") or [{}])[0]
            if o["orderId"] in taken or not since <= _time(o["enteredTime"]) <= until:
                continue
            same = (
                leg.get("instrument", {}).get("symbol") == entry["symbol"]
                and leg.get("instruction") == ("BUY" if entry["side"] == "buy" else "SELL")
                and float(o.get("quantity", 0.0)) == entry["quantity"]
                and o.get("orderType") == ("LIMIT" if entry["order_type"] == "limit" else "MARKET")
                and (
                    entry["limit_price"] is None
                    or round(float(o.get("price", 0.0)), 2) == entry["limit_price"]
                )
            )
            if same:
                matches.append(int(o["orderId"]))
        if len(matches) > 1:
            raise AmbiguousOrderError(
                f"orders {matches} at schwab all match {cid} ({entry['side']} {entry['quantity']:g} "
                f"{entry['symbol']}); a person must say which, if any, it is",
                entry["symbol"],
            )
        return matches[0] if matches else None

    def lookup(self, client_order_id: str) -> BrokerOrder | None:
        entry = self.ids.get(client_order_id)
        if entry is None or entry.get("refused"):
            return None
        order_id = entry.get("order_id")
        if order_id is None:
            order_id = self._search(client_order_id, entry)
            if order_id is None:
                return None
            self._adopt(client_order_id, order_id)
        return self._report(client_order_id, self._get(int(order_id)))

    def cancel(self, client_order_id: str) -> bool:
        found = self.lookup(client_order_id)
        if found is None or found.status != "accepted" or found.broker_order_id is None:
            return False
        resp = self._request(
            f"the cancel of {client_order_id}",
            self.client.cancel_order,
            int(found.broker_order_id),
            self.account_hash,
        )
        if resp.status_code >= 400 and resp.status_code not in (401, 429) and resp.status_code < 500:
            return False  # it filled or ended meanwhile
        self._check(f"the cancel of {client_order_id}", resp)
        return True

    def open_orders(self) -> list[BrokerOrder]:
        out = []
        for cid, entry in list(self.ids.items()):
            found = self.lookup(cid) if entry.get("order_id") is not None else None
            if found is not None and found.status == "accepted":
                out.append(found)
        return out

    def _report(self, cid: str, o: dict[str, Any]) -> BrokerOrder:
        leg = (o.get("orderLegCollection") or [{}])[0]
        return BrokerOrder(
            client_order_id=cid,
            broker_order_id=str(o["orderId"]),
            symbol=str(leg.get("instrument", {}).get("symbol")),
            side="buy" if leg.get("instruction") == "BUY" else "sell",
            quantity=float(o.get("quantity", 0.0)),
            status=_ENDED.get(str(o.get("status")), "accepted"),
            filled_quantity=float(o.get("filledQuantity", 0.0)),
            message=o.get("statusDescription"),
        )

    # ------------------------------------------------------------------ fills

    def fills_since(self, cursor: int) -> list[BrokerFill]:
        """The executions of this adapter's orders, oldest first, after the first ``cursor``."""
        legs = []
        for cid, entry in list(self.ids.items()):
            if entry.get("order_id") is None:
                continue
            o = self._get(int(entry["order_id"]))
            side = "buy" if entry["side"] == "buy" else "sell"
            for activity in o.get("orderActivityCollection") or []:
                if activity.get("activityType") != "EXECUTION":
                    continue
                for n, leg in enumerate(activity.get("executionLegs") or []):
                    legs.append(
                        (
                            _time(leg["time"]),
                            f"{o['orderId']}.{activity['activityId']}.{n}",
                            cid,
                            side,
                            entry,
                            leg,
                        )
                    )
        legs.sort(key=lambda x: (x[0], x[1]))
        out = []
        for i, (when, fill_id, cid, side, entry, leg) in enumerate(legs, start=1):
            if i <= cursor:
                continue
            price = float(leg["price"])
            out.append(
                BrokerFill(
                    fill_id=fill_id,
                    cursor=i,
                    client_order_id=cid,
                    symbol=entry["symbol"],
                    side=side,  # type: ignore[arg-type]
                    quantity=float(leg["quantity"]),
                    price=price,
                    fee=0.0,  # commission-free equities; fees show in the account's cash
                    slippage_cost=0.0,
                    time=when.isoformat(),
                    raw_price=price,
                    adj_factor=1.0,
                )
            )
        return out

    def on_bar(self, bar: Bar) -> None:
        """Schwab fills on its own; a closed bar changes nothing here."""
