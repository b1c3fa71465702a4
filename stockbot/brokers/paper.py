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

from pymongo import ReplaceOne
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
    exact_cursor = True

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
        return self.lookup_many([client_order_id]).get(client_order_id)

    def lookup_many(self, client_order_ids: list[str]) -> dict[str, BrokerOrder]:
        wanted = set(client_order_ids)
        out = {
            o["client_order_id"]: _report(o, "accepted")
            for o in self._doc()["open"]
            if o["client_order_id"] in wanted
        }
        for ended in self._ended(wanted - set(out)).values():
            out[ended["_id"]] = _report(
                ended["order"], ended["status"], ended.get("filled", 0.0), ended.get("message")
            )
        return out

    def _ended(self, client_order_ids: set[str]) -> dict[str, dict[str, Any]]:
        if not client_order_ids:
            return {}
        rows = self.db[ORDERS].find({"_id": {"$in": sorted(client_order_ids)}, "account": self.account_id})
        return {r["_id"]: r for r in rows}

    def fills_since(self, cursor: int) -> list[BrokerFill]:
        rows = (
            self.db[FILLS]
            .find({"account": self.account_id, "cursor": {"$gt": int(cursor)}})
            .sort("cursor", 1)
        )
        return [BrokerFill(**{k: r[k] for k in BrokerFill.__slots__ if k in r}) for r in rows]

    # ------------------------------------------------------------------ orders

    def submit(self, order: Order) -> SubmitResult:
        return self.submit_many([order])[0]

    def submit_many(self, orders: list[Order]) -> list[SubmitResult]:
        """All of ``orders`` into the account in one atomic write; an id the account already holds
        (open or ended) answers for the order it has."""
        ended = self._ended({o.client_order_id for o in orders})
        for _ in range(_CAS_TRIES):
            doc = self._doc()
            held = {o["client_order_id"] for o in doc["open"]}
            # the venue fills one order per symbol at a bar
            busy = {o["symbol"]: o["client_order_id"] for o in doc["open"]}
            results: list[SubmitResult] = []
            opened: list[dict[str, Any]] = []
            refused: list[tuple[dict[str, Any], str]] = []
            for order in orders:
                cid = order.client_order_id
                if cid in held:
                    results.append(
                        SubmitResult(Outcome.ACCEPTED, cid, cid, "already received", duplicate=True)
                    )
                elif cid in ended:
                    status, message = ended[cid]["status"], ended[cid]["message"]
                    if status == "rejected":
                        results.append(SubmitResult(Outcome.REJECTED, cid, None, message, duplicate=True))
                    else:
                        results.append(
                            SubmitResult(Outcome.ACCEPTED, cid, cid, f"already {status}", duplicate=True)
                        )
                elif problem := self._refusal(order) or _busy(busy, order):
                    refused.append((order_to_doc(order), problem))
                    results.append(SubmitResult(Outcome.REJECTED, cid, None, problem))
                else:
                    held.add(cid)
                    busy[order.symbol] = cid
                    opened.append(order_to_doc(order))
                    results.append(SubmitResult(Outcome.ACCEPTED, cid, cid))
            self._end_many([(o, "rejected", 0.0, why) for o, why in refused])
            if not opened or self._commit(doc, {"open": [*doc["open"], *opened]}):
                return results
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
        self._end_many([(order, status, filled, message)])

    def _end_many(self, ended: list[tuple[dict[str, Any], str, float, str | None]]) -> None:
        """Record orders that ended (each ``(order, status, filled, message)``) in one write."""
        ops = [
            ReplaceOne(
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
            for order, status, filled, message in ended
        ]
        if ops:
            self.db[ORDERS].bulk_write(ops)

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
        rows = []
        for f in fills:
            cursor += 1
            key = f"{self.account_id}:{f.client_order_id}.1"
            row = {
                "_id": key,
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
            }
            rows.append(ReplaceOne({"_id": key}, row, upsert=True))
            portfolio.apply(f)
            filled[f.client_order_id] = f.quantity
        if rows:
            self.db[FILLS].bulk_write(rows)
        ends = []
        for o in doc["open"]:
            q = filled.get(o["client_order_id"], 0.0)
            done = q >= float(o["quantity"])
            ends.append((o, "filled" if done else "expired", q, None if done else "not filled at its bar"))
        self._end_many(ends)
        portfolio.mark(bar.close)
        if not self._commit(
            doc, {"portfolio": portfolio.snapshot(), "open": [], "last_bar": when, "fill_cursor": cursor}
        ):
            raise BrokerError(f"paper account {self.account_id} changed while filling bar {when}")


def _busy(busy: dict[str, str], order: Order) -> str | None:
    other = busy.get(order.symbol)
    if other is None:
        return None
    return f"{order.symbol} already has an open order ({other}) for the next bar; cancel it first"


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
