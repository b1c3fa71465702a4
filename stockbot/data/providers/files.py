"""A user's own bars from CSV or Parquet files in long format.

Columns (case-insensitive): ``timestamp`` (or ``date``), ``symbol`` (or ``tic``/``ticker``),
``open, high, low, close, volume`` and optionally ``adj_close`` (or ``adj close``/``adjclose``).
Timestamps without a time zone are taken as UTC; daily bars are stamped with their session date.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from stockbot.data import calendar
from stockbot.data.base import BaseProvider
from stockbot.data.schema import RAW_COLUMNS, coerce_numeric, local_dates, to_utc
from stockbot.errors import DataError

_ALIASES = {
    "date": "timestamp",
    "datetime": "timestamp",
    "time": "timestamp",
    "tic": "symbol",
    "ticker": "symbol",
    "adj close": "adj_close",
    "adjclose": "adj_close",
    "adj_close": "adj_close",
}
_REQUIRED = [c for c in RAW_COLUMNS if c != "adj_close"]


def _standardise_columns(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    renamed = {}
    for col in frame.columns:
        key = str(col).strip().lower()
        renamed[col] = _ALIASES.get(key, key)
    frame = frame.rename(columns=renamed)
    dupes = sorted({c for c in frame.columns if list(frame.columns).count(c) > 1})
    if dupes:
        raise DataError(f"{source}: columns {dupes} appear more than once (after aliases)")
    missing = [c for c in _REQUIRED if c not in frame.columns]
    if missing:
        raise DataError(
            f"{source}: missing columns {missing}. A bars file is long format with columns "
            f"{_REQUIRED} and optionally adj_close (aliases: date, tic/ticker, 'adj close'); "
            f"found {list(frame.columns)}"
        )
    if "adj_close" not in frame.columns:
        frame["adj_close"] = np.nan
    return frame[list(RAW_COLUMNS)]


class FileProvider(BaseProvider):
    """Bars read from one local file (CSV or Parquet); the file is read once per instance."""

    name: ClassVar[str] = "csv"
    intervals: ClassVar[tuple[str, ...]] = ("1d", "1h", "30m", "15m", "5m", "1m")
    needs_symbols: ClassVar[bool] = False

    def __init__(self, path: str | Path, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.path = Path(path).expanduser()
        self._frame: pd.DataFrame | None = None

    @property
    def label(self) -> str:
        return f"{self.name} {self.path.name}"

    def _read_file(self) -> pd.DataFrame:
        if not self.path.exists():
            raise DataError(f"{self.name}: file not found: {self.path}")
        try:
            if self.path.suffix == ".parquet":
                return pd.read_parquet(self.path)
            return pd.read_csv(self.path)
        except (OSError, ValueError, pd.errors.ParserError) as e:
            raise DataError(f"{self.name}: cannot read {self.path}: {e}") from e

    def frame(self) -> pd.DataFrame:
        """The whole file in raw long form (timestamps parsed to UTC)."""
        if self._frame is None:
            raw = _standardise_columns(self._read_file(), f"{self.name} file {self.path}")
            raw["symbol"] = raw["symbol"].astype(str).str.strip().str.upper()
            where = f"{self.path.name} (row numbers count data rows from 0)"
            raw["timestamp"] = to_utc(raw["timestamp"].reset_index(drop=True), source=where)
            for col in RAW_COLUMNS[2:]:
                raw[col] = coerce_numeric(raw[col].reset_index(drop=True), col, where)
            self._frame = raw
        return self._frame

    def available_symbols(self) -> list[str]:
        return sorted(self.frame()["symbol"].unique())

    def _fetch(self, symbols: list[str] | None, start: dt.date, end: dt.date, interval: str) -> pd.DataFrame:
        raw = self.frame()
        if symbols is not None:
            known = set(raw["symbol"].unique())
            unknown = [s for s in symbols if s not in known]
            if unknown:
                raise DataError(
                    f"{self.name}: symbols {unknown} are not in {self.path.name}; "
                    f"available: {', '.join(sorted(known))}"
                )
            raw = raw[raw["symbol"].isin(symbols)]
        days = local_dates(raw["timestamp"], calendar.timezone(self.calendar_name))
        keep = (days >= pd.Timestamp(start)) & (days <= pd.Timestamp(end))
        return raw[keep].reset_index(drop=True)


class CsvProvider(FileProvider):
    name: ClassVar[str] = "csv"


class ParquetProvider(FileProvider):
    name: ClassVar[str] = "parquet"
