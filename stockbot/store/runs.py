"""Run documents (collection ``runs``, DESIGN.md §4) and the conditional updates that move them."""

from __future__ import annotations

import datetime as dt
import json
import os
from enum import StrEnum
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.database import Database

from stockbot.store.safety import check_plain, plain_filter


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED})
_DIRECT_PAGE_MAX = 200  # below this many matches a plain sorted query is as cheap as any
HEARTBEAT_SECONDS = 5.0
STALE_SECONDS = 30.0


def heartbeat_seconds() -> float:
    """How often a supervisor beats (``STOCKBOT_HEARTBEAT_SECONDS``, default 5)."""
    return float(os.environ.get("STOCKBOT_HEARTBEAT_SECONDS", HEARTBEAT_SECONDS))


def stale_seconds() -> float:
    """How old a heartbeat may get before its run counts as lost (``STOCKBOT_STALE_SECONDS``, 30)."""
    return float(os.environ.get("STOCKBOT_STALE_SECONDS", STALE_SECONDS))


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _count_key(owner: Any, kind: Any, status: Any) -> str:
    return json.dumps([owner, kind, status])


class RunStore:
    """Run documents and their counts.

    The list's ``total`` comes from ``run_counts``: one small document per (owner, kind, status)
    holding how many runs are in it, moved by every create and status change. Counting the runs
    themselves made a store like SecantusDB read every matching document (60 ms for 10,000 runs).
    A crash between a run's update and its count's leaves a count off by one until the next
    :meth:`recount` (the executor daemon recounts when it starts)."""

    def __init__(self, db: Database | None = None) -> None:
        if db is None:
            from stockbot.store.db import get_db

            db = get_db()
        self.col = db["runs"]
        self.counts = db["run_counts"]

    # ------------------------------------------------------------------ reads

    def get(self, run_id: str) -> dict[str, Any] | None:
        return self.col.find_one({"_id": str(run_id)})

    def list(
        self,
        *,
        owner: str | None = None,
        kind: str | None = None,
        status: str | None = None,
        limit: int = 50,
        skip: int = 0,
    ) -> tuple[list[dict[str, Any]], int]:
        """Newest first; every filter is an equality on a plain value."""
        query = plain_filter(owner=owner, kind=kind, status=status)
        skip, limit = max(skip, 0), max(limit, 0)
        total = self.total(query)
        if limit == 0:
            return [], total
        if total <= _DIRECT_PAGE_MAX:
            cursor = self.col.find(query).sort("created_at", DESCENDING).skip(skip).limit(limit)
            page = list(cursor)
        else:
            page = self._newest(query, skip + limit)[skip:]
        # a count that drifted low must never hide runs: what was found is at least what there is
        return page, max(total, skip + len(page)) if page else total

    def total(self, query: dict[str, Any]) -> int:
        """How many runs match equality filters on owner, kind and status (from ``run_counts``)."""
        return sum(int(c.get("n", 0)) for c in self.counts.find(query, {"n": 1}))

    def recount(self) -> None:
        """Correct ``run_counts`` from the runs themselves, without losing concurrent changes.

        The counts are read before the runs are scanned, and each is corrected only if it still
        holds the value read (compare and set): a count a create or status change moved meanwhile
        is left as it is (the next recount looks again)."""
        before = {c["_id"]: c for c in self.counts.find({})}
        fresh: dict[str, tuple[Any, Any, Any, int]] = {}
        for doc in self.col.find({}, {"owner": 1, "kind": 1, "status": 1}):
            owner, kind, status = doc.get("owner"), doc.get("kind"), doc.get("status")
            key = _count_key(owner, kind, status)
            n = fresh[key][3] + 1 if key in fresh else 1
            fresh[key] = (owner, kind, status, n)
        for key, c in before.items():
            n = fresh.pop(key, (None, None, None, 0))[3]
            if c.get("n") != n:
                self.counts.update_one({"_id": key, "n": c.get("n")}, {"$set": {"n": n}})
        for key, (owner, kind, status, n) in fresh.items():  # counts that did not exist yet
            self.counts.update_one(
                {"_id": key},
                {"$setOnInsert": {"owner": owner, "kind": kind, "status": status, "n": n}},
                upsert=True,
            )

    def _moved(self, doc: dict[str, Any] | None, old: str | None, new: str | None) -> None:
        """Count a run (``doc``: its owner and kind) moving from status ``old`` to ``new``."""
        if doc is None or old == new:
            return
        owner, kind = doc.get("owner"), doc.get("kind")
        for status, step in ((old, -1), (new, 1)):
            if status is not None:
                self.counts.update_one(
                    {"_id": _count_key(owner, kind, status)},
                    {"$inc": {"n": step}, "$setOnInsert": {"owner": owner, "kind": kind, "status": status}},
                    upsert=True,
                )

    def _newest(self, query: dict[str, Any], n: int) -> list[dict[str, Any]]:
        """The ``n`` newest matching runs. A sorted, limited query over the whole collection makes
        some MongoDB-compatible servers (SecantusDB) read every match first; a range on the
        ``created_at`` index that widens until it holds ``n`` runs reads only about what it needs."""
        if n <= 0:
            return []
        upper = now()  # only a lower bound is applied: a clock-skewed future run still counts
        span = dt.timedelta(minutes=1)
        while True:
            ranged = {**query, "created_at": {"$gte": upper - span}}
            docs = list(self.col.find(ranged).sort("created_at", DESCENDING).limit(n))
            if len(docs) >= n or span > dt.timedelta(days=365 * 60):
                return docs
            span *= 4

    # ------------------------------------------------------------------ writes

    def create(self, doc: dict[str, Any]) -> None:
        check_plain(doc, "run")
        self.col.insert_one(doc)
        self._moved(doc, None, doc.get("status"))

    def claim(self, executor: dict[str, Any], run_id: str | None = None) -> dict[str, Any] | None:
        """Move the oldest queued run (or ``run_id``) to running; None if another process won."""
        query: dict[str, Any] = {"status": RunStatus.QUEUED.value}
        if run_id is not None:
            query["_id"] = str(run_id)
        t = now()
        doc = self.col.find_one_and_update(
            query,
            {
                "$set": {
                    "status": RunStatus.RUNNING.value,
                    "started_at": t,
                    "heartbeat_at": t,
                    "executor": executor,
                }
            },
            sort=[("created_at", ASCENDING)],
            return_document=ReturnDocument.AFTER,
        )
        self._moved(doc, RunStatus.QUEUED.value, RunStatus.RUNNING.value)
        return doc

    def update_running(self, run_id: str, fields: dict[str, Any]) -> bool:
        """Set fields on a run that is still running (heartbeat, progress, executor details)."""
        res = self.col.update_one(
            {"_id": run_id, "status": RunStatus.RUNNING.value}, {"$set": {**fields, "heartbeat_at": now()}}
        )
        return res.matched_count == 1

    def finish(
        self,
        run_id: str,
        status: RunStatus,
        *,
        metrics: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
    ) -> bool:
        """Final status of a running run (conditional: only one process may finish it)."""
        fields: dict[str, Any] = {
            "status": status.value,
            "finished_at": now(),
            "progress.message": status.value,
        }
        if metrics is not None:
            fields["metrics"] = metrics
        if error is not None:
            fields["error"] = error
        doc = self.col.find_one_and_update(
            {"_id": run_id, "status": RunStatus.RUNNING.value}, {"$set": fields}, {"owner": 1, "kind": 1}
        )
        self._moved(doc, RunStatus.RUNNING.value, status.value)
        return doc is not None

    def request_cancel(self, run_id: str) -> dict[str, Any] | None:
        """Cancel: a queued run is cancelled at once; a running one gets ``cancel_requested_at``,
        which its supervisor acts on. Returns the updated document (None if unknown)."""
        t = now()
        doc = self.col.find_one_and_update(
            {"_id": str(run_id), "status": RunStatus.QUEUED.value},
            {"$set": {"status": RunStatus.CANCELLED.value, "finished_at": t, "cancel_requested_at": t}},
            return_document=ReturnDocument.AFTER,
        )
        if doc is not None:
            self._moved(doc, RunStatus.QUEUED.value, RunStatus.CANCELLED.value)
            return doc
        return self.col.find_one_and_update(
            {"_id": str(run_id), "status": RunStatus.RUNNING.value, "cancel_requested_at": None},
            {"$set": {"cancel_requested_at": t}},
            return_document=ReturnDocument.AFTER,
        ) or self.get(run_id)

    def stale_running(self, max_age: float | None = None) -> list[dict[str, Any]]:
        cutoff = now() - dt.timedelta(seconds=stale_seconds() if max_age is None else max_age)
        # external runs are records of jobs that ran elsewhere: nobody here beats their heartbeat
        query = {"status": RunStatus.RUNNING.value, "kind": {"$ne": "external"}}
        return list(self.col.find({**query, "heartbeat_at": {"$lt": cutoff}}))

    def mark_lost(self, run_id: str, heartbeat_at: Any, message: str) -> bool:
        """Fail a stale run, unless its heartbeat moved since it was read."""
        doc = self.col.find_one_and_update(
            {"_id": run_id, "status": RunStatus.RUNNING.value, "heartbeat_at": heartbeat_at},
            {
                "$set": {
                    "status": RunStatus.FAILED.value,
                    "finished_at": now(),
                    "error": {"type": "lost", "message": message, "cell": None},
                }
            },
            {"owner": 1, "kind": 1},
        )
        self._moved(doc, RunStatus.RUNNING.value, RunStatus.FAILED.value)
        return doc is not None
