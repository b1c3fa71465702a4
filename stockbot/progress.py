"""The progress line a job prints and its supervisor parses (DESIGN.md §4)."""

from __future__ import annotations

import json

PROGRESS_PREFIX = "STOCKBOT_PROGRESS"


def progress_line(step: int, total: int | None, message: str) -> str:
    return f"{PROGRESS_PREFIX} " + json.dumps({"step": step, "total": total, "message": message})
