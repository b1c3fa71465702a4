from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stockbot.errors import FeatureError, NotFittedError
from stockbot.features import ObsNorm, compute_features

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def feats(dow5_bars: pd.DataFrame) -> pd.DataFrame:
    return compute_features(dow5_bars)


def test_fit_matches_numpy_mean_and_var(feats: pd.DataFrame) -> None:
    norm = ObsNorm.fit(feats)
    x = feats.to_numpy()
    np.testing.assert_allclose(norm.mean, x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(norm.var, x.var(axis=0), rtol=1e-10)
    assert norm.count == len(feats)


def test_batched_updates_equal_one_fit(feats: pd.DataFrame) -> None:
    one = ObsNorm.fit(feats)
    batched = ObsNorm(list(feats.columns))
    for chunk in np.array_split(np.arange(len(feats)), 7):
        batched.update(feats.iloc[chunk])
    batched.freeze()
    np.testing.assert_allclose(batched.mean, one.mean, rtol=1e-12)
    np.testing.assert_allclose(batched.var, one.var, rtol=1e-10)


def test_transform_standardises_and_clips(feats: pd.DataFrame) -> None:
    norm = ObsNorm.fit(feats, clip=3.0)
    z = norm.transform(feats)
    raw = (feats - feats.mean()) / np.sqrt(feats.var(ddof=0) + 1e-8)
    np.testing.assert_allclose(z.to_numpy(), raw.clip(-3, 3).to_numpy(), rtol=1e-9, atol=1e-12)
    assert z.abs().max().max() <= 3.0
    assert (z.abs() == 3.0).any().any()  # the data has tails beyond 3 sd: clipping did something


def test_frozen_statistics_do_not_move(feats: pd.DataFrame) -> None:
    norm = ObsNorm.fit(feats.iloc[:1000])
    with pytest.raises(FeatureError, match="frozen"):
        norm.update(feats)
    before = norm.to_dict()
    norm.transform(feats)
    assert norm.to_dict() == before


def test_json_round_trip_is_exact(feats: pd.DataFrame, tmp_path: Path) -> None:
    norm = ObsNorm.fit(feats, clip=5.0)
    norm.save(tmp_path / "obsnorm.json")
    back = ObsNorm.load(tmp_path / "obsnorm.json")
    assert back.to_dict() == norm.to_dict()
    pd.testing.assert_frame_equal(back.transform(feats), norm.transform(feats), check_exact=True)


def test_errors_are_clear(feats: pd.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(NotFittedError):
        ObsNorm(list(feats.columns)).transform(feats)
    norm = ObsNorm.fit(feats)
    with pytest.raises(FeatureError, match="lacks"):
        norm.transform(feats.drop(columns="rsi_14"))
    (tmp_path / "bad.json").write_text('{"format": "something else"}')
    with pytest.raises(FeatureError, match="not an ObsNorm file"):
        ObsNorm.load(tmp_path / "bad.json")
    with pytest.raises(FeatureError, match="no rows"):
        ObsNorm.fit(feats.iloc[:0])
