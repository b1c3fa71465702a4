"""The service's JSON API under ``/services/stockbot/api/`` (DESIGN.md §7).

Every handler authenticates in an async ``prepare`` through JupyterHub and answers 401/403 as JSON
(never a redirect). The owner of anything created is the authenticated hub user; a user sees only
their own runs and admins see all. Another user's run answers 404, the same as a run that does not
exist. Cookie-authenticated POSTs must carry JupyterHub's XSRF token (``X-XSRFToken``, from the
``_xsrf`` cookie that ``GET /api/auth/me`` sets); token-authenticated calls need none.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

from tornado.web import Finish, RequestHandler

from hub.base import APIHandler, jsonable
from hub.brokers import broker_routes
from hub.deps import store
from hub.live import live_routes
from hub.reports import NotebookHandler, forget_report, run_zip
from hub.stream import StreamHandler
from stockbot.access import Viewer
from stockbot.errors import ConfigError, JobError, StockBotError, StoreError
from stockbot.jobs import artifacts, ensure_executor, submit
from stockbot.jobs.external import record_external
from stockbot.store.runs import RunConflictError

log = logging.getLogger(__name__)
RUN = r"(\d{8}-\d{6}-[a-z_]+-[0-9a-f]{4})"
# artifact types shown in the browser, by suffix; anything else is a download
INLINE_TYPES = {
    ".csv": "text/csv; charset=utf-8",
    ".json": "application/json",
    ".png": "image/png",
    ".log": "text/plain; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".yaml": "text/plain; charset=utf-8",
    ".yml": "text/plain; charset=utf-8",
    ".md": "text/plain; charset=utf-8",
}
MAX_LIMIT = 500


class MeHandler(APIHandler):
    async def get(self) -> None:
        # reading xsrf_token sets the _xsrf cookie that cookie-authenticated POSTs must echo
        self.write({"name": self.user.name, "admin": self.user.admin, "xsrf": self.xsrf_token.decode()})


class RunsHandler(APIHandler):
    async def get(self) -> None:
        owner = self.get_query_argument("owner", None)
        if not self.user.admin:
            if owner not in (None, self.user.name):
                self.fail(403, "only admins may list other users' runs")
            owner = self.user.name
        limit = self.int_arg("limit", 50, 0, MAX_LIMIT)
        skip = self.int_arg("skip", 0, 0, 10**9)
        order = self.choice_arg("order", "desc", ("asc", "desc"))
        archived = {"false": False, "true": True, "all": None}[
            self.choice_arg("archived", "false", ("false", "true", "all"))
        ]
        try:
            docs, total = await self.call(
                store().list,
                owner=owner,
                kind=self.get_query_argument("kind", None),
                status=self.get_query_argument("status", None),
                search=self.get_query_argument("search", None),
                sort=self.get_query_argument("sort", "created_at"),
                descending=order == "desc",
                archived=archived,
                limit=limit,
                skip=skip,
            )
        except StoreError as e:
            self.fail(400, str(e))
        self.write({"runs": [jsonable(d) for d in docs], "total": total})

    async def post(self) -> None:
        """The record of a job run elsewhere (kind ``external``), owned by the caller."""
        try:
            run_id = await self.call(record_external, self.body_json(), self.user.name, store())
        except ConfigError as e:
            self.fail(422, "invalid external run", errors=e.errors)
        except StoreError as e:
            self.fail(422, str(e), errors=[{"field": "config", "message": str(e)}])
        self.set_status(201)
        self.write({"run_id": run_id})


class RunHandler(APIHandler):
    async def get(self, run_id: str) -> None:
        self.write(jsonable(await self.visible_run(run_id)))


class CancelHandler(APIHandler):
    async def post(self, run_id: str) -> None:
        await self.visible_run(run_id)
        doc = await self.call(store().request_cancel, run_id)
        self.write(jsonable(doc))  # type: ignore[arg-type]


def conflict_body(e: RunConflictError, viewer: Viewer) -> dict[str, Any]:
    """A 409's JSON: why, the run's status, and the dependent runs this viewer may see (others'
    runs are only counted: their ids are not this viewer's to know)."""
    shown = [d["id"] for d in e.dependents if viewer.can_see(d)]
    message = str(e)
    if shown:
        message += f" ({', '.join(shown)})"
    hidden = len(e.dependents) - len(shown)
    if hidden:
        message += f"; {hidden} of them belong to other users"
    return {
        "error": message,
        "reason": e.reason,
        "status": e.status,
        "dependents": shown,
        "hidden_dependents": hidden,
    }


def refuse_conflict(handler: APIHandler, e: RunConflictError) -> None:
    """Answer 409 with :func:`conflict_body` (its ``status`` key is the run's, not the HTTP one)."""
    handler.set_status(409)
    handler.finish(json.dumps(conflict_body(e, handler.user)))
    raise Finish()


class RunEditHandler(RunHandler):
    """``PATCH api/runs/{id}`` (any of name, tags, note) and ``DELETE api/runs/{id}`` (the run and
    its folder): the owner's or an admin's; another user's run answers 404."""

    async def patch(self, run_id: str) -> None:
        await self.visible_run(run_id)
        body = self.body_json()
        try:
            doc = await self.call(store().edit, run_id, body)
        except ConfigError as e:
            self.fail(422, "invalid run labels", errors=e.errors)
        except RunConflictError as e:
            refuse_conflict(self, e)
        if doc is None:
            self.fail(404, f"no run {run_id!r}")
        self.write(jsonable(doc))

    async def delete(self, run_id: str) -> None:
        await self.visible_run(run_id)
        try:
            deleted = await self.call(store().delete, run_id, remove_files=artifacts.delete_run_folder)
        except RunConflictError as e:
            refuse_conflict(self, e)
        if not deleted:
            self.fail(404, f"no run {run_id!r}")
        await self.call(forget_report, run_id)
        log.info("%s deleted run %s", self.user.name, run_id)
        self.write({"id": run_id, "deleted": True})


class ArchiveHandler(APIHandler):
    """``POST api/runs/{id}/archive``: hide a finished run from the list (files stay); the body
    ``{"archived": false}`` brings it back, an empty body or ``{}`` archives. 409 while it is
    queued or running."""

    async def post(self, run_id: str) -> None:
        await self.visible_run(run_id)
        archived = self.flag_body("archive request", "archived", True)
        try:
            doc = await self.call(store().archive, run_id, archived)
        except RunConflictError as e:
            refuse_conflict(self, e)
        if doc is None:
            self.fail(404, f"no run {run_id!r}")
        self.write(jsonable(doc))


class SubmitHandler(APIHandler):
    """``POST /api/stockbot/train`` and friends: the body is the job's config (DESIGN.md §3)."""

    def initialize(self, kind: str) -> None:
        self.kind = kind

    async def post(self) -> None:
        body = self.body_json()
        try:
            run_id = await self.call(
                submit,
                self.kind,
                body,
                self.user.name,
                store=store(),
                data_root=self.user.data_root,
                parent_owner=self.user.parent_owner,
            )
        except ConfigError as e:
            self.fail(422, f"invalid {self.kind} config", errors=e.errors)
        except StoreError as e:
            self.fail(422, str(e), errors=[{"field": None, "message": str(e)}])
        try:
            await self.call(ensure_executor)
        except Exception:  # the run is queued: any executor that starts later will run it
            log.exception("could not start the executor for run %s", run_id)
        self.set_status(201)
        self.write({"run_id": run_id})


class ArtifactsHandler(APIHandler):
    async def get(self, run_id: str) -> None:
        await self.visible_run(run_id)
        try:
            items = await self.call(artifacts.list_artifacts, run_id)
        except JobError as e:
            self.fail(404, str(e))
        self.write({"run_id": run_id, "artifacts": items})


class ZipHandler(APIHandler):
    async def get(self, run_id: str) -> None:
        await self.visible_run(run_id)
        try:
            data = await self.call(run_zip, run_id)
        except JobError as e:
            self.fail(404, str(e))
        self.set_header("Content-Type", "application/zip")
        self.set_header("Content-Disposition", f'attachment; filename="{run_id}.zip"')
        self.finish(data)


class ArtifactHandler(APIHandler):
    async def get(self, run_id: str, relpath: str) -> None:
        await self.visible_run(run_id)
        try:
            data = await self.call(artifacts.read_artifact, run_id, relpath)
        except StockBotError as e:
            self.fail(404, str(e))
        kind = INLINE_TYPES.get(Path(relpath).suffix.lower())
        inline = kind is not None
        self.set_header("Content-Type", kind or "application/octet-stream")
        self.set_header("X-Content-Type-Options", "nosniff")
        # a run's files are data: never a page that could act on this origin
        self.set_header("Content-Security-Policy", "sandbox")
        if not inline or self.get_query_argument("download", None) is not None:
            name = re.sub(r"[^A-Za-z0-9._-]", "_", Path(relpath).name)
            self.set_header("Content-Disposition", f'attachment; filename="{name}"')
        self.finish(data)


class NotFoundHandler(APIHandler):
    """Any other ``/api/`` path: a JSON 404 (after authentication, like every route)."""

    async def get(self, *args: str) -> None:
        self.fail(404, f"no API route {self.request.path}")

    post = get


def routes() -> list[tuple[str, type[RequestHandler], dict[str, Any]] | tuple[str, type[RequestHandler]]]:
    """The API's routes, relative to the service prefix (Bokeh adds the prefix)."""
    return [
        (r"/api/auth/me", MeHandler),
        (r"/api/runs", RunsHandler),
        (rf"/api/runs/{RUN}", RunEditHandler),
        (rf"/api/runs/{RUN}/cancel", CancelHandler),
        (rf"/api/runs/{RUN}/archive", ArchiveHandler),
        (rf"/api/runs/{RUN}/notebook", NotebookHandler),
        (rf"/api/runs/{RUN}/stream", StreamHandler),
        (r"/api/stockbot/train", SubmitHandler, {"kind": "train"}),
        (r"/api/stockbot/backtest", SubmitHandler, {"kind": "backtest"}),
        (r"/api/prob/train", SubmitHandler, {"kind": "hmm_fit"}),
        (r"/api/prob/infer", SubmitHandler, {"kind": "hmm_infer"}),
        (rf"/api/artifacts/{RUN}", ArtifactsHandler),
        (rf"/api/artifacts/{RUN}/zip", ZipHandler),
        (rf"/api/artifacts/{RUN}/(.+)", ArtifactHandler),
        *live_routes(),
        *broker_routes(),
        (r"/api/(.*)", NotFoundHandler),
    ]
