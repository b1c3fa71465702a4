"""StockBot's one exception hierarchy.

Every error the library raises on purpose is a :class:`StockBotError`. Messages say what was wrong,
where (field, symbol, date, row) and what is allowed, so a person can fix the input without reading
the code. Vendor errors are wrapped with ``raise ... from e`` so their traceback is kept.
"""

from __future__ import annotations


class StockBotError(Exception):
    """Base class of every error StockBot raises on purpose."""


class ConfigError(StockBotError, ValueError):
    """A configuration (YAML, notebook parameters, ``--set`` overrides) is invalid.

    ``errors`` lists each problem as ``{"field": "a.b", "message": ...}`` (``field`` is None when the
    problem is not one field's), for callers that answer field by field (the service's 422)."""

    def __init__(self, message: str, errors: list[dict[str, str | None]] | None = None) -> None:
        super().__init__(message)
        self.errors: list[dict[str, str | None]] = errors or [{"field": None, "message": message}]

    @classmethod
    def at(cls, field: str, message: str) -> ConfigError:
        """The error of one field: ``field: message``."""
        return cls(f"{field}: {message}", [{"field": field, "message": message}])


class DataError(StockBotError):
    """Market data is missing, malformed or violates a validation rule."""


class ProviderError(DataError):
    """A data provider (a vendor API or a file) failed to deliver bars."""


class FeatureError(StockBotError):
    """Features cannot be computed from the given bars."""


class RegimeError(StockBotError):
    """A regime model cannot be fitted, loaded or applied."""


class NotFittedError(StockBotError):
    """A frozen component (ObsNorm, RegimeModel) was used before it was fitted or loaded."""


class StoreError(StockBotError):
    """The run store cannot be reached, started or asked."""


class JobError(StockBotError):
    """A job cannot be submitted, run, cancelled or read."""


class BrokerError(StockBotError):
    """A broker rejected a request or answered with something unexpected."""


class RiskLimitError(StockBotError):
    """An order or target would break a configured risk limit."""


__all__ = [
    "BrokerError",
    "ConfigError",
    "DataError",
    "FeatureError",
    "JobError",
    "NotFittedError",
    "ProviderError",
    "RegimeError",
    "RiskLimitError",
    "StockBotError",
    "StoreError",
]
