"""Request values are data, never query operators (DESIGN.md §5)."""

from __future__ import annotations

import math
from typing import Any

from stockbot.errors import ConfigError, StoreError

_INT64 = 2**63


def check_storable(value: Any, where: str = "") -> Any:
    """Refuse numbers a document (BSON) or a JSON answer cannot hold: NaN, infinities, and
    integers outside 64 bits; the error names the field."""
    if isinstance(value, dict):
        for key, item in value.items():
            check_storable(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            check_storable(item, f"{where}[{i}]")
    elif isinstance(value, float) and not math.isfinite(value):
        raise ConfigError.at(where or "(value)", f"must be a finite number, got {value}")
    elif isinstance(value, int) and not isinstance(value, bool) and not -_INT64 <= value < _INT64:
        raise ConfigError.at(where or "(value)", f"{value} is out of range (64-bit integers only)")
    return value


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
