from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import multivariate_normal

from stockbot.config import RegimeConfig
from stockbot.errors import RegimeError
from stockbot.features import compute_features
from stockbot.regimes import RegimeModel

pytestmark = pytest.mark.timeout(120)

TRAIN_END = pd.Timestamp("2016-06-30", tz="UTC")


@pytest.fixture(scope="module")
def feats(dow5_bars: pd.DataFrame) -> pd.DataFrame:
    return compute_features(dow5_bars)


@pytest.fixture(scope="module")
def train(feats: pd.DataFrame) -> pd.DataFrame:
    return feats[feats.index.get_level_values("timestamp") <= TRAIN_END]


@pytest.fixture(scope="module")
def model(train: pd.DataFrame) -> RegimeModel:
    return RegimeModel.fit(train, RegimeConfig(enabled=True, n_states=3, columns=("ret_1", "vol_20")))


def reference_filter(x: np.ndarray, m: dict) -> np.ndarray:
    """Textbook scaled forward algorithm with scipy densities."""
    z = (x - np.asarray(m["center"])) / np.asarray(m["scale"])
    start, trans = np.asarray(m["startprob"]), np.asarray(m["transmat"])
    dens = np.column_stack(
        [multivariate_normal(mu, cov).pdf(z) for mu, cov in zip(m["means"], m["covars"], strict=True)]
    )
    alpha = np.empty_like(dens)
    a = start * dens[0]
    alpha[0] = a / a.sum()
    for t in range(1, len(z)):
        a = (alpha[t - 1] @ trans) * dens[t]
        alpha[t] = a / a.sum()
    return alpha


def test_filter_equals_textbook_forward_algorithm(model: RegimeModel, feats: pd.DataFrame) -> None:
    proba = model.filter_proba(feats)
    market = feats[["ret_1", "vol_20"]].groupby(level="timestamp").mean()
    want = reference_filter(market.to_numpy(), model.to_dict()["models"]["__market__"])
    got = proba.groupby(level="timestamp").first().to_numpy()
    np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=1e-12)
    # market scope: every symbol gets the same row
    assert (proba.groupby(level="timestamp").nunique() == 1).all().all()
    # probabilities move: the regimes are not a constant
    assert (got.argmax(axis=1) != got.argmax(axis=1)[0]).any()


def test_filtered_not_smoothed(model: RegimeModel, feats: pd.DataFrame) -> None:
    """Filtering the first half alone gives the same first-half probabilities (smoothing would not)."""
    stamps = feats.index.get_level_values("timestamp").unique()
    half = feats[feats.index.get_level_values("timestamp") <= stamps[len(stamps) // 2]]
    full = model.filter_proba(feats)
    part = model.filter_proba(half)
    pd.testing.assert_frame_equal(part, full.loc[part.index], check_exact=True)


def test_states_ordered_by_mean_return(model: RegimeModel, train: pd.DataFrame) -> None:
    means = np.asarray(model.to_dict()["models"]["__market__"]["means"])[:, 0]
    assert np.all(np.diff(means) > 0)
    # the filtered most-likely state's realised mean return agrees with that order at the extremes
    state = model.most_likely(train).groupby(level="timestamp").first()
    ret = train["ret_1"].groupby(level="timestamp").mean()
    by_state = ret.groupby(state.to_numpy()).mean()
    assert by_state.iloc[0] < by_state.iloc[-1]


def test_fit_is_reproducible_with_a_seed(model: RegimeModel, train: pd.DataFrame) -> None:
    again = RegimeModel.fit(train, model.config)
    assert again.to_dict() == model.to_dict()


def test_json_round_trip_is_exact(model: RegimeModel, feats: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "hmm.json"
    model.save(path)
    back = RegimeModel.load(path)
    assert back.to_dict() == model.to_dict()
    pd.testing.assert_frame_equal(back.filter_proba(feats), model.filter_proba(feats), check_exact=True)
    assert "pickle" not in path.read_text()


@pytest.mark.parametrize("cov", ["diag", "spherical", "tied"])
def test_other_covariance_types(train: pd.DataFrame, cov: str) -> None:
    m = RegimeModel.fit(train, RegimeConfig(enabled=True, n_states=2, covariance_type=cov))
    p = m.filter_proba(train)
    assert p.shape == (len(train), 2)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)


def test_symbol_scope_fits_one_model_per_symbol(train: pd.DataFrame) -> None:
    m = RegimeModel.fit(train, RegimeConfig(enabled=True, n_states=2, scope="symbol"))
    assert sorted(m.models) == ["AAPL", "JPM", "KO", "MSFT", "XOM"]
    p = m.filter_proba(train)
    assert p.index.equals(train.index)
    a, k = p.xs("AAPL", level="symbol"), p.xs("KO", level="symbol")
    assert not np.allclose(a.to_numpy(), k.to_numpy())


def test_errors_name_the_problem(model: RegimeModel, train: pd.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(RegimeError, match="lack regime columns"):
        model.filter_proba(train.drop(columns="vol_20"))
    with pytest.raises(RegimeError, match="too few"):
        RegimeModel.fit(train.iloc[:20], model.config)
    (tmp_path / "x.json").write_text('{"format": "nope"}')
    with pytest.raises(RegimeError, match="not a StockBot HMM"):
        RegimeModel.load(tmp_path / "x.json")
