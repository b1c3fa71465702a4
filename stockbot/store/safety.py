"""Request values are data, never query operators (DESIGN.md §5)."""

from __future__ import annotations

from typing import Any

from stockbot.errors import StoreError


def check_plain(value: Any, where: str = "value") -> Any:
    """Refuse any mapping key that starts with ``$`` (or contains a dot) at any depth."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or key.startswith("$") or "." in key:
                raise StoreError(f"{where}: key {key!r} is not allowed (no '$' operators or dotted keys)")
            check_plain(item, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            check_plain(item, f"{where}[{i}]")
    return value


def plain_filter(**fields: Any) -> dict[str, Any]:
    """An equality filter from user-supplied values; None values are left out."""
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if value is None:
            continue
        if isinstance(value, dict | list | tuple):
            raise StoreError(f"filter {key!r} must be a plain value, got {type(value).__name__}")
        out[key] = value
    return out
