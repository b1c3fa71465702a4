"""Truncation invariance (DESIGN.md §2): the pipeline on data cut at D equals the full run up to D.

The harness compares on the full run's rows up to D (same rows, exact values), so a row the full
run has that the cut run cannot compute is itself caught. Planted leaks prove the harness bites.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from hmmlearn.hmm import GaussianHMM

from stockbot.config import FeatureConfig, RegimeConfig, SplitConfig
from stockbot.features import compute_features
from stockbot.pipeline import ObservationPipeline

pytestmark = pytest.mark.timeout(300)

SPLIT = SplitConfig(train_end="2016-06-30", val_end="2017-03-31")
FEATURES = FeatureConfig()
REGIMES = RegimeConfig(enabled=True, n_states=3, columns=("ret_1", "vol_20"))


def cut(bars: pd.DataFrame, day: pd.Timestamp) -> pd.DataFrame:
    return bars[bars.index.get_level_values("timestamp") <= day]


def assert_truncation_invariant(
    compute: Callable[[pd.DataFrame], pd.DataFrame], bars: pd.DataFrame, days: list[pd.Timestamp]
) -> None:
    full = compute(bars)
    for day in days:
        got = compute(cut(bars, day))
        want = full[full.index.get_level_values("timestamp") <= day]
        assert got.index.equals(want.index), f"cut at {day.date()}: rows differ from the full run"
        pd.testing.assert_frame_equal(got, want, check_exact=True, obj=f"cut at {day.date()}")


def cut_days(bars: pd.DataFrame) -> list[pd.Timestamp]:
    stamps = bars.index.get_level_values("timestamp").unique().sort_values()
    train_end = stamps[stamps <= pd.Timestamp(SPLIT.train_end, tz="UTC")][-1]
    return [
        stamps[10],  # inside the warm-up: no feature rows yet
        stamps[FEATURES.warmup_bars()],  # the first bar with features
        stamps[300],
        train_end,  # the split boundary
        stamps[stamps.get_loc(train_end) + 1],
        stamps[-120],
        stamps[-40],
        stamps[-2],  # near the end
    ]


@pytest.fixture(scope="module")
def pipeline(dow5_bars: pd.DataFrame) -> ObservationPipeline:
    return ObservationPipeline.fit(dow5_bars, FEATURES, SPLIT, REGIMES)


def test_features_are_truncation_invariant(dow5_bars: pd.DataFrame) -> None:
    assert_truncation_invariant(lambda b: compute_features(b, FEATURES), dow5_bars, cut_days(dow5_bars))


def test_frozen_pipeline_with_regimes_is_truncation_invariant(
    dow5_bars: pd.DataFrame, pipeline: ObservationPipeline
) -> None:
    obs = pipeline.transform(dow5_bars)
    assert {"regime_p0", "regime_p1", "regime_p2"} <= set(obs.columns)
    # the regime probabilities must move, or the test proves nothing about them
    assert obs["regime_p0"].std() > 0.1
    assert_truncation_invariant(pipeline.transform, dow5_bars, cut_days(dow5_bars))


def test_symbol_scope_regimes_are_truncation_invariant(dow5_bars: pd.DataFrame) -> None:
    regimes = REGIMES.model_copy(update={"scope": "symbol", "n_states": 2})
    pipe = ObservationPipeline.fit(dow5_bars, FEATURES, SPLIT, regimes)
    assert_truncation_invariant(pipe.transform, dow5_bars, cut_days(dow5_bars)[3:])


def test_fitting_uses_the_training_split_only(dow5_bars: pd.DataFrame) -> None:
    """Cutting the data anywhere after train_end leaves the fitted ObsNorm and HMM unchanged."""
    full = ObservationPipeline.fit(dow5_bars, FEATURES, SPLIT, REGIMES)
    for day in cut_days(dow5_bars)[3:]:
        part = ObservationPipeline.fit(cut(dow5_bars, day), FEATURES, SPLIT, REGIMES)
        assert part.obsnorm.to_dict() == full.obsnorm.to_dict()
        assert part.regimes is not None and full.regimes is not None
        assert part.regimes.to_dict() == full.regimes.to_dict()


# ----------------------------------------------------------------------------- planted leaks


def _per_symbol(bars: pd.DataFrame, fn: Callable[[pd.Series], pd.Series]) -> pd.Series:
    return bars["close"].groupby(level="symbol", group_keys=False).apply(fn)


def _with_leak(leak: Callable[[pd.DataFrame], pd.Series]) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def compute(bars: pd.DataFrame) -> pd.DataFrame:
        feats = compute_features(bars, FEATURES)
        return feats.assign(leak=leak(bars).reindex(feats.index))

    return compute


def test_canary_next_bar_return_is_caught(dow5_bars: pd.DataFrame) -> None:
    leak = _with_leak(lambda b: _per_symbol(b, lambda c: np.log(c.shift(-1) / c)))
    with pytest.raises(AssertionError):
        assert_truncation_invariant(leak, dow5_bars, cut_days(dow5_bars))


def test_canary_centered_window_is_caught(dow5_bars: pd.DataFrame) -> None:
    leak = _with_leak(lambda b: _per_symbol(b, lambda c: c.rolling(5, center=True).mean() / c))
    with pytest.raises(AssertionError):
        assert_truncation_invariant(leak, dow5_bars, cut_days(dow5_bars))


def _hmmlearn_regimes(bars: pd.DataFrame, how: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """Regime features the forbidden way: hmmlearn's smoothed posteriors or Viterbi path."""
    feats = compute_features(bars, FEATURES)
    market = feats[list(REGIMES.columns)].groupby(level="timestamp").mean()
    train = market[market.index <= pd.Timestamp(SPLIT.train_end, tz="UTC")]
    mu, sd = train.mean(), train.std()
    model = GaussianHMM(n_components=3, covariance_type="full", n_iter=100, random_state=0)
    model.fit(((train - mu) / sd).to_numpy())

    def compute(b: pd.DataFrame) -> pd.DataFrame:
        f = compute_features(b, FEATURES)
        if f.empty:
            return f.assign(**{f"r{k}": pd.Series(dtype=float) for k in range(3)})
        x = ((f[list(REGIMES.columns)].groupby(level="timestamp").mean() - mu) / sd).to_numpy()
        p = model.predict_proba(x) if how == "predict_proba" else np.eye(3)[model.predict(x)]
        regimes = pd.DataFrame(p, index=f.index.get_level_values("timestamp").unique())
        stamps = f.index.get_level_values("timestamp")
        return f.assign(**{f"r{k}": regimes[k].reindex(stamps).to_numpy() for k in range(3)})

    return compute


@pytest.mark.parametrize("how", ["predict_proba", "viterbi"])
def test_canary_smoothed_or_viterbi_regimes_are_caught(dow5_bars: pd.DataFrame, how: str) -> None:
    days = cut_days(dow5_bars)
    stamps = dow5_bars.index.get_level_values("timestamp").unique()
    days += list(stamps[-600::25])  # more cut points: a Viterbi path differs at some of them
    with pytest.raises(AssertionError):
        assert_truncation_invariant(_hmmlearn_regimes(dow5_bars, how), dow5_bars, days)
