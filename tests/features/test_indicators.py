"""Indicator values against reference formulas written here with pandas/numpy (not ``ta``), on the
bundled real data read straight from its CSV."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stockbot.config import FeatureConfig
from stockbot.errors import FeatureError
from stockbot.features import compute_features

pytestmark = pytest.mark.timeout(120)

SYMBOLS = ["AAPL", "GE", "XOM"]
CFG = FeatureConfig(
    returns=(1, 5, 20),
    simple_returns=(1, 10),
    rsi=14,
    sma=(10, 50),
    ema=(12,),
    macd=True,
    stoch=True,
    atr=14,
    volume_z=20,
    volatility=(20, 60),
)


@pytest.fixture(scope="module")
def raw(sample_csv: Path) -> pd.DataFrame:
    """The CSV with total-return-adjusted OHLC, computed here."""
    df = pd.read_csv(sample_csv)
    df = df[df["tic"].isin(SYMBOLS)].copy()
    f = df["adj_close"] / df["close"]
    for c in ("open", "high", "low", "close"):
        df[c] = df[c] * f
    df["volume"] = df["volume"] / f
    return df


@pytest.fixture(scope="module")
def features(dow29_bars: pd.DataFrame) -> pd.DataFrame:
    bars = dow29_bars[dow29_bars.index.get_level_values("symbol").isin(SYMBOLS)]
    return compute_features(bars, CFG)


def ema(x: np.ndarray, alpha: float) -> np.ndarray:
    """Recursive EMA started at the first finite value (NaN before it)."""
    out = np.full(len(x), np.nan)
    prev = np.nan
    for i, v in enumerate(x):
        if np.isnan(v):
            continue
        prev = v if np.isnan(prev) else alpha * v + (1 - alpha) * prev
        out[i] = prev
    return out


def reference(sym: pd.DataFrame) -> pd.DataFrame:
    c, h, lo, v = (sym[k].to_numpy(float) for k in ("close", "high", "low", "volume"))
    n = len(c)
    ref: dict[str, np.ndarray] = {}
    logc = np.log(c)
    for k in (1, 5, 20):
        ref[f"ret_{k}"] = np.r_[np.full(k, np.nan), logc[k:] - logc[:-k]]
    for k in (1, 10):
        ref[f"pct_{k}"] = np.r_[np.full(k, np.nan), c[k:] / c[:-k] - 1]
    # Wilder RSI: smoothed gains / losses with alpha 1/14
    d = np.r_[0.0, np.diff(c)]
    up, down = ema(np.maximum(d, 0), 1 / 14), ema(np.maximum(-d, 0), 1 / 14)
    with np.errstate(divide="ignore", invalid="ignore"):
        ref["rsi_14"] = np.where(down == 0, 100.0, 100 - 100 / (1 + up / down))
    for w in (10, 50):
        sma = np.convolve(c, np.ones(w) / w, mode="full")[:n]
        sma[: w - 1] = np.nan
        ref[f"sma_ratio_{w}"] = c / sma - 1
    ref["ema_ratio_12"] = c / ema(c, 2 / 13) - 1
    line = ema(c, 2 / 13) - ema(c, 2 / 27)
    line[:25] = np.nan  # the MACD line is defined once the slow EMA has 26 bars; its signal starts there
    signal = ema(line, 2 / 10)
    ref["macd"], ref["macd_signal"], ref["macd_hist"] = line / c, signal / c, (line - signal) / c
    lo14 = np.array([lo[max(0, i - 13) : i + 1].min() for i in range(n)])
    hi14 = np.array([h[max(0, i - 13) : i + 1].max() for i in range(n)])
    k = 100 * (c - lo14) / (hi14 - lo14)
    ref["stoch_k_14"] = k
    ref["stoch_d_14"] = np.r_[np.full(2, np.nan), (k[2:] + k[1:-1] + k[:-2]) / 3]
    prev_c = np.r_[np.nan, c[:-1]]
    tr = np.nanmax(np.vstack([h - lo, np.abs(h - prev_c), np.abs(lo - prev_c)]), axis=0)
    atr = np.full(n, np.nan)
    atr[13] = tr[:14].mean()
    for i in range(14, n):
        atr[i] = (atr[i - 1] * 13 + tr[i]) / 14
    ref["atr_14"], ref["atr_pct_14"] = atr, atr / c
    vs = pd.Series(v)
    ref["volume_z_20"] = ((vs - vs.rolling(20).mean()) / vs.rolling(20).std(ddof=1)).to_numpy()
    r1 = pd.Series(np.r_[np.nan, np.diff(logc)])
    for w in (20, 60):
        ref[f"vol_{w}"] = r1.rolling(w).std(ddof=1).to_numpy()
    return pd.DataFrame(ref, index=pd.to_datetime(sym["date"]).dt.tz_localize("UTC").to_numpy())


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_indicators_match_reference_formulas(raw: pd.DataFrame, features: pd.DataFrame, symbol: str) -> None:
    got = features.xs(symbol, level="symbol")
    ref = reference(raw[raw["tic"] == symbol].sort_values("date"))
    ref = ref.loc[got.index, CFG.columns()]
    assert list(got.columns) == CFG.columns()
    assert np.isfinite(got.to_numpy()).all()
    for col in got.columns:
        np.testing.assert_allclose(got[col], ref[col], rtol=1e-9, atol=1e-10, err_msg=col)


def test_warmup_rows_dropped_by_count(dow29_bars: pd.DataFrame, features: pd.DataFrame) -> None:
    stamps = dow29_bars.index.get_level_values("timestamp").unique().sort_values()
    got = features.xs("AAPL", level="symbol").index
    assert CFG.warmup_bars() == 60  # vol_60 needs 60 returns; returns need one bar more than prices
    assert got[0] == stamps[CFG.warmup_bars()]
    assert len(got) == len(stamps) - CFG.warmup_bars()
    # ATR reports 0.0 (not NaN) while warming up; none of those rows may survive
    assert (features["atr_14"] > 0).all()


def test_index_and_order_follow_the_bars(dow29_bars: pd.DataFrame, features: pd.DataFrame) -> None:
    assert features.index.names == ["timestamp", "symbol"]
    assert features.index.is_monotonic_increasing
    assert (features.dtypes == "float64").all()


def test_too_few_bars_give_an_empty_frame(dow29_bars: pd.DataFrame) -> None:
    head = dow29_bars[dow29_bars.index.get_level_values("timestamp") < pd.Timestamp("2013-01-15", tz="UTC")]
    out = compute_features(head, CFG)
    assert out.empty
    assert list(out.columns) == CFG.columns()


def test_non_finite_feature_names_symbol_date_and_column(dow29_bars: pd.DataFrame) -> None:
    bars = dow29_bars[dow29_bars.index.get_level_values("symbol") == "KO"].copy()
    day = bars.index[200][0]
    bars.loc[(day, "KO"), "close"] = 0.0
    with pytest.raises(FeatureError, match=rf"KO {day.date()}: feature 'ret_1'"):
        compute_features(bars, CFG)


def test_bars_in_the_wrong_shape_are_refused(dow29_bars: pd.DataFrame) -> None:
    with pytest.raises(FeatureError, match="indexed by"):
        compute_features(dow29_bars.reset_index(), CFG)
    with pytest.raises(FeatureError, match="lack columns"):
        compute_features(dow29_bars.drop(columns="volume"), CFG)


def ta_features(one: pd.DataFrame) -> pd.DataFrame:
    """The features of one symbol's bars straight from ``ta`` and pandas, series by series (what
    the features were computed with before they were computed for all symbols at once)."""
    from ta.momentum import RSIIndicator, StochasticOscillator
    from ta.trend import MACD, EMAIndicator, SMAIndicator
    from ta.volatility import AverageTrueRange

    c, h, lo, v = one["close"], one["high"], one["low"], one["volume"]
    logc = np.log(c)
    out = {f"ret_{k}": logc.diff(k) for k in CFG.returns}
    out |= {f"pct_{k}": c / c.shift(k) - 1.0 for k in CFG.simple_returns}
    out["rsi_14"] = RSIIndicator(c, window=14, fillna=False).rsi()
    out |= {f"sma_ratio_{w}": c / SMAIndicator(c, window=w).sma_indicator() - 1.0 for w in CFG.sma}
    out |= {f"ema_ratio_{w}": c / EMAIndicator(c, window=w).ema_indicator() - 1.0 for w in CFG.ema}
    m = MACD(c, window_slow=26, window_fast=12, window_sign=9)
    out |= {"macd": m.macd() / c, "macd_signal": m.macd_signal() / c, "macd_hist": m.macd_diff() / c}
    s = StochasticOscillator(h, lo, c, window=14, smooth_window=3)
    out |= {"stoch_k_14": s.stoch(), "stoch_d_14": s.stoch_signal()}
    atr = AverageTrueRange(h, lo, c, window=14).average_true_range()
    out |= {"atr_14": atr, "atr_pct_14": atr / c}
    roll = v.rolling(20)
    out["volume_z_20"] = (v - roll.mean()) / roll.std()
    out |= {f"vol_{w}": logc.diff(1).rolling(w).std() for w in CFG.volatility}
    return pd.DataFrame(out, index=one.index)[CFG.columns()].iloc[CFG.warmup_bars() :]


def test_all_symbols_at_once_give_tas_numbers_bit_for_bit(dow29_bars: pd.DataFrame) -> None:
    """Every column of every symbol is exactly ta's, also when symbols have different bars (one
    listed later, one missing days): those cannot share a rolling window and are computed apart."""
    bars = dow29_bars[dow29_bars.index.get_level_values("symbol").isin(["AAPL", "GE", "KO", "XOM"])]
    stamps = bars.index.get_level_values("timestamp")
    symbols = bars.index.get_level_values("symbol")
    days = stamps.unique().sort_values()
    later = (symbols == "GE") & (stamps < days[150])
    gaps = (symbols == "XOM") & stamps.isin(days[400:404])
    for panel in (bars, bars[~(later | gaps)]):
        got = compute_features(panel, CFG)
        for symbol in ("AAPL", "GE", "KO", "XOM"):
            one = panel.xs(symbol, level="symbol").sort_index()
            pd.testing.assert_frame_equal(
                got.xs(symbol, level="symbol"), ta_features(one), check_exact=True, check_names=False
            )
