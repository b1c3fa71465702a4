"""Reading and writing the small JSON files of frozen components (obsnorm.json, hmm.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from stockbot.errors import StockBotError


def write_json(path: str | Path, data: dict[str, Any]) -> None:
    """Floats are written with ``repr`` precision, so a load gives back the exact values."""
    Path(path).write_text(json.dumps(data, indent=1))


def read_json(path: str | Path, error: type[StockBotError], what: str) -> dict[str, Any]:
    """The JSON object in ``path``, or ``error`` naming ``what`` could not be read and why."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise error(f"cannot read {what} from {path}: {e}") from e
    if not isinstance(data, dict):
        raise error(f"{path} does not hold a {what} (a JSON object)")
    return data
