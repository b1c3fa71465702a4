"""Run documents (collection ``runs``, DESIGN.md §4) and the conditional updates that move them."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.database import Database

from stockbot.errors import ConfigError, StoreError
from stockbot.store.safety import check_plain, plain_filter


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED})
_FINAL = [s.value for s in TERMINAL]
_DIRECT_PAGE_MAX = 200  # below this many matches a plain sorted query is as cheap as any
# what a list can be sorted by, besides any metric as "metrics.<key>"
SORT_FIELDS = ("created_at", "finished_at", "name", "kind", "status", "owner")
_METRIC_SORT = re.compile(r"^metrics\.([a-z][a-z0-9_]{0,63})$")
# names sort as people read them (case-insensitive), in MongoDB and SecantusDB alike
_NAME_COLLATION = {"locale": "en", "strength": 2}
_DEPENDENTS_SHOWN = 20
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


def _count_key(owner: Any, kind: Any, status: Any, archived: bool = False) -> str:
    # archived runs are counted apart; the key of the others predates archiving and stays as it was
    return json.dumps([owner, kind, status, "archived"] if archived else [owner, kind, status])


def _is_archived(doc: dict[str, Any]) -> bool:
    return doc.get("archived_at") is not None


def _archived_filter(archived: bool | None) -> dict[str, Any]:
    """Runs: False -> not archived (the default list), True -> archived only, None -> both."""
    if archived is None:
        return {}
    return {"archived_at": {"$ne": None}} if archived else {"archived_at": None}


_SUPERVISED_RUNNING = {"status": RunStatus.RUNNING.value, "kind": {"$ne": "external"}}


def _not_archived(doc: dict[str, Any]) -> bool:
    return doc.get("archived_at") is None


def _counts_archived_filter(archived: bool | None) -> dict[str, Any]:
    if archived is None:
        return {}
    return {"archived": True} if archived else {"archived": {"$ne": True}}


def sort_field(sort: str) -> str:
    """The document field a list is sorted by: one of :data:`SORT_FIELDS` or ``metrics.<key>``;
    anything else (it comes from requests) is a :class:`StoreError` listing what is allowed."""
    if isinstance(sort, str) and (sort in SORT_FIELDS or _METRIC_SORT.match(sort)):
        return sort
    allowed = ", ".join(SORT_FIELDS)
    raise StoreError(
        f"cannot sort by {sort!r}; sort by one of {allowed} or metrics.<name> (e.g. metrics.sharpe)"
    )


def search_filter(text: str) -> dict[str, Any]:
    """Runs whose name contains ``text`` or that carry the tag ``text``, ignoring case. The text is
    matched literally: it is escaped, so ``.*`` or ``(`` are characters, never a pattern."""
    literal = re.escape(text)
    return {
        "$or": [
            {"name": {"$regex": literal, "$options": "i"}},
            {"tags": {"$regex": f"^{literal}$", "$options": "i"}},
        ]
    }


def with_labels(doc: dict[str, Any] | None) -> dict[str, Any] | None:
    """A run document with ``name``, ``tags``, ``note`` and ``archived_at`` present: runs stored
    before runs had names show the default name (kind, universe, policy); external records'
    ``notes`` is the note."""
    if doc is None:
        return None
    if not doc.get("name"):
        from stockbot.jobs.naming import default_run_name

        doc["name"] = default_run_name(str(doc.get("kind") or "run"), doc.get("config"))
    if not isinstance(doc.get("tags"), list):
        doc["tags"] = []
    if "note" not in doc:
        doc["note"] = doc.get("notes")
    doc.setdefault("archived_at", None)
    return doc


class RunConflictError(StoreError):
    """A run cannot be archived or deleted now: it is active (queued or running), other runs depend
    on it, or it is being deleted. ``reason`` is ``"active"``, ``"dependents"`` or ``"deleting"``;
    ``dependents`` lists the runs built on it (``{"id", "owner"}``, the first 20)."""

    def __init__(
        self,
        message: str,
        reason: str,
        *,
        status: str | None = None,
        dependents: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status
        self.dependents = dependents or []


class RunStore:
    """Run documents and their counts.

    The list's ``total`` comes from ``run_counts``: one small document per (owner, kind, status,
    archived or not) holding how many runs are in it, moved by every create, status change, archive
    and delete. Counting the runs themselves made a store like SecantusDB read every matching
    document (60 ms for 10,000 runs); a search by text cannot use the counts and counts its matches.
    A crash between a run's update and its count's leaves a count off by one until the next
    :meth:`recount` (the executor daemon recounts when it starts)."""

    def __init__(self, db: Database | None = None) -> None:
        if db is None:
            from stockbot.store.db import get_db

            db = get_db()
        self.col = db["runs"]
        self.counts = db["run_counts"]
        self._names_checked = False

    # ------------------------------------------------------------------ reads

    def get(self, run_id: str) -> dict[str, Any] | None:
        return with_labels(self.col.find_one({"_id": str(run_id)}))

    def list(
        self,
        *,
        owner: str | None = None,
        kind: str | None = None,
        status: str | None = None,
        search: str | None = None,
        archived: bool | None = False,
        sort: str = "created_at",
        descending: bool = True,
        limit: int = 50,
        skip: int = 0,
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of runs and how many match in all. Filters are equalities on plain values;
        ``search`` matches a name containing the text or a tag equal to it (literally, ignoring
        case); ``archived``: False hides archived runs, True shows only them, None both. Sorted by
        ``sort`` (:func:`sort_field`; runs without that value come last either way, ties by id),
        newest first by default. Sorting and paging happen in the store."""
        base = plain_filter(owner=owner, kind=kind, status=status)
        query = {**base, **_archived_filter(archived)}
        field = sort_field(sort)
        text = self._search_text(search)
        skip, limit = max(skip, 0), max(limit, 0)
        if text is not None:
            self._ensure_names()
            query.update(search_filter(text))
            total = self.col.count_documents(query)
        else:
            total = self.total(base, archived)
        if limit == 0:
            return [], total
        if field == "name":
            self._ensure_names()
        if text is None and field == "created_at" and descending:
            if total <= _DIRECT_PAGE_MAX:
                cursor = self.col.find(query).sort("created_at", DESCENDING).skip(skip).limit(limit)
                page = list(cursor)
            elif archived is False:
                # matching "archived_at is null" made SecantusDB's ranged reads 3x slower (47 ->
                # 156 ms for one owner's 1,000 of 10,000 runs): read without it, drop the archived
                # runs here, and read as many more as there are archived runs to drop
                hidden = self.total(base, archived=True)
                page = self._newest(base, skip + limit, extra=hidden, keep=_not_archived)[skip:]
            else:
                page = self._newest(query, skip + limit)[skip:]
        else:
            page = self._sorted(query, field, descending, skip, limit)
        page = [with_labels(d) for d in page]  # type: ignore[misc]
        # a count that drifted low must never hide runs: what was found is at least what there is
        return page, max(total, skip + len(page)) if page else total

    @staticmethod
    def _search_text(search: str | None) -> str | None:
        from stockbot.jobs.naming import search_text

        try:
            return search_text(search)
        except ConfigError as e:
            raise StoreError(str(e)) from e

    def total(self, query: dict[str, Any], archived: bool | None = False) -> int:
        """How many runs match equality filters on owner, kind and status (from ``run_counts``);
        ``archived`` as in :meth:`list`."""
        counts = {**query, **_counts_archived_filter(archived)}
        return sum(int(c.get("n", 0)) for c in self.counts.find(counts, {"n": 1}))

    def _sorted(
        self, query: dict[str, Any], field: str, descending: bool, skip: int, limit: int
    ) -> list[dict[str, Any]]:
        """A page sorted by ``field`` with the runs lacking it last in both directions (a plain
        sort puts nulls first when ascending: the runs without a Sharpe ratio would lead)."""
        direction = DESCENDING if descending else ASCENDING
        pipeline: list[dict[str, Any]] = [
            {"$match": query},
            {
                "$addFields": {
                    "_sort_missing": {"$cond": [{"$in": [{"$type": f"${field}"}, ["missing", "null"]]}, 1, 0]}
                }
            },
            {"$sort": {"_sort_missing": ASCENDING, field: direction, "_id": direction}},
            {"$skip": skip},
            {"$limit": limit},
            {"$project": {"_sort_missing": 0}},
        ]
        options = {"collation": _NAME_COLLATION} if field == "name" else {}
        return list(self.col.aggregate(pipeline, **options))

    def _ensure_names(self) -> None:
        """Name the runs stored before runs had names (once per store object), so that searching
        and sorting by name see the same names the pages show."""
        if not self._names_checked:
            self.backfill_names()
            self._names_checked = True

    def backfill_names(self) -> int:
        """Give every run without a name its default name; returns how many were named. Each
        update is conditional, so a name set meanwhile (an edit) is never overwritten."""
        from stockbot.jobs.naming import default_run_name

        named = 0
        for doc in self.col.find({"name": None}, {"kind": 1, "config": 1}):
            name = default_run_name(str(doc.get("kind") or "run"), doc.get("config"))
            named += self.col.update_one(
                {"_id": doc["_id"], "name": None}, {"$set": {"name": name}}
            ).modified_count
        return named

    def dependents(self, run_id: str, limit: int = _DEPENDENTS_SHOWN) -> list[dict[str, Any]]:
        """Runs whose ``parent`` is ``run_id`` (``{"id", "owner"}``, at most ``limit``)."""
        cursor = self.col.find({"parent": str(run_id), "_id": {"$ne": str(run_id)}}, {"owner": 1}).limit(
            limit
        )
        return [{"id": d["_id"], "owner": d.get("owner")} for d in cursor]

    def recount(self) -> None:
        """Correct ``run_counts`` from the runs themselves, without losing concurrent changes.

        The counts are read before the runs are scanned, and each is corrected only if it still
        holds the value read (compare and set): a count a create or status change moved meanwhile
        is left as it is (the next recount looks again)."""
        before = {c["_id"]: c for c in self.counts.find({})}
        fresh: dict[str, tuple[Any, Any, Any, bool, int]] = {}
        for doc in self.col.find({}, {"owner": 1, "kind": 1, "status": 1, "archived_at": 1}):
            owner, kind, status, archived = (
                doc.get("owner"),
                doc.get("kind"),
                doc.get("status"),
                _is_archived(doc),
            )
            key = _count_key(owner, kind, status, archived)
            n = fresh[key][4] + 1 if key in fresh else 1
            fresh[key] = (owner, kind, status, archived, n)
        for key, c in before.items():
            n = fresh.pop(key, (None, None, None, False, 0))[4]
            if c.get("n") != n:
                self.counts.update_one({"_id": key, "n": c.get("n")}, {"$set": {"n": n}})
        for key, (owner, kind, status, archived, n) in fresh.items():  # counts that did not exist yet
            self.counts.update_one(
                {"_id": key},
                {
                    "$setOnInsert": {
                        "owner": owner,
                        "kind": kind,
                        "status": status,
                        "archived": archived,
                        "n": n,
                    }
                },
                upsert=True,
            )

    def _count(self, doc: dict[str, Any], status: Any, archived: bool, step: int) -> None:
        owner, kind = doc.get("owner"), doc.get("kind")
        self.counts.update_one(
            {"_id": _count_key(owner, kind, status, archived)},
            {
                "$inc": {"n": step},
                "$setOnInsert": {"owner": owner, "kind": kind, "status": status, "archived": archived},
            },
            upsert=True,
        )

    def _moved(self, doc: dict[str, Any] | None, old: str | None, new: str | None) -> None:
        """Count a run (``doc``: its owner, kind, archived_at) moving from status ``old`` to ``new``."""
        if doc is None or old == new:
            return
        archived = _is_archived(doc)
        for status, step in ((old, -1), (new, 1)):
            if status is not None:
                self._count(doc, status, archived, step)

    def _newest(
        self,
        query: dict[str, Any],
        n: int,
        *,
        extra: int = 0,
        keep: Callable[[dict[str, Any]], bool] | None = None,
    ) -> list[dict[str, Any]]:
        """The ``n`` newest matching runs. A sorted, limited query over the whole collection makes
        some MongoDB-compatible servers (SecantusDB) read every match first; a range on the
        ``created_at`` index that widens until it holds ``n`` runs reads only about what it needs.
        ``keep`` drops runs after reading; ``extra`` (at least how many it may drop) more are read."""
        if n <= 0:
            return []
        upper = now()  # only a lower bound is applied: a clock-skewed future run still counts
        span = dt.timedelta(minutes=1)
        while True:
            ranged = {**query, "created_at": {"$gte": upper - span}}
            docs = list(self.col.find(ranged).sort("created_at", DESCENDING).limit(n + extra))
            wide = span > dt.timedelta(days=365 * 60)
            if keep is not None:
                # of the newest n + extra in the range at most extra are dropped: n remain if the
                # range holds n to keep; else the range widens
                docs = [d for d in docs if keep(d)]
            if len(docs) >= n or wide:
                return docs[:n]
            span *= 4

    # ------------------------------------------------------------------ writes

    def create(self, doc: dict[str, Any]) -> None:
        """Insert a new run (counted). A run without a ``name`` gets its default name."""
        check_plain(doc, "run")
        if not doc.get("name"):
            from stockbot.jobs.naming import default_run_name

            doc = {**doc, "name": default_run_name(str(doc.get("kind") or "run"), doc.get("config"))}
        self.col.insert_one(doc)
        self._moved(doc, None, doc.get("status"))

    def edit(self, run_id: str, changes: dict[str, Any]) -> dict[str, Any] | None:
        """Set any of a run's ``name``, ``tags`` and ``note`` (checked by
        :func:`stockbot.jobs.naming.parse_labels`: a :class:`ConfigError` names a bad field).
        Returns the updated run; None if there is no such run. Callers check who may edit."""
        from stockbot.jobs.naming import parse_labels

        fields = parse_labels(changes).changes()
        doc = self.col.find_one_and_update(
            {"_id": str(run_id), "deleting_at": None}, {"$set": fields}, return_document=ReturnDocument.AFTER
        )
        if doc is None and self.col.find_one({"_id": str(run_id)}, {"_id": 1}) is not None:
            raise RunConflictError(f"run {run_id} is being deleted", "deleting")
        return with_labels(doc)

    def archive(self, run_id: str, archived: bool = True) -> dict[str, Any] | None:
        """Archive a finished run (hidden from lists unless asked for; nothing on disk changes), or
        with ``archived=False`` bring it back. Asking for the state a run already has is no error.
        Returns the run (None if unknown); a queued or running run is a :class:`RunConflictError`."""
        run_id = str(run_id)
        if archived:
            match = {"_id": run_id, "status": {"$in": _FINAL}, "archived_at": None, "deleting_at": None}
            update = {"$set": {"archived_at": now()}}
        else:
            match = {"_id": run_id, "archived_at": {"$ne": None}, "deleting_at": None}
            update = {"$set": {"archived_at": None}}
        doc = self.col.find_one_and_update(match, update, return_document=ReturnDocument.AFTER)
        if doc is not None:
            self._count(doc, doc.get("status"), not archived, -1)
            self._count(doc, doc.get("status"), archived, 1)
            return with_labels(doc)
        current = self.col.find_one({"_id": run_id})
        if current is None:
            return None
        if current.get("deleting_at") is not None:
            raise RunConflictError(f"run {run_id} is being deleted", "deleting")
        if _is_archived(current) != archived:
            status = current.get("status")
            raise RunConflictError(
                f"run {run_id} is {status}: only a finished run can be archived (cancel it first)",
                "active",
                status=status,
            )
        return with_labels(current)

    def delete(self, run_id: str, *, remove_files: Callable[[str], None]) -> bool:
        """Delete a finished run on which no other run depends: its files (``remove_files(run_id)``,
        e.g. :func:`stockbot.jobs.artifacts.delete_run_folder`), its document and its count.
        False if there is no such run; a :class:`RunConflictError` if it is queued or running or
        other runs name it as their ``parent``.

        The steps are ordered so that a crash anywhere leaves what a retry finishes: the run is
        first marked ``deleting_at`` (no edit or archive touches it after that), then its files go,
        then the document and, last, its count (a crash between those two leaves a count one too
        high until the next :meth:`recount`)."""
        run_id = str(run_id)
        found = self.col.find_one({"_id": run_id}, {"status": 1})
        if found is None:
            return False
        before = self.col.find_one_and_update(
            {"_id": run_id, "status": {"$in": _FINAL}}, {"$set": {"deleting_at": now()}}
        )
        if before is None:
            current = self.col.find_one({"_id": run_id}, {"status": 1})
            if current is None:
                return False  # deleted meanwhile by someone else
            status = current.get("status")
            raise RunConflictError(
                f"run {run_id} is {status}: cancel it and wait until it ends before deleting it",
                "active",
                status=status,
            )
        depending = self.dependents(run_id)
        if depending:
            if before.get("deleting_at") is None:  # a delete that crashed earlier stays marked
                self.col.update_one({"_id": run_id}, {"$set": {"deleting_at": None}})
            # the ids are in ``dependents``: some may be other users' runs, not for every message
            raise RunConflictError(
                f"run {run_id} cannot be deleted: other runs were built on it; delete those first",
                "dependents",
                status=before.get("status"),
                dependents=depending,
            )
        remove_files(run_id)
        if self.col.delete_one({"_id": run_id}).deleted_count == 1:
            self._count(before, before.get("status"), _is_archived(before), -1)
        return True

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
            {"_id": run_id, "status": RunStatus.RUNNING.value},
            {"$set": fields},
            {"owner": 1, "kind": 1, "archived_at": 1},
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

    def running(self) -> list[dict[str, Any]]:
        """Every running run a supervisor here could own (external runs are records of jobs that
        ran elsewhere: nobody here beats their heartbeat)."""
        return list(self.col.find(_SUPERVISED_RUNNING))

    def stale_running(self, max_age: float | None = None) -> list[dict[str, Any]]:
        cutoff = now() - dt.timedelta(seconds=stale_seconds() if max_age is None else max_age)
        return list(self.col.find({**_SUPERVISED_RUNNING, "heartbeat_at": {"$lt": cutoff}}))

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
            {"owner": 1, "kind": 1, "archived_at": 1},
        )
        self._moved(doc, RunStatus.RUNNING.value, RunStatus.FAILED.value)
        return doc is not None
