"""Who is looking at a page: the hub user the StockBot service authenticated.

The service authenticates every browser request through JupyterHub and sets the request header
``X-StockBot-User`` to ``{"name": "<hub user>", "admin": true|false}`` (overwriting any value the
client sent). Panel only passes on the headers named in ``pn.serve(include_headers=...)``, matched
against Tornado's normalised spelling, so the service must list :data:`INCLUDE_HEADERS`.
A missing or malformed header is a :class:`PermissionError`: a page never falls back to a default
user.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stockbot.paths import stockbot_home

USER_HEADER = "X-StockBot-User"
# Tornado normalises header names ("X-Stockbot-User") before Panel filters them by exact name
INCLUDE_HEADERS = ["X-Stockbot-User"]
DEFAULT_PREFIX = "/services/stockbot/"


@dataclass(frozen=True)
class Viewer:
    """A signed-in hub user. ``admin`` users see and may act on every user's runs."""

    name: str
    admin: bool

    def __post_init__(self) -> None:
        # the name becomes a folder name (data_root): refuse anything that could leave users/
        if not self.name or self.name in (".", "..") or any(c in self.name for c in "/\\\x00"):
            raise PermissionError(f"{self.name!r} is not a valid hub user name")

    @property
    def data_root(self) -> Path:
        """The user's own data folder; job file paths are confined to it."""
        return stockbot_home() / "users" / self.name / "data"

    @property
    def parent_owner(self) -> str | None:
        """Whose runs a job of this viewer may build on (None: anyone's, for admins)."""
        return None if self.admin else self.name

    def can_see(self, doc: Mapping[str, Any]) -> bool:
        return self.admin or doc.get("owner") == self.name

    def header(self) -> str:
        """The :data:`USER_HEADER` value the service sets for this viewer (read by :func:`parse_viewer`)."""
        return json.dumps({"name": self.name, "admin": self.admin})


def parse_viewer(value: Any) -> Viewer:
    """The :class:`Viewer` in a header value; :class:`PermissionError` if it is not one."""
    if isinstance(value, list | tuple):
        # the service overwrites the header, so more than one value means it was bypassed
        if len(value) != 1:
            raise PermissionError(f"expected one {USER_HEADER} header, got {len(value)}")
        value = value[0]
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if not isinstance(value, str) or not value.strip():
        raise PermissionError(f"not signed in: the {USER_HEADER} header is missing")
    try:
        data = json.loads(value)
    except json.JSONDecodeError as e:
        raise PermissionError(f"the {USER_HEADER} header is not JSON: {e}") from e
    if not isinstance(data, dict):
        raise PermissionError(f"the {USER_HEADER} header must be a JSON object")
    name, admin = data.get("name"), data.get("admin")
    if not isinstance(name, str) or not isinstance(admin, bool):
        raise PermissionError(f'the {USER_HEADER} header must look like {{"name": "...", "admin": false}}')
    return Viewer(name=name, admin=admin)


def current_viewer(headers: Mapping[str, Any] | None = None) -> Viewer:
    """The viewer of the current Panel session (or of ``headers``); raises :class:`PermissionError`
    when the service's header is missing or invalid."""
    if headers is None:
        import panel as pn

        headers = pn.state.headers or {}
    wanted = USER_HEADER.lower()
    values = [v for k, v in headers.items() if str(k).lower() == wanted]
    if len(values) > 1:
        raise PermissionError(f"expected one {USER_HEADER} header, got {len(values)}")
    return parse_viewer(values[0] if values else None)


def service_prefix() -> str:
    """The service's URL prefix (``JUPYTERHUB_SERVICE_PREFIX``), always ending in ``/``."""
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX") or DEFAULT_PREFIX
    return prefix if prefix.endswith("/") else prefix + "/"


__all__ = [
    "DEFAULT_PREFIX",
    "INCLUDE_HEADERS",
    "USER_HEADER",
    "Viewer",
    "current_viewer",
    "parse_viewer",
    "service_prefix",
]
