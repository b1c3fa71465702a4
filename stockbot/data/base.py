"""The ``Provider`` protocol and the template every bundled provider follows."""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar, Protocol, runtime_checkable

import pandas as pd

from stockbot.data import calendar
from stockbot.data.schema import empty_raw, to_canonical
from stockbot.errors import DataError

if TYPE_CHECKING:
    from stockbot.data.cache import BarCache


@runtime_checkable
class Provider(Protocol):
    """Anything that returns canonical bars (DESIGN.md §2) for symbols over an inclusive date range."""

    name: str

    def bars(
        self, symbols: list[str] | None, start: dt.date, end: dt.date, interval: str
    ) -> pd.DataFrame: ...


class BaseProvider(ABC):
    """Template: public :meth:`bars` fetches raw bars (through the cache when one is set) and converts
    them to the canonical shape; subclasses implement :meth:`_fetch` for one vendor or file format.

    ``_fetch`` returns the raw long frame of :mod:`stockbot.data.schema` for an inclusive date range.
    """

    name: ClassVar[str] = "base"
    #: intervals the vendor can deliver
    intervals: ClassVar[tuple[str, ...]] = ("1d",)
    #: network providers cannot list "every symbol"
    needs_symbols: ClassVar[bool] = True

    def __init__(
        self, *, calendar_name: str = "XNYS", adjust: bool = True, cache: BarCache | None = None
    ) -> None:
        self.calendar_name = calendar_name
        self.adjust = adjust
        self.cache = cache

    @property
    def label(self) -> str:
        """How messages and reports name this source."""
        return self.name

    def bars(self, symbols: list[str] | None, start: dt.date, end: dt.date, interval: str) -> pd.DataFrame:
        """Canonical (not yet validated) bars; ``symbols=None`` means all a file holds."""
        if interval not in self.intervals:
            raise DataError(
                f"provider {self.name!r} does not serve interval {interval!r}; "
                f"it serves {', '.join(self.intervals)}"
            )
        if symbols is None and self.needs_symbols:
            raise DataError(f"provider {self.name!r} needs an explicit list of symbols")
        if self.cache is not None and symbols is not None:
            raw = self.cache.fetch(self, symbols, start, end, interval)
        else:
            raw = self._fetch(symbols, start, end, interval)
        if raw.empty:
            raw = empty_raw()
        return to_canonical(
            raw,
            interval=interval,
            exchange_tz=calendar.timezone(self.calendar_name),
            adjust=self.adjust,
            source=self.label,
        )

    @abstractmethod
    def _fetch(self, symbols: list[str] | None, start: dt.date, end: dt.date, interval: str) -> pd.DataFrame:
        """Raw bars of ``symbols`` from ``start`` to ``end`` inclusive."""
