"""``load_bars``: config in, validated and aligned canonical bars out, with a report."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

import pandas as pd

from stockbot.config import DataConfig
from stockbot.data import calendar
from stockbot.data.base import BaseProvider, Provider
from stockbot.data.cache import BarCache
from stockbot.data.report import DataReport
from stockbot.data.schema import symbols_of
from stockbot.data.validate import align_symbols, find_gaps, validate_bars
from stockbot.errors import DataError
from stockbot.paths import cache_dir

log = logging.getLogger(__name__)


def _sample(cfg: DataConfig, **kw: Any) -> BaseProvider:
    from stockbot.data.providers.sample import SampleProvider

    return SampleProvider(cfg.dataset or "dow29", **kw)


def _csv(cfg: DataConfig, **kw: Any) -> BaseProvider:
    from stockbot.data.providers.files import CsvProvider

    return CsvProvider(cfg.path, **kw)  # type: ignore[arg-type]


def _parquet(cfg: DataConfig, **kw: Any) -> BaseProvider:
    from stockbot.data.providers.files import ParquetProvider

    return ParquetProvider(cfg.path, **kw)  # type: ignore[arg-type]


def _yfinance(cfg: DataConfig, **kw: Any) -> BaseProvider:
    from stockbot.data.providers.yahoo import YFinanceProvider

    return YFinanceProvider(**kw)


def _alpaca(cfg: DataConfig, **kw: Any) -> BaseProvider:
    from stockbot.data.providers.alpaca import AlpacaProvider

    return AlpacaProvider(**kw)


def _schwab(cfg: DataConfig, **kw: Any) -> BaseProvider:
    from stockbot.data.providers.schwab import SchwabProvider

    return SchwabProvider(**kw)


#: provider name -> factory(config, **kwargs); vendor SDKs are imported only when used
PROVIDERS: dict[str, Callable[..., BaseProvider]] = {
    "sample": _sample,
    "csv": _csv,
    "parquet": _parquet,
    "yfinance": _yfinance,
    "alpaca": _alpaca,
    "schwab": _schwab,
}
NETWORK_PROVIDERS = frozenset({"yfinance", "alpaca", "schwab"})


def make_provider(config: DataConfig, **kwargs: Any) -> BaseProvider:
    """The provider a config names; vendor-specific keyword arguments (a client, a URL) pass through.

    Network providers get the on-disk cache under ``$STOCKBOT_HOME/cache`` unless ``cache: false``.
    """
    factory = PROVIDERS.get(config.provider)
    if factory is None:
        raise DataError(f"unknown provider {config.provider!r}; choose one of {', '.join(PROVIDERS)}")
    kwargs.setdefault("calendar_name", config.calendar)
    kwargs.setdefault("adjust", config.adjust)
    if config.provider in NETWORK_PROVIDERS and config.cache:
        kwargs.setdefault("cache", BarCache(cache_dir()))
    return factory(config, **kwargs)


def _date_range(config: DataConfig, warmup_bars: int) -> tuple[dt.date, dt.date]:
    start = config.start or dt.date(1990, 1, 2)
    end = config.end or dt.datetime.now(dt.UTC).date()
    if warmup_bars:
        start = calendar.sessions_before(config.calendar, start, warmup_bars)
    return start, end


def load_bars_with_report(
    config: DataConfig, *, provider: Provider | None = None, warmup_bars: int = 0
) -> tuple[pd.DataFrame, DataReport]:
    """Like :func:`load_bars`, also returning the :class:`DataReport`."""
    provider = provider or make_provider(config)
    start, end = _date_range(config, warmup_bars)
    symbols = list(config.symbols) if config.symbols is not None else None
    label = getattr(provider, "label", provider.name)
    report = DataReport(source=label)
    bars = provider.bars(symbols, start, end, config.interval)
    got = set(symbols_of(bars))
    empty = [s for s in (symbols or []) if s not in got]
    if empty or bars.empty:
        which = ", ".join(empty) if empty else "any symbol"
        raise DataError(
            f"{label}: no bars for {which} from {start} to {end} ({config.interval}); "
            "check the symbols and the dates"
        )
    bars = validate_bars(
        bars,
        on_invalid=config.on_invalid,
        interval=config.interval,
        calendar_name=config.calendar,
        report=report,
    )
    find_gaps(bars, interval=config.interval, calendar_name=config.calendar, report=report)
    bars = align_symbols(bars, report)
    lost = [s for s in (symbols or []) if s not in set(symbols_of(bars))]
    if lost:
        raise DataError(
            f"{label}: no valid bars left for {', '.join(lost)} after validation ({report.summary()})"
        )
    if bars.empty:
        raise DataError(f"{label}: no timestamp is shared by every symbol from {start} to {end}")
    if not report.is_clean():
        log.warning("%s", report.summary())
    return bars, report


def load_bars(config: DataConfig, *, provider: Provider | None = None, warmup_bars: int = 0) -> pd.DataFrame:
    """Bars in the canonical shape (DESIGN.md §2), validated and aligned across symbols.

    ``warmup_bars`` loads that many extra sessions before ``config.start`` (the history that features
    and observation windows need). What validation dropped or repaired, the calendar gaps and what
    alignment dropped are logged and kept in ``bars.attrs["data_report"]`` (a plain dict).
    """
    bars, report = load_bars_with_report(config, provider=provider, warmup_bars=warmup_bars)
    bars.attrs["data_report"] = report.to_dict()
    return bars
