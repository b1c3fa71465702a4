"""Units at a real broker's boundary: the broker holds raw shares and quotes raw prices; a session
counts in the adjusted series its features, its shadow and its backtest use.

With ``f`` the adjustment factor of a symbol's latest bar (adjusted price / raw price), ``q`` adjusted
shares are ``q * f`` raw shares worth the same, and an adjusted price ``p`` is the raw price
``p / f``. Orders go out in raw shares (rounded to whole ones where the session sizes whole shares;
an order that rounds to nothing is refused here) with raw limit prices; fills, positions and open
orders come back in the session's units, each fill keeping its raw price and the factor.

Reconciliation is in raw shares: :attr:`RawUnits.raw_held` counts the raw shares the session's
fills bought and sold. A corporate action moves a symbol's factor from one bar to the next by the
ratio ``r = f_k / f_k-1`` (read in the data as it is now: on the market clock the feed re-adjusts
the history, and its latest factor is 1). A split shows at the broker as raw shares times ``r``;
:meth:`RawUnits.corporate_actions` accepts exactly that difference. A dividend moves the factor
a little and leaves the raw shares alone (the cash moves at the broker): nothing to accept.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from stockbot.brokers.base import Broker, BrokerFill, BrokerOrder, Outcome, SubmitResult
from stockbot.execution.records import Order
from stockbot.execution.venue import Bar

SPLIT_MOVE = 0.2  # a factor that moves more than this between two bars is a split, not a dividend


def _ratio(r: float) -> str:
    from fractions import Fraction

    f = Fraction(r).limit_denominator(20)
    return f"{f.numerator}:{f.denominator}"


class RawUnits:
    """``broker`` seen in the session's (adjusted) units; :meth:`at` sets the factors of a bar."""

    def __init__(self, broker: Broker, symbols: list[str], *, whole: bool) -> None:
        self.inner = broker
        self.symbols = symbols
        self.whole = whole
        self.factor = dict.fromkeys(symbols, 1.0)
        self.ratio = dict.fromkeys(symbols, 1.0)  # f_k / f_k-1 at the latest bar
        self.raw_held: dict[str, float] = {}  # raw shares the session's fills hold

    def snapshot(self) -> dict[str, float]:
        return dict(self.raw_held)

    def restore(self, raw_held: dict[str, float]) -> None:
        self.raw_held = {s: float(q) for s, q in raw_held.items()}

    def __getattr__(self, name: str) -> Any:  # name, paper, exact_cursor, account, cancel, ...
        return getattr(self.inner, name)

    def at(self, bar: Bar, previous: Bar | None = None) -> None:
        """The factors of ``bar`` (the latest), and their ratio to the bar before it."""
        now = np.asarray(bar.adj_factor, dtype=float)
        before = now if previous is None else np.asarray(previous.adj_factor, dtype=float)
        for s, f, b in zip(self.symbols, now, before, strict=True):
            if math.isfinite(f) and f > 0:
                self.factor[s] = float(f)
                self.ratio[s] = float(f / b) if math.isfinite(b) and b > 0 else 1.0

    def splits(self) -> dict[str, float]:
        """The symbols whose factor moved by a split at the latest bar, with its ratio."""
        return {s: r for s, r in self.ratio.items() if abs(r - 1.0) >= SPLIT_MOVE}

    def took(self, fill: BrokerFill) -> None:
        """A fill the session applied (in its units): its raw shares are held now."""
        raw = fill.quantity * fill.adj_factor * (1.0 if fill.side == "buy" else -1.0)
        self.raw_held[fill.symbol] = self.raw_held.get(fill.symbol, 0.0) + raw

    def raw_positions(self) -> dict[str, float]:
        return self.inner.positions()

    def raw_in_flight(self, mine: Callable[[str], bool]) -> dict[str, float]:
        """Raw shares still to fill of the session's open orders (``mine``: whose they are)."""
        out: dict[str, float] = {}
        for o in self.inner.open_orders():
            if mine(o.client_order_id):
                out[o.symbol] = out.get(o.symbol, 0.0) + o.quantity - o.filled_quantity
        return out

    def corporate_actions(self, held: dict[str, float]) -> list[str]:
        """Accept the broker's raw shares where a split explains them (``held``: the broker's
        raw positions); what was accepted, in words."""
        accepted = []
        for s, r in self.ratio.items():
            ours, theirs = self.raw_held.get(s, 0.0), held.get(s, 0.0)
            if abs(r - 1.0) < SPLIT_MOVE or ours == 0.0 or math.isclose(ours, theirs, rel_tol=1e-9):
                continue
            if abs(theirs - ours * r) <= max(1.0, 1e-6 * abs(theirs)):  # whole shares: rounding
                self.raw_held[s] = theirs
                accepted.append(
                    f"{s}: a {_ratio(r)} split: the broker holds {theirs:g} shares (was {ours:g})"
                )
        return accepted

    def _f(self, symbol: str) -> float:
        return self.factor.get(symbol, 1.0)

    # ------------------------------------------------------------------ out: raw

    def raw_order(self, order: Order) -> Order | str:
        """``order`` as the broker gets it (raw shares and prices), or why it cannot go."""
        f = self._f(order.symbol)
        qty = order.quantity * f
        held = self.raw_held.get(order.symbol, 0.0)
        if order.side == "sell" and held > 0:
            # never more than the raw shares held: a dividend moves the factor of shares held
            # since, so q * f can exceed them (an exit must not open a short)
            qty = min(qty, held)
        qty = float(round(qty)) if self.whole else round(qty, 9)
        if qty <= 0:
            raw = order.quantity * f
            return f"{order.quantity:g} shares of {order.symbol} are {raw:.4g} raw shares: none to send"
        limit = None if order.limit_price is None else order.limit_price / f
        return dataclasses.replace(
            order, quantity=qty, limit_price=limit, reference_price=order.reference_price / f
        )

    def submit(self, order: Order) -> SubmitResult:
        return self.submit_many([order])[0]

    def submit_many(self, orders: list[Order]) -> list[SubmitResult]:
        raw = [self.raw_order(o) for o in orders]
        sendable = [r for r in raw if isinstance(r, Order)]
        sent = iter(self.inner.submit_many(sendable) if sendable else [])
        return [
            next(sent) if isinstance(r, Order) else SubmitResult(Outcome.REJECTED, o.client_order_id, None, r)
            for o, r in zip(orders, raw, strict=True)
        ]

    # ------------------------------------------------------------------ in: the session's units

    def _order(self, o: BrokerOrder) -> BrokerOrder:
        f = self._f(o.symbol)
        return dataclasses.replace(o, quantity=o.quantity / f, filled_quantity=o.filled_quantity / f)

    def lookup(self, client_order_id: str) -> BrokerOrder | None:
        found = self.inner.lookup(client_order_id)
        return None if found is None else self._order(found)

    def lookup_many(self, client_order_ids: list[str]) -> dict[str, BrokerOrder]:
        return {cid: self._order(o) for cid, o in self.inner.lookup_many(client_order_ids).items()}

    def open_orders(self) -> list[BrokerOrder]:
        return [self._order(o) for o in self.inner.open_orders()]

    def positions(self) -> dict[str, float]:
        return {s: q / self._f(s) for s, q in self.inner.positions().items()}

    def fills_since(self, cursor: int) -> list[BrokerFill]:
        out = []
        for fill in self.inner.fills_since(cursor):
            f = self._f(fill.symbol)
            out.append(
                dataclasses.replace(
                    fill,
                    quantity=fill.quantity / f,
                    price=fill.raw_price * f,
                    adj_factor=f,
                )
            )
        return out
