"""Where StockBot keeps its files: ``$STOCKBOT_HOME`` (default ``~/.stockbot``)."""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_UMASK = 0o077


def stockbot_home() -> Path:
    """The root of the store, runs, caches and hub files (DESIGN.md §4 "Where things are")."""
    return Path(os.environ.get("STOCKBOT_HOME") or Path.home() / ".stockbot").expanduser()


def ensure_home(home: Path | None = None) -> Path:
    """``home`` (default ``stockbot_home()``), created readable by this OS account only (0700) if it
    does not exist yet. An existing folder keeps its mode: a deployment may have opened it on
    purpose (users with system accounts must traverse it to reach ``users/<name>/``)."""
    home = home or stockbot_home()
    if not home.is_dir():
        home.mkdir(parents=True, exist_ok=True)
        # mkdir's mode is filtered by the umask of whoever calls: chmod states it whatever that is
        os.chmod(home, 0o700)
    return home


def private_umask() -> int:
    """Make every file and folder this process and its children create private to this OS account
    (umask 077: files 0600, folders 0700); returns the previous umask.

    Every entry point calls it first. The state folder holds the hub's database (password and token
    hashes), the store's data files, the store credential, cookie secrets and users' runtime files
    (kernel connection keys); with the usual umask 022 all of them were readable by every account on
    the machine. Child processes inherit the umask, so the embedded store, the proxy, the service,
    job kernels and user servers started by the platform create private files too.
    """
    return os.umask(PRIVATE_UMASK)


def cache_dir() -> Path:
    """The on-disk bar cache of network providers."""
    return stockbot_home() / "cache"
