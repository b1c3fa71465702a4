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

from stockbot.config import FeatureConfig
from stockbot.errors import FeatureError

REQUIRED = ("high", "low", "close", "volume")


# ta's formulas (ta 0.11), written once over a wide frame (one column per symbol) instead of once
# per symbol: every operation acts on each column alone, in ta's order, so each column's numbers
# are exactly those of ta on that symbol's series, and the Python overhead is paid once, not once
# per symbol. The tests compare every column with ta itself, bit for bit.


def _ema(frame: pd.DataFrame, span: int) -> pd.DataFrame:
    return frame.ewm(span=span, min_periods=span, adjust=False).mean()  # ta.utils._ema


def _rsi(close: pd.DataFrame, window: int) -> pd.DataFrame:  # ta.momentum.RSIIndicator
    diff = close.diff(1)
    up = diff.where(diff > 0, 0.0)
    down = -diff.where(diff < 0, 0.0)
    emaup = up.ewm(alpha=1 / window, min_periods=window, adjust=False).mean()
    emadn = down.ewm(alpha=1 / window, min_periods=window, adjust=False).mean()
    rs = emaup / emadn
    values = np.where(emadn == 0, 100, 100 - (100 / (1 + rs)))
    return pd.DataFrame(values, index=close.index, columns=close.columns)


def _atr(high: pd.DataFrame, low: pd.DataFrame, close: pd.DataFrame, window: int) -> pd.DataFrame:
    """ta.volatility.AverageTrueRange: Wilder's recursion from the mean of the first ``window`` true
    ranges (0.0 before that: the warm-up drops those rows)."""
    if len(close) < window:  # ta's ATR indexes past the end of a series shorter than its window
        return pd.DataFrame(np.nan, index=close.index, columns=close.columns)
    prev = close.shift(1)
    tr1, tr2, tr3 = high - low, (high - prev).abs(), (low - prev).abs()
    tr = np.fmax(np.fmax(tr1.to_numpy(), tr2.to_numpy()), tr3.to_numpy())  # DataFrame.max(axis=1)
    atr = np.zeros(tr.shape)
    # the first value as ta takes it: pandas' mean of each symbol's first window
    atr[window - 1] = [pd.Series(tr[:window, j]).mean() for j in range(tr.shape[1])]
    for i in range(window, len(atr)):
        atr[i] = (atr[i - 1] * (window - 1) + tr[i]) / float(window)
    return pd.DataFrame(atr, index=close.index, columns=close.columns)


def _wide_features(frame: pd.DataFrame, cfg: FeatureConfig) -> dict[str, pd.DataFrame]:
    """Every feature of ``frame`` (bars of symbols sharing one timeline, columns
    ``(field, symbol)``), each a (timestamp x symbol) frame."""
    close, high, low, volume = (frame[c] for c in ("close", "high", "low", "volume"))
    with np.errstate(divide="ignore", invalid="ignore"):  # non-positive prices are reported below
        log_close = np.log(close)
    out: dict[str, pd.DataFrame] = {}
    for h in cfg.returns:
        out[f"ret_{h}"] = log_close.diff(h)
    for h in cfg.simple_returns:
        out[f"pct_{h}"] = close / close.shift(h) - 1.0
    if cfg.rsi:
        out[f"rsi_{cfg.rsi}"] = _rsi(close, cfg.rsi)
    for w in cfg.sma:
        out[f"sma_ratio_{w}"] = close / close.rolling(window=w, min_periods=w).mean() - 1.0
    for w in cfg.ema:
        out[f"ema_ratio_{w}"] = close / _ema(close, w) - 1.0
    if cfg.macd:
        macd = _ema(close, cfg.macd.fast) - _ema(close, cfg.macd.slow)
        signal = _ema(macd, cfg.macd.signal)
        out["macd"] = macd / close
        out["macd_signal"] = signal / close
        out["macd_hist"] = (macd - signal) / close
    if cfg.stoch:
        w, smooth = cfg.stoch.window, cfg.stoch.smooth
        smin = low.rolling(w, min_periods=w).min()
        smax = high.rolling(w, min_periods=w).max()
        k = 100 * (close - smin) / (smax - smin)
        out[f"stoch_k_{w}"] = k
        out[f"stoch_d_{w}"] = k.rolling(smooth, min_periods=smooth).mean()
    if cfg.atr:
        atr = _atr(high, low, close, cfg.atr)
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


def _timelines(bars: pd.DataFrame) -> list[list[object]]:
    """The symbols in groups that share exactly the same timestamps, in order of appearance (a
    rolling window counts rows: symbols with other bars cannot share a frame)."""
    stamps = bars.index.get_level_values("timestamp")
    symbols = bars.index.get_level_values("symbol")
    groups: dict[bytes, list[object]] = {}
    for symbol in pd.unique(symbols):
        mine = np.sort(stamps[symbols == symbol].asi8)
        groups.setdefault(mine.tobytes(), []).append(symbol)
    return list(groups.values())


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
    if bars.empty:
        return pd.DataFrame(columns=columns, index=bars.index[:0], dtype="float64")
    parts: dict[object, tuple[pd.DatetimeIndex, np.ndarray]] = {}
    for group in _timelines(bars):
        mine = bars[bars.index.get_level_values("symbol").isin(group)]
        wide = mine[list(REQUIRED)].astype("float64").unstack("symbol").sort_index()
        feats = _wide_features(wide, cfg)
        stacked = np.stack([feats[c][group].to_numpy() for c in columns], axis=-1)  # (T, S, F)
        for j, symbol in enumerate(group):
            parts[symbol] = (wide.index[warmup:], stacked[warmup:, j, :])
    order = list(pd.unique(bars.index.get_level_values("symbol")))
    for symbol in order:  # the first bad value, in the symbols' order, is the one reported
        _check_finite(*parts[symbol], columns, str(symbol))
    stamps = parts[order[0]][0].append([parts[s][0] for s in order[1:]])
    names = pd.Index(
        np.concatenate([np.full(len(parts[s][0]), s, dtype=object) for s in order]),
        dtype=bars.index.levels[1].dtype,
    )
    index = pd.MultiIndex.from_arrays([stamps, names], names=["timestamp", "symbol"])
    values = np.concatenate([parts[s][1] for s in order]) if order else np.empty((0, len(columns)))
    out = pd.DataFrame(values, index=index, columns=columns)
    return out.sort_index(level=["timestamp", "symbol"], sort_remaining=False).astype("float64")


def _check_finite(index: pd.DatetimeIndex, values: np.ndarray, columns: list[str], symbol: str) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = (int(x[0]) for x in np.nonzero(bad))
        raise FeatureError(
            f"{symbol} {index[row].date()}: feature {columns[col]!r} is "
            f"{values[row, col]} after the warm-up (a flat or non-positive price window, or "
            "constant volume); check the bars or switch that feature off"
        )
