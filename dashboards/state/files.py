"""Cached reads of a run's artifacts (equity.csv, trades.csv, summary.json, job.log).

Pages re-read these on every refresh; a finished run's files never change, so each read is cached
under the file's (path, mtime, size) and a rewritten file is read again. Callers get copies.
"""

from __future__ import annotations

import json
import logging
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from stockbot.jobs import run_dir

log = logging.getLogger(__name__)

TIME_COLUMNS = ("timestamp", "decision_timestamp")
LOG_TAIL_LINES = 200


def _signature(path: Path) -> tuple[str, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return str(path), st.st_mtime_ns, st.st_size


@lru_cache(maxsize=128)
def _csv(path: str, mtime_ns: int, size: int) -> pd.DataFrame:
    frame = pd.read_csv(path)
    for col in TIME_COLUMNS:
        if col in frame.columns:
            frame[col] = pd.to_datetime(frame[col], utc=True)
    return frame


@lru_cache(maxsize=128)
def _json(path: str, mtime_ns: int, size: int) -> dict[str, Any]:
    data = json.loads(Path(path).read_text())
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


def read_csv(run_id: str, name: str) -> pd.DataFrame | None:
    """A CSV artifact with its time columns as UTC timestamps; None if absent or unreadable."""
    return read_path_csv(run_dir(run_id) / name)


def read_path_csv(path: Path) -> pd.DataFrame | None:
    """A CSV file (a run's artifact, a live session's file) with its time columns as UTC
    timestamps, cached under its (path, mtime, size); None if absent or unreadable."""
    sig = _signature(path)
    if sig is None:
        return None
    try:
        return _csv(*sig).copy()
    except (OSError, ValueError) as e:
        log.warning("cannot read %s: %s", path, e)
        return None


def read_equity(run_id: str) -> pd.DataFrame | None:
    """``equity.csv``: timestamp, equity, cash, ..., drawdown, benchmark_equity."""
    return read_csv(run_id, "equity.csv")


def read_trades(run_id: str) -> pd.DataFrame | None:
    """``trades.csv``: one row per fill."""
    return read_csv(run_id, "trades.csv")


def read_summary(run_id: str) -> dict[str, Any] | None:
    """``summary.json`` (a backtest's holds ``policy``, ``benchmark`` and ``conventions``)."""
    sig = _signature(run_dir(run_id) / "summary.json")
    if sig is None:
        return None
    try:
        return json.loads(json.dumps(_json(*sig)))  # a deep copy: the cached dict stays intact
    except (OSError, ValueError) as e:
        log.warning("cannot read summary.json of run %s: %s", run_id, e)
        return None


def tail_log(
    run_id: str,
    lines: int = LOG_TAIL_LINES,
    block: int = 64 * 1024,
    *,
    drop: str | None = None,
    max_bytes: int = 8 * 1024 * 1024,
) -> str:
    """The last ``lines`` lines of ``job.log`` (read from the end: logs of long runs grow large).

    ``drop``: leave out the lines that contain it (a training prints a progress line per rollout;
    the tail still holds ``lines`` other lines when the file has them within ``max_bytes`` of its end).
    """
    path = run_dir(run_id) / "job.log"
    needle = drop.encode() if drop else None

    def kept_count(chunk: bytes) -> int:
        if needle is None:
            return chunk.count(b"\n")
        # the lines surely whole: the first piece may have begun before the block
        return sum(1 for line in chunk.split(b"\n")[1:-1] if needle not in line)

    try:
        with path.open("rb") as fh:
            end = fh.seek(0, 2)
            pos, data = end, b""
            while pos > 0 and end - pos < max_bytes and kept_count(data) <= lines:
                step = min(block, pos)
                pos -= step
                fh.seek(pos)
                data = fh.read(step) + data
    except OSError:
        return ""
    text = data.decode(errors="replace")
    kept = text.split("\n")
    if kept and kept[-1] == "":
        kept.pop()  # the file's final newline ends the last line; it does not start another
    if pos > 0 and kept:
        kept.pop(0)  # the first line read may have started before the block
    if drop:
        kept = [line for line in kept if drop not in line]
    return "\n".join(kept[-lines:])
