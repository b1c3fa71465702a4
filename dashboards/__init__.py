"""StockBot's Panel dashboards: thin pages over ``stockbot`` for the hub service to serve.

The service runs ``pn.serve(dashboards.PAGES, prefix="/services/stockbot",
include_headers=dashboards.INCLUDE_HEADERS, ...)`` behind JupyterHub login and sets the
``X-StockBot-User`` header of every request (see :mod:`dashboards.viewer`). ``PAGES`` is imported on
first use, so the page state (:mod:`dashboards.state`) loads without Panel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dashboards.viewer import INCLUDE_HEADERS, USER_HEADER, Viewer, current_viewer, service_prefix

if TYPE_CHECKING:
    from collections.abc import Callable

    from panel.viewable import Viewable

    PAGES: dict[str, Callable[[], Viewable]]


def __getattr__(name: str) -> Any:
    if name == "PAGES":
        from dashboards.pages import PAGES

        return PAGES
    raise AttributeError(f"module 'dashboards' has no attribute {name!r}")


__all__ = ["INCLUDE_HEADERS", "PAGES", "USER_HEADER", "Viewer", "current_viewer", "service_prefix"]
