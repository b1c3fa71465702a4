"""Causal feature engineering on canonical bars (indicators from ``ta``).

Every column at bar t uses bars up to and including t only: trailing rolling windows, recursive
(exponential) averages started at the first bar, never ``bfill``, centred windows or full-sample
statistics. Each symbol's first ``FeatureConfig.warmup_bars()`` rows are dropped by count (``ta``'s
ATR reports 0.0, not NaN, while warming up, so ``isna`` alone would keep bad rows).

Columns (``{feature}_{param}``):

- ``ret_h`` log return log(close_t / close_{t-h}); ``pct_h`` simple return close_t / close_{t-h} - 1
- ``rsi_n`` Wilder's RSI (0..100)
- ``sma_ratio_n`` / ``ema_ratio_n``: close / moving average - 1
- ``macd``, ``macd_signal``, ``macd_hist``: MACD line, its signal EMA and their difference, each
  divided by close so that they compare across symbols and price levels
- ``stoch_k_n``, ``stoch_d_n``: stochastic %K over n bars and its SMA %D (0..100)
- ``atr_n`` (Wilder ATR, price units) and ``atr_pct_n`` (ATR / close)
- ``volume_z_n``: (volume - rolling mean) / rolling std (ddof 1) over n bars
- ``vol_n``: rolling std (ddof 1) of 1-bar log returns over n bars (not annualised)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from ta.momentum import RSIIndicator, StochasticOscillator
from ta.trend import MACD, EMAIndicator, SMAIndicator
from ta.volatility import AverageTrueRange

from stockbot.config import FeatureConfig
from stockbot.errors import FeatureError

REQUIRED = ("high", "low", "close", "volume")


def _symbol_features(frame: pd.DataFrame, cfg: FeatureConfig) -> dict[str, pd.Series]:
    close, high, low, volume = frame["close"], frame["high"], frame["low"], frame["volume"]
    with np.errstate(divide="ignore", invalid="ignore"):  # non-positive prices are reported below
        log_close = np.log(close)
    out: dict[str, pd.Series] = {}
    for h in cfg.returns:
        out[f"ret_{h}"] = log_close.diff(h)
    for h in cfg.simple_returns:
        out[f"pct_{h}"] = close / close.shift(h) - 1.0
    if cfg.rsi:
        out[f"rsi_{cfg.rsi}"] = RSIIndicator(close, window=cfg.rsi, fillna=False).rsi()
    for w in cfg.sma:
        out[f"sma_ratio_{w}"] = close / SMAIndicator(close, window=w).sma_indicator() - 1.0
    for w in cfg.ema:
        out[f"ema_ratio_{w}"] = close / EMAIndicator(close, window=w).ema_indicator() - 1.0
    if cfg.macd:
        m = MACD(close, window_slow=cfg.macd.slow, window_fast=cfg.macd.fast, window_sign=cfg.macd.signal)
        out["macd"] = m.macd() / close
        out["macd_signal"] = m.macd_signal() / close
        out["macd_hist"] = m.macd_diff() / close
    if cfg.stoch:
        s = StochasticOscillator(high, low, close, window=cfg.stoch.window, smooth_window=cfg.stoch.smooth)
        out[f"stoch_k_{cfg.stoch.window}"] = s.stoch()
        out[f"stoch_d_{cfg.stoch.window}"] = s.stoch_signal()
    if cfg.atr:
        if len(close) >= cfg.atr:
            atr = AverageTrueRange(high, low, close, window=cfg.atr).average_true_range()
        else:  # ta's ATR indexes past the end of a series shorter than its window
            atr = pd.Series(np.nan, index=close.index)
        out[f"atr_{cfg.atr}"] = atr
        out[f"atr_pct_{cfg.atr}"] = atr / close
    if cfg.volume_z:
        roll = volume.rolling(cfg.volume_z)
        out[f"volume_z_{cfg.volume_z}"] = (volume - roll.mean()) / roll.std()
    if cfg.volatility:
        r1 = log_close.diff(1)
        for w in cfg.volatility:
            out[f"vol_{w}"] = r1.rolling(w).std()
    return out


def compute_features(bars: pd.DataFrame, config: FeatureConfig | None = None) -> pd.DataFrame:
    """Feature columns for every bar after each symbol's warm-up, indexed like ``bars``.

    ``bars`` is the canonical frame of :func:`stockbot.data.load_bars` (indexed by timestamp and
    symbol). Raises :class:`FeatureError` naming symbol, date and column if a value after the
    warm-up is not finite (a flat price window, zero volume variance, a non-positive price).
    """
    cfg = config or FeatureConfig()
    missing = [c for c in REQUIRED if c not in bars.columns]
    if missing:
        raise FeatureError(f"bars lack columns {missing}; expected the canonical bars of load_bars")
    if not isinstance(bars.index, pd.MultiIndex) or list(bars.index.names) != ["timestamp", "symbol"]:
        raise FeatureError("bars must be indexed by (timestamp, symbol), as load_bars returns them")
    columns = cfg.columns()
    warmup = cfg.warmup_bars()
    parts = []
    for symbol, frame in bars.groupby(level="symbol", sort=False):
        one = frame.droplevel("symbol").sort_index()
        feats = pd.DataFrame(_symbol_features(one, cfg), index=one.index)[columns]
        feats = feats.iloc[warmup:]
        _check_finite(feats, str(symbol))
        feats["symbol"] = symbol
        parts.append(feats.set_index("symbol", append=True))
    if not parts:
        return pd.DataFrame(columns=columns, index=bars.index[:0], dtype="float64")
    out = pd.concat(parts).sort_index(level=["timestamp", "symbol"], sort_remaining=False)
    return out.astype("float64")


def _check_finite(feats: pd.DataFrame, symbol: str) -> None:
    values = feats.to_numpy()
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = (int(x[0]) for x in np.nonzero(bad))
        raise FeatureError(
            f"{symbol} {feats.index[row].date()}: feature {feats.columns[col]!r} is "
            f"{values[row, col]} after the warm-up (a flat or non-positive price window, or "
            "constant volume); check the bars or switch that feature off"
        )
