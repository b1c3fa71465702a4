"""Who is looking at a page: the hub user the StockBot service authenticated.

The service authenticates every browser request through JupyterHub and sets the request header
``X-StockBot-User`` to ``{"name": "<hub user>", "admin": true|false}`` (overwriting any value the
client sent). Panel only passes on the headers named in ``pn.serve(include_headers=...)``, matched
against Tornado's normalised spelling, so the service must list :data:`INCLUDE_HEADERS`.
A missing or malformed header is a :class:`PermissionError`: a page never falls back to a default
user.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from stockbot.access import USER_HEADER, Viewer, parse_viewer

# Tornado normalises header names ("X-Stockbot-User") before Panel filters them by exact name
INCLUDE_HEADERS = ["X-Stockbot-User"]
DEFAULT_PREFIX = "/services/stockbot/"
__all__ = ["INCLUDE_HEADERS", "USER_HEADER", "Viewer", "current_viewer", "parse_viewer", "service_prefix"]


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
