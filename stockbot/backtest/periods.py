"""Which of a trained policy's own periods (train, validation) a backtest's dates fall in.

A backtest whose period overlaps the data its policy was trained or selected on is in-sample: its
results say how well the policy remembers, not how it trades. Pages label such results, and the
backtest form warns before submit. Ends are inclusive, as in :class:`stockbot.config.SplitConfig`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

TRAIN = "train"
VALIDATION = "validation"


@dataclass(frozen=True)
class Splits:
    """A trained policy's periods: train = [data_start, train_end], validation = (train_end, val_end].
    ``data_start`` None means from the first bar of the data."""

    train_end: dt.date
    val_end: dt.date
    data_start: dt.date | None = None


def in_sample_splits(start: dt.date | None, end: dt.date | None, splits: Splits) -> tuple[str, ...]:
    """The policy's periods that ``[start, end]`` overlaps (``()`` for a clean out-of-sample test).

    ``start`` None means from the first bar of the data, ``end`` None to the last."""
    hit: list[str] = []
    if _overlaps(start, end, splits.data_start, splits.train_end):
        hit.append(TRAIN)
    if _overlaps(start, end, splits.train_end + dt.timedelta(days=1), splits.val_end):
        hit.append(VALIDATION)
    return tuple(hit)


def _overlaps(a0: dt.date | None, a1: dt.date | None, b0: dt.date | None, b1: dt.date) -> bool:
    low = max(d for d in (a0, b0, dt.date.min) if d is not None)
    high = min(d for d in (a1, b1) if d is not None)
    return low <= high
