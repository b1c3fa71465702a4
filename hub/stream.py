"""``GET /api/runs/{id}/stream``: a WebSocket of a run's status, progress and log lines.

Messages are JSON: ``{"type": "status", "status": ...}``, ``{"type": "progress", "step": ...,
"total": ..., "message": ...}`` and ``{"type": "log", "line": ...}``, sent as they happen: the log
from its first line, then new lines. The socket closes after the final status (after the last log
line). Authentication happens before the upgrade, as for every API route.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from hub.base import JSONStream
from hub.deps import store
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


class StreamHandler(JSONStream):
    what = "run"
    done = "run finished"

    async def find(self, key: str) -> dict[str, Any] | None:
        return await asyncio.to_thread(store().get, key) if RUN_ID.match(key) else None

    async def follow(self) -> None:
        tail = LogTail(run_dir(self.key) / "job.log")
        status = progress = None
        while True:
            doc = await asyncio.to_thread(store().get, self.key)
            if doc is None:
                return
            final = RunStatus(doc["status"]) in TERMINAL
            if doc["status"] != status and not final:
                status = doc["status"]
                await self.send({"type": "status", "status": status})
            current = doc.get("progress") or {}
            if current != progress:
                progress = current
                fields = {k: current.get(k) for k in ("step", "total", "message")}
                await self.send({"type": "progress", **fields})
            for line in await asyncio.to_thread(tail.read, final):
                await self.send({"type": "log", "line": line})
            if final:
                await self.send({"type": "status", "status": doc["status"], "error": doc.get("error")})
                return
            await asyncio.sleep(POLL_SECONDS)
