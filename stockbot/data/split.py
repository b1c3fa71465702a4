"""Chronological splits by date (DESIGN.md §2): cutting data never moves them."""

from __future__ import annotations

import pandas as pd

from stockbot.config import SplitConfig


def _day_bounds(split: SplitConfig) -> tuple[pd.Timestamp, pd.Timestamp]:
    # ends are inclusive dates: everything stamped before the next midnight UTC belongs to them
    train = pd.Timestamp(split.train_end, tz="UTC") + pd.Timedelta(days=1)
    val = pd.Timestamp(split.val_end, tz="UTC") + pd.Timedelta(days=1)
    return train, val


def split_masks(frame: pd.DataFrame, split: SplitConfig) -> dict[str, pd.Series]:
    """Boolean masks ``train``, ``val``, ``test`` over a frame indexed by (timestamp, symbol)."""
    ts = frame.index.get_level_values("timestamp")
    train_hi, val_hi = _day_bounds(split)
    train = ts < train_hi
    val = (ts >= train_hi) & (ts < val_hi)
    test = ts >= val_hi
    return {k: pd.Series(v, index=frame.index) for k, v in (("train", train), ("val", val), ("test", test))}


def train_slice(frame: pd.DataFrame, split: SplitConfig) -> pd.DataFrame:
    """The rows of the training split (timestamps up to and including ``train_end``)."""
    return frame[split_masks(frame, split)["train"].to_numpy()]
