"""In-sample detection of a backtest's dates against its policy's train/validation split."""

from __future__ import annotations

import datetime as dt

import pytest

from stockbot.backtest.periods import Splits, in_sample_splits

D = dt.date
SPLITS = Splits(train_end=D(2016, 6, 30), val_end=D(2017, 3, 31), data_start=D(2013, 1, 2))


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (D(2017, 4, 3), D(2017, 12, 6), ()),  # the test period proper
        (D(2017, 4, 1), None, ()),  # the day after val_end (a Saturday) onwards
        (D(2017, 3, 31), D(2017, 12, 6), ("validation",)),  # val_end is inclusive
        (D(2016, 7, 1), D(2016, 7, 1), ("validation",)),  # first validation day only
        (D(2016, 6, 30), D(2016, 6, 30), ("train",)),  # train_end is inclusive
        (None, D(2012, 12, 31), ()),  # wholly before the data the policy saw
        (None, None, ("train", "validation")),
        (D(2015, 1, 1), D(2017, 12, 6), ("train", "validation")),
        (D(2010, 1, 1), D(2013, 1, 1), ()),  # ends the day before the policy's data starts
        (D(2010, 1, 1), D(2013, 1, 2), ("train",)),
    ],
)
def test_in_sample_splits(start: dt.date | None, end: dt.date | None, expected: tuple[str, ...]) -> None:
    assert in_sample_splits(start, end, SPLITS) == expected


def test_policy_data_from_the_first_bar() -> None:
    splits = Splits(train_end=D(2016, 6, 30), val_end=D(2017, 3, 31))
    assert in_sample_splits(D(1990, 1, 1), D(1990, 1, 2), splits) == ("train",)
