"""Which dates and symbols a form's data source holds, so its date pickers open inside them and the
form can say so next to the fields ("dow29: 2012-12-06 … 2017-12-06, 29 symbols").

Bundled sample datasets and the user's own csv/parquet files are read through the data providers
(the first and last trading date, as the loader counts dates); network providers have no fixed
coverage. A file is read again only when its (mtime, size) changes.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from stockbot.data import calendar
from stockbot.data.loader import NETWORK_PROVIDERS
from stockbot.data.providers.files import CsvProvider, FileProvider, ParquetProvider
from stockbot.data.providers.sample import DATASETS, SampleProvider
from stockbot.data.schema import local_dates
from stockbot.errors import StockBotError

log = logging.getLogger(__name__)

DEFAULT_DATASET = "dow29"  # what the sample provider reads when no dataset is named
FILE_PROVIDERS = {"csv": CsvProvider, "parquet": ParquetProvider}


@dataclass(frozen=True)
class Coverage:
    """``first``/``last``: the first and last trading date of the source (None: unbounded, as for
    network providers, or unknown); ``problem``: why the source could not be read."""

    source: str
    first: dt.date | None = None
    last: dt.date | None = None
    symbols: int | None = None
    problem: str = ""

    @property
    def bounded(self) -> bool:
        return self.first is not None and self.last is not None

    @property
    def text(self) -> str:
        if self.problem:
            return f"{self.source}: {self.problem}"
        if not self.bounded:
            return f"{self.source}: no fixed date range (the dates are checked when the job starts)"
        n = "" if self.symbols is None else f", {self.symbols} symbol{'s' if self.symbols != 1 else ''}"
        return f"{self.source}: {self.first} … {self.last}{n}"


@lru_cache(maxsize=32)
def _read(kind: str, path: str, mtime_ns: int, size: int, calendar_name: str) -> Coverage:
    provider: FileProvider = FILE_PROVIDERS[kind](path) if kind in FILE_PROVIDERS else SampleProvider(kind)
    source = kind if kind not in FILE_PROVIDERS else Path(path).name
    frame = provider.frame()
    if frame.empty:
        return Coverage(source, problem="the file has no bars")
    days = local_dates(frame["timestamp"], calendar.timezone(calendar_name))
    return Coverage(source, days.min().date(), days.max().date(), symbols=int(frame["symbol"].nunique()))


def _file_coverage(kind: str, path: Path, calendar_name: str, source: str) -> Coverage:
    try:
        st = path.stat()
    except OSError:
        return Coverage(source, problem="no such file in your data folder")
    try:
        return _read(kind, str(path), st.st_mtime_ns, st.st_size, calendar_name)
    except (StockBotError, OSError, ValueError) as e:
        return Coverage(source, problem=f"cannot read it ({e})")


def _inside(root: Path, value: str) -> Path | None:
    """``value`` resolved against the data folder, or None when it leads outside (the form's
    validation says so; this must not read the file meanwhile)."""
    if not value or value.startswith("~"):
        return None
    real = root.resolve()
    resolved = (real / value).resolve()
    return resolved if resolved == real or real in resolved.parents else None


def data_coverage(values: dict[str, Any], data_root: Path) -> Coverage | None:
    """The coverage of the data a form's ``data.*`` values name; None when they name nothing
    readable yet (no file path, an unknown provider)."""
    provider = values.get("data.provider")
    calendar_name = str(values.get("data.calendar") or "XNYS")
    if provider == "sample":
        dataset = values.get("data.dataset") or DEFAULT_DATASET
        if dataset not in DATASETS:
            return None
        return _file_coverage(dataset, SampleProvider(dataset).path, calendar_name, dataset)
    if provider in FILE_PROVIDERS:
        path = values.get("data.path")
        where = _inside(data_root, str(path)) if path else None
        if where is None:
            return None
        return _file_coverage(str(provider), where, calendar_name, Path(str(path)).name)
    if provider in NETWORK_PROVIDERS:
        return Coverage(str(provider))
    return None
