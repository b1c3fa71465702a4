"""Run documents (collection ``runs``, DESIGN.md §4) and the conditional updates that move them."""

from __future__ import annotations

import datetime as dt
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


class RunStore:
    def __init__(self, db: Database | None = None) -> None:
        if db is None:
            from stockbot.store.db import get_db

            db = get_db()
        self.col = db["runs"]

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
        total = self.col.count_documents(query) if query else self.col.estimated_document_count()
        if total <= skip or limit == 0:
            return [], total
        if total <= _DIRECT_PAGE_MAX:
            cursor = self.col.find(query).sort("created_at", DESCENDING).skip(skip).limit(limit)
            return list(cursor), total
        return self._newest(query, skip + limit)[skip:], total

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

    def claim(self, executor: dict[str, Any], run_id: str | None = None) -> dict[str, Any] | None:
        """Move the oldest queued run (or ``run_id``) to running; None if another process won."""
        query: dict[str, Any] = {"status": RunStatus.QUEUED.value}
        if run_id is not None:
            query["_id"] = str(run_id)
        t = now()
        return self.col.find_one_and_update(
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
        res = self.col.update_one({"_id": run_id, "status": RunStatus.RUNNING.value}, {"$set": fields})
        return res.matched_count == 1

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
            return doc
        return self.col.find_one_and_update(
            {"_id": str(run_id), "status": RunStatus.RUNNING.value, "cancel_requested_at": None},
            {"$set": {"cancel_requested_at": t}},
            return_document=ReturnDocument.AFTER,
        ) or self.get(run_id)

    def stale_running(self, max_age: float | None = None) -> list[dict[str, Any]]:
        cutoff = now() - dt.timedelta(seconds=stale_seconds() if max_age is None else max_age)
        return list(self.col.find({"status": RunStatus.RUNNING.value, "heartbeat_at": {"$lt": cutoff}}))

    def mark_lost(self, run_id: str, heartbeat_at: Any, message: str) -> bool:
        """Fail a stale run, unless its heartbeat moved since it was read."""
        res = self.col.update_one(
            {"_id": run_id, "status": RunStatus.RUNNING.value, "heartbeat_at": heartbeat_at},
            {
                "$set": {
                    "status": RunStatus.FAILED.value,
                    "finished_at": now(),
                    "error": {"type": "lost", "message": message, "cell": None},
                }
            },
        )
        return res.matched_count == 1
