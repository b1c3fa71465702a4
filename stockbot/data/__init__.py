"""Market data: providers, on-disk cache, validation and the one in-memory shape of bars."""

from stockbot.data.base import BaseProvider, Provider
from stockbot.data.cache import BarCache
from stockbot.data.loader import PROVIDERS, load_bars, load_bars_with_report, make_provider
from stockbot.data.report import DataReport, Issue
from stockbot.data.schema import BAR_COLUMNS
from stockbot.data.split import split_masks, train_slice

__all__ = [
    "BAR_COLUMNS",
    "PROVIDERS",
    "BarCache",
    "BaseProvider",
    "DataReport",
    "Issue",
    "Provider",
    "load_bars",
    "load_bars_with_report",
    "make_provider",
    "split_masks",
    "train_slice",
]
