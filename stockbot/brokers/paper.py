"""The paper broker: an account of its own in the store, filled by the paper venue.

It is a venue, not a copy of the session: its cash, positions and orders live in ``paper_accounts``
(one document per account, written whole and atomically, with a version for compare-and-set),
``paper_orders`` (orders that ended) and ``paper_fills``, apart from the session's journal, so that
reconciling a session compares two records, not one with itself.

An order submitted before a bar opens fills at that bar's open (the bar after its decision), through
:class:`~stockbot.execution.venue.PaperVenue` with the backtest's cost model: market orders with
slippage, limits at the open or the limit or not at all, sells first, buys scaled to the cash; what
does not fill expires at the end of that bar (a DAY order). ``fill: close`` is refused: no broker
fills at the close the decision has just seen.

Crash safety: :meth:`on_bar` computes the bar's fills from the account document alone (fill ids and
cursors are deterministic), writes them and the ended orders with upserts, and commits the account
last; a crash anywhere before the commit is redone identically by calling it again, and a bar
already committed is not filled twice.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Sequence
from typing import Any

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from stockbot.brokers.base import (
    BrokerAccount,
    BrokerFill,
    BrokerOrder,
    Outcome,
    SubmitResult,
)
from stockbot.config import CostConfig
from stockbot.errors import BrokerError, ConfigError
from stockbot.execution.costs import CostModel
from stockbot.execution.portfolio import Portfolio
from stockbot.execution.records import Order, order_from_doc, order_to_doc
from stockbot.execution.venue import Bar, PaperVenue

ACCOUNTS, ORDERS, FILLS = "paper_accounts", "paper_orders", "paper_fills"
_CAS_TRIES = 20


class PaperBroker:
    name = "paper"
    paper = True

    def __init__(
        self,
        db: Database,
        account_id: str,
        symbols: Sequence[str],
        *,
        costs: CostConfig,
        initial_cash: float,
        max_gross_leverage: float = 1.0,
        fractional: bool = True,
    ) -> None:
        if costs.fill == "close":
            raise ConfigError("the paper broker fills at the next bar's open; costs.fill 'close' is refused")
        self.db = db
        self.account_id = account_id
        self.symbols = list(symbols)
        self.fractional = fractional
        self.venue = PaperVenue(
            CostModel.from_config(costs), max_gross_leverage=max_gross_leverage, fractional=fractional
        )
        fresh = Portfolio(self.symbols, initial_cash)
        # an account that exists keeps its state (a restarted session)
        with contextlib.suppress(DuplicateKeyError):
            db[ACCOUNTS].insert_one(
                {
                    "_id": account_id,
                    "portfolio": fresh.snapshot(),
                    "open": [],
                    "last_bar": None,
                    "fill_cursor": 0,
                    "version": 0,
                    "created_at": dt.datetime.now(dt.UTC),
                }
            )
        held = self._doc()["portfolio"]["symbols"]
        if held != self.symbols:
            raise BrokerError(f"paper account {account_id} trades {held}, not {self.symbols}")

    # ------------------------------------------------------------------ reading

    def _doc(self) -> dict[str, Any]:
        doc = self.db[ACCOUNTS].find_one({"_id": self.account_id})
        if doc is None:
            raise BrokerError(f"paper account {self.account_id} is gone from the store")
        return doc

    def _commit(self, doc: dict[str, Any], changes: dict[str, Any]) -> bool:
        res = self.db[ACCOUNTS].update_one(
            {"_id": self.account_id, "version": doc["version"]},
            {"$set": {**changes, "version": doc["version"] + 1}},
        )
        return res.modified_count == 1

    def account(self) -> BrokerAccount:
        p = self._doc()["portfolio"]
        return BrokerAccount(cash=float(p["cash"]), equity=float(p["equity"]))

    def positions(self) -> dict[str, float]:
        p = self._doc()["portfolio"]
        return {s: float(q) for s, q in zip(p["symbols"], p["qty"], strict=True) if q != 0.0}

    def open_orders(self) -> list[BrokerOrder]:
        return [_report(o, "accepted") for o in self._doc()["open"]]

    def lookup(self, client_order_id: str) -> BrokerOrder | None:
        for o in self._doc()["open"]:
            if o["client_order_id"] == client_order_id:
                return _report(o, "accepted")
        ended = self.db[ORDERS].find_one({"_id": client_order_id, "account": self.account_id})
        if ended is None:
            return None
        return _report(ended["order"], ended["status"], ended.get("filled", 0.0), ended.get("message"))

    def fills_since(self, cursor: int) -> list[BrokerFill]:
        rows = (
            self.db[FILLS]
            .find({"account": self.account_id, "cursor": {"$gt": int(cursor)}})
            .sort("cursor", 1)
        )
        return [BrokerFill(**{k: r[k] for k in BrokerFill.__slots__}) for r in rows]

    # ------------------------------------------------------------------ orders

    def submit(self, order: Order) -> SubmitResult:
        cid = order.client_order_id
        problem = self._refusal(order)
        for _ in range(_CAS_TRIES):
            doc = self._doc()
            if any(o["client_order_id"] == cid for o in doc["open"]):
                return SubmitResult(Outcome.ACCEPTED, cid, cid, "already received", duplicate=True)
            ended = self.db[ORDERS].find_one({"_id": cid, "account": self.account_id})
            if ended is not None:
                if ended["status"] == "rejected":
                    return SubmitResult(Outcome.REJECTED, cid, None, ended["message"], duplicate=True)
                return SubmitResult(Outcome.ACCEPTED, cid, cid, f"already {ended['status']}", duplicate=True)
            if problem:
                self._end(order_to_doc(order), "rejected", 0.0, problem)
                return SubmitResult(Outcome.REJECTED, cid, None, problem)
            if self._commit(doc, {"open": [*doc["open"], order_to_doc(order)]}):
                return SubmitResult(Outcome.ACCEPTED, cid, cid)
        raise BrokerError(f"paper account {self.account_id} is being changed by another writer")

    def _refusal(self, order: Order) -> str | None:
        if order.symbol not in self.symbols:
            return f"{order.symbol} is not tradable in this account ({', '.join(self.symbols)})"
        if not self.fractional and order.quantity != int(order.quantity):
            return f"quantity {order.quantity} is not a whole number of shares"
        return None

    def cancel(self, client_order_id: str) -> bool:
        for _ in range(_CAS_TRIES):
            doc = self._doc()
            hit = [o for o in doc["open"] if o["client_order_id"] == client_order_id]
            if not hit:
                return False
            self._end(hit[0], "cancelled", 0.0, None)
            rest = [o for o in doc["open"] if o["client_order_id"] != client_order_id]
            if self._commit(doc, {"open": rest}):
                return True
        raise BrokerError(f"paper account {self.account_id} is being changed by another writer")

    def _end(self, order: dict[str, Any], status: str, filled: float, message: str | None) -> None:
        self.db[ORDERS].replace_one(
            {"_id": order["client_order_id"]},
            {
                "_id": order["client_order_id"],
                "account": self.account_id,
                "order": order,
                "status": status,
                "filled": filled,
                "message": message,
            },
            upsert=True,
        )

    # ------------------------------------------------------------------ the venue

    def on_bar(self, bar: Bar) -> None:
        """Fill every open order at ``bar`` (they were all sent before it opened); the rest of them
        expires. Marks the account at the bar's close. Idempotent per bar."""
        when = bar.time.isoformat()
        doc = self._doc()
        if doc["last_bar"] is not None and doc["last_bar"] >= when:
            return
        portfolio = Portfolio.restore(doc["portfolio"])
        orders = [order_from_doc(o) for o in doc["open"]]
        fills = self.venue.fill(orders, portfolio, bar)
        cursor = int(doc["fill_cursor"])
        filled: dict[str, float] = {}
        for f in fills:
            cursor += 1
            self.db[FILLS].replace_one(
                {"_id": f"{self.account_id}:{f.client_order_id}.1"},
                {
                    "_id": f"{self.account_id}:{f.client_order_id}.1",
                    "account": self.account_id,
                    "fill_id": f"{f.client_order_id}.1",
                    "cursor": cursor,
                    "client_order_id": f.client_order_id,
                    "symbol": f.symbol,
                    "side": f.side,
                    "quantity": f.quantity,
                    "price": f.price,
                    "fee": f.fee,
                    "slippage_cost": f.slippage_cost,
                    "time": when,
                    "raw_price": f.raw_price,
                    "adj_factor": f.adj_factor,
                },
                upsert=True,
            )
            portfolio.apply(f)
            filled[f.client_order_id] = f.quantity
        for o in doc["open"]:
            q = filled.get(o["client_order_id"], 0.0)
            done = q >= float(o["quantity"])
            self._end(o, "filled" if done else "expired", q, None if done else "not filled at its bar")
        portfolio.mark(bar.close)
        if not self._commit(
            doc, {"portfolio": portfolio.snapshot(), "open": [], "last_bar": when, "fill_cursor": cursor}
        ):
            raise BrokerError(f"paper account {self.account_id} changed while filling bar {when}")


def _report(
    order: dict[str, Any], status: Any, filled: float = 0.0, message: str | None = None
) -> BrokerOrder:
    return BrokerOrder(
        client_order_id=order["client_order_id"],
        broker_order_id=order["client_order_id"],
        symbol=order["symbol"],
        side=order["side"],
        quantity=float(order["quantity"]),
        status=status,
        filled_quantity=float(filled),
        message=message,
    )
