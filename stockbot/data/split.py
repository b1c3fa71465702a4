"""Chronological splits by date (DESIGN.md §2): cutting data never moves them."""

from __future__ import annotations

import pandas as pd

from stockbot.config import SplitConfig, TrainConfig
from stockbot.errors import ConfigError

MIN_EVAL_BARS = 2  # a validation or test split needs a bar to decide on and one to fill at


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


def split_bounds(timestamps: pd.DatetimeIndex, config: TrainConfig) -> dict[str, tuple[int, int]]:
    """Inclusive bar-index ranges of the ``train``, ``val`` and ``test`` splits over the bars a
    training sees (``timestamps``: after the features' warm-up; training starts at ``data.start``).

    Refuses, with a :class:`ConfigError` naming the field, splits too short to use: training needs
    ``env.episode_bars`` + 1 bars (an episode of that many steps), validation and test 2 each. The
    same check runs at submit for files (on the file's bars) and when a job starts for network
    providers, so both say the same."""
    split = config.split
    train_hi, val_hi = _day_bounds(split)
    tr = int(timestamps.searchsorted(train_hi, side="left")) - 1
    va = int(timestamps.searchsorted(val_hi, side="left")) - 1
    lo = 0
    if config.data.start is not None:
        lo = int(timestamps.searchsorted(pd.Timestamp(config.data.start, tz="UTC"), side="left"))
    bounds = {"train": (lo, tr), "val": (tr + 1, va), "test": (va + 1, len(timestamps) - 1)}
    if len(timestamps) == 0:
        raise ConfigError.at("data", "no bars are left after the features' warm-up: load more data")
    first, last = timestamps[0].date(), timestamps[-1].date()
    episode = config.env.episode_bars
    need_train = episode + 1 if episode else MIN_EVAL_BARS
    n = {name: max(hi - lo + 1, 0) for name, (lo, hi) in bounds.items()}
    warmup = config.features.warmup_bars()
    if n["train"] < need_train:
        why = f"env.episode_bars ({episode}) + 1" if episode else f"{MIN_EVAL_BARS}"
        raise ConfigError.at(
            "split.train_end",
            f"the training split has {n['train']} bar(s) up to {split.train_end} (the bars usable after "
            f"the {warmup}-bar feature warm-up start {first}); it needs at least {need_train} "
            f"({why}): move split.train_end later, start the data earlier or shorten env.episode_bars",
        )
    if n["val"] < MIN_EVAL_BARS:
        raise ConfigError.at(
            "split.val_end",
            f"the validation split has {n['val']} bar(s) after {split.train_end} up to {split.val_end} "
            f"(the data ends {last}); it needs at least {MIN_EVAL_BARS}: move split.val_end later "
            "or split.train_end earlier",
        )
    if n["test"] < MIN_EVAL_BARS:
        raise ConfigError.at(
            "split.val_end",
            f"the test split (the bars after {split.val_end}) has {n['test']} bar(s): the data ends "
            f"{last}; it needs at least {MIN_EVAL_BARS}: move split.val_end earlier or load data "
            "that goes further",
        )
    return bounds
