"""``GET /api/runs/{id}/stream``: a WebSocket of a run's status, progress and log lines.

Messages are JSON: ``{"type": "status", "status": ...}``, ``{"type": "progress", "step": ...,
"total": ..., "message": ...}`` and ``{"type": "log", "line": ...}``, sent as they happen: the log
from its first line, then new lines. The socket closes after the final status (after the last log
line). Authentication happens before the upgrade, as for every API route.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

from jupyterhub.services.auth import HubOAuthenticated
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from hub.api import store
from hub.identity import authenticate
from stockbot.access import Viewer
from stockbot.jobs.kinds import RUN_ID, run_dir
from stockbot.store.runs import TERMINAL, RunStatus

log = logging.getLogger(__name__)
POLL_SECONDS = 0.25


class LogTail:
    """New complete lines of a growing file (a partial last line waits for its newline)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.partial = b""

    def read(self, final: bool = False) -> list[str]:
        try:
            with self.path.open("rb") as fh:
                fh.seek(self.offset)
                chunk = fh.read()
        except FileNotFoundError:
            chunk = b""
        self.offset += len(chunk)
        data = self.partial + chunk
        *lines, self.partial = data.split(b"\n")
        if final and self.partial:
            lines.append(self.partial)
            self.partial = b""
        return [line.decode(errors="replace").rstrip("\r") for line in lines]


class StreamHandler(HubOAuthenticated, WebSocketHandler):
    user: Viewer | None = None
    run_id: str = ""

    async def prepare(self) -> None:
        user = await authenticate(self)
        if user is None:
            self.set_status(401 if not self.request.headers.get("Authorization") else 403)
            self.finish(json.dumps({"error": "not authenticated for the StockBot service"}))
            return
        self.user = user

    async def get(self, run_id: str, *args: Any, **kwargs: Any) -> None:
        doc = await asyncio.to_thread(store().get, run_id) if RUN_ID.match(run_id) else None
        if doc is None or self.user is None or not self.user.can_see(doc):
            self.set_status(404)
            self.finish(json.dumps({"error": f"no run {run_id!r}"}))
            return
        self.run_id = run_id
        await super().get(run_id, *args, **kwargs)

    def open(self, run_id: str) -> None:  # type: ignore[override]
        self._task = asyncio.ensure_future(self._pump())

    def on_message(self, message: str | bytes) -> None:
        pass  # the stream is one-way

    def on_close(self) -> None:
        task = getattr(self, "_task", None)
        if task is not None:
            task.cancel()

    async def _send(self, message: dict[str, Any]) -> None:
        await self.write_message(json.dumps(message, default=str))

    async def _pump(self) -> None:
        tail = LogTail(run_dir(self.run_id) / "job.log")
        status = progress = None
        try:
            while True:
                doc = await asyncio.to_thread(store().get, self.run_id)
                if doc is None:
                    break
                final = RunStatus(doc["status"]) in TERMINAL
                if doc["status"] != status and not final:
                    status = doc["status"]
                    await self._send({"type": "status", "status": status})
                current = doc.get("progress") or {}
                if current != progress:
                    progress = current
                    fields = {k: current.get(k) for k in ("step", "total", "message")}
                    await self._send({"type": "progress", **fields})
                for line in await asyncio.to_thread(tail.read, final):
                    await self._send({"type": "log", "line": line})
                if final:
                    await self._send({"type": "status", "status": doc["status"], "error": doc.get("error")})
                    break
                await asyncio.sleep(POLL_SECONDS)
            self.close(1000, "run finished")
        except WebSocketClosedError:
            pass
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("stream of run %s failed", self.run_id)
            self.close(1011, "stream failed")
