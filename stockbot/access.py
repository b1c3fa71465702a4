"""Who may see and do what: the one place the hub's service, the dashboards and live sessions ask.

A :class:`Viewer` is a signed-in hub user; admins see and act on every user's runs and sessions,
other users on their own only. The service passes the viewer to pages in the ``X-StockBot-User``
header (:data:`USER_HEADER`), read back by :func:`parse_viewer`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stockbot.paths import stockbot_home

USER_HEADER = "X-StockBot-User"


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
