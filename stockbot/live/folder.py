"""A live session's folder, ``$STOCKBOT_HOME/live/<session id>/``: ``config.yaml``, ``equity.csv``
and ``trades.csv`` in exactly the backtest's columns (so every backtest tool and page reads them),
``orders.csv`` (one row per order with its client id, timeline and outcome, appended when the order
ends), ``shadow.csv`` (the
equity of the shadow backtest over the same bars, ``timestamp, equity``) and ``events.log``.

Rows are appended as the session runs. A restarted loop resumes from its last saved bar and first
cuts every file back to that bar, so a bar redone after a crash is written once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from stockbot.backtest.engine import EQUITY_COLUMNS, TRADE_COLUMNS
from stockbot.paths import stockbot_home

EQUITY_CSV_COLUMNS = [*EQUITY_COLUMNS, "benchmark_equity"]  # as write_backtest writes it
SHADOW_COLUMNS = ["timestamp", "equity"]
ORDER_COLUMNS = [
    "bar",  # the session's bar when the order ended
    "client_order_id",
    "symbol",
    "side",
    "quantity",
    "order_type",
    "limit_price",
    "kind",
    "slice",
    "decision_time",
    "fill_time",
    "status",
    "filled_quantity",
    "message",
    "intent_at",
    "submitted_at",
    "accepted_at",
    "ended_at",
]


def session_dir(session_id: str) -> Path:
    return stockbot_home() / "live" / session_id


class SessionFolder:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self.equity = path / "equity.csv"
        self.trades = path / "trades.csv"
        self.orders = path / "orders.csv"
        self.shadow = path / "shadow.csv"
        self.events = path / "events.log"

    def _append(self, file: Path, rows: list[list[Any]], columns: list[str]) -> None:
        if not rows and file.exists():
            return
        frame = pd.DataFrame(rows, columns=columns)
        frame.to_csv(file, mode="a", header=not file.exists(), index=False)

    def append_equity(self, row: list[Any]) -> None:
        self._append(self.equity, [row], EQUITY_CSV_COLUMNS)

    def append_shadow(self, time: pd.Timestamp, equity: float) -> None:
        self._append(self.shadow, [[time, equity]], SHADOW_COLUMNS)

    def append_trades(self, rows: list[list[Any]]) -> None:
        self._append(self.trades, rows, list(TRADE_COLUMNS))

    def append_orders(self, bar: pd.Timestamp, docs: Iterable[dict[str, Any]]) -> None:
        """One row for each order that ended at ``bar``, with its timeline and outcome."""
        rows = _order_rows(docs, bar)
        if rows:
            self._append(self.orders, rows, ORDER_COLUMNS)

    def write_orders(self, docs: Iterable[dict[str, Any]]) -> None:
        """``orders.csv`` anew from the orders that ended (each with its ``ended_bar``): a restarted
        loop rebuilds it from the journal, which is what happened."""
        tmp = self.orders.with_suffix(".tmp")
        pd.DataFrame(_order_rows(docs, None), columns=ORDER_COLUMNS).to_csv(tmp, index=False)
        tmp.replace(self.orders)

    def log(self, bar: pd.Timestamp | None, message: str) -> dict[str, Any]:
        """Append an event; returns it as the store keeps it."""
        at = dt.datetime.now(dt.UTC)
        bar_text = "-" if bar is None else pd.Timestamp(bar).isoformat()
        with self.events.open("a") as f:
            f.write(f"{at.isoformat()}\t{bar_text}\t{message}\n")
        return {"at": at, "bar": None if bar is None else bar_text, "message": message}

    def cut_after(self, bar: pd.Timestamp | None) -> None:
        """Drop what was written for bars after ``bar`` (None: everything): a redo writes it again."""
        for file, column in (
            (self.equity, "timestamp"),
            (self.trades, "timestamp"),
            (self.shadow, "timestamp"),
        ):
            if not file.exists():
                continue
            if bar is None:
                file.unlink()
                continue
            frame = pd.read_csv(file, dtype=str, keep_default_na=False)  # rewritten as read
            keep = pd.to_datetime(frame[column], utc=True) <= pd.Timestamp(bar)
            if not keep.all():
                tmp = file.with_suffix(".tmp")
                frame[keep].to_csv(tmp, index=False)
                tmp.replace(file)
        if self.events.exists():
            lines = self.events.read_text().splitlines(keepends=True)
            kept = [
                ln for ln in lines if _event_bar(ln) is None or (bar is not None and _event_bar(ln) <= bar)
            ]
            if len(kept) != len(lines):
                self.events.write_text("".join(kept))


def _order_rows(docs: Iterable[dict[str, Any]], bar: pd.Timestamp | None) -> list[list[Any]]:
    rows = []
    for d in docs:
        tl = d.get("timeline", {})
        ended = next((tl[k] for k in ("filled", "expired", "cancelled", "rejected") if k in tl), None)
        rows.append(
            [
                bar if bar is not None else d.get("ended_bar"),
                d["client_order_id"],
                d["symbol"],
                d["side"],
                d["quantity"],
                d["order_type"],
                d["limit_price"],
                d["kind"],
                d["slice"],
                d["decision_time"],
                d["fill_time"],
                d["status"],
                d.get("filled_quantity", 0.0),
                d.get("message"),
                _iso(tl.get("intent")),
                _iso(tl.get("submitted")),
                _iso(tl.get("accepted")),
                _iso(ended),
            ]
        )
    return rows


def _event_bar(line: str) -> pd.Timestamp | None:
    parts = line.split("\t", 2)
    if len(parts) < 3 or parts[1] == "-":
        return None
    return pd.Timestamp(parts[1])


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
