"""Where StockBot keeps its files: ``$STOCKBOT_HOME`` (default ``~/.stockbot``)."""

from __future__ import annotations

import os
from pathlib import Path


def stockbot_home() -> Path:
    """The root of the store, runs, caches and hub files (DESIGN.md §4 "Where things are")."""
    return Path(os.environ.get("STOCKBOT_HOME") or Path.home() / ".stockbot").expanduser()


def cache_dir() -> Path:
    """The on-disk bar cache of network providers."""
    return stockbot_home() / "cache"
