"""Precomputed arrays an env or backtest steps through (no pandas inside a step)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from stockbot.config import SplitConfig
from stockbot.errors import DataError
from stockbot.execution.venue import Bar


@dataclass(frozen=True)
class MarketData:
    """Bars and observations aligned on the observation rows' timestamps.

    ``open``/``high``/``low``/``close`` are (T, N) float64 (adjusted prices, the ones trading and
    marking use), ``adj_factor`` (T, N) the factor that adjusted them (raw = adjusted / factor),
    ``obs`` is (T, N, F) float32: normalised features (+ regime probabilities) per symbol.
    """

    timestamps: pd.DatetimeIndex
    symbols: list[str]
    columns: list[str]
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    adj_factor: np.ndarray
    obs: np.ndarray
    daily: bool = True  # bars stamped at 00:00 UTC of their session date
    exchange_tz: str = "America/New_York"

    @classmethod
    def from_frames(cls, bars: pd.DataFrame, observations: pd.DataFrame) -> MarketData:
        """Align canonical ``bars`` and an observation frame (both indexed by timestamp, symbol)."""
        if observations.empty:
            raise DataError("no observation rows: the data is shorter than the features' warm-up")
        symbols = list(pd.unique(observations.index.get_level_values("symbol")))
        stamps = observations.index.get_level_values("timestamp").unique().sort_values()
        full = pd.MultiIndex.from_product([stamps, symbols], names=["timestamp", "symbol"])
        obs = observations.reindex(full)
        if obs.isna().to_numpy().any():
            ts, sym = obs.index[np.flatnonzero(obs.isna().to_numpy().any(axis=1))[0]]
            raise DataError(f"no observation for {sym} at {ts}: load bars aligned across symbols (load_bars)")
        px = _prices(bars, full, "though it has observations")
        t, n = len(stamps), len(symbols)
        return cls(
            timestamps=pd.DatetimeIndex(stamps),
            symbols=[str(s) for s in symbols],
            columns=list(observations.columns),
            **{k: v.reshape(t, n) for k, v in px.items()},
            obs=obs.to_numpy(np.float32).reshape(t, n, len(observations.columns)),
            daily=_daily(stamps),
        )

    @classmethod
    def from_bars(cls, bars: pd.DataFrame) -> MarketData:
        """Prices only (no observations), for baselines that need none."""
        stamps = bars.index.get_level_values("timestamp").unique().sort_values()
        symbols = list(pd.unique(bars.index.get_level_values("symbol")))
        full = pd.MultiIndex.from_product([stamps, symbols], names=["timestamp", "symbol"])
        px = _prices(bars, full, "load bars aligned across symbols (load_bars)")
        t, n = len(stamps), len(symbols)
        return cls(
            timestamps=pd.DatetimeIndex(stamps),
            symbols=[str(s) for s in symbols],
            columns=[],
            **{k: v.reshape(t, n) for k, v in px.items()},
            obs=np.zeros((t, n, 0), dtype=np.float32),
            daily=_daily(stamps),
        )

    def bar(self, t: int) -> Bar:
        """Bar ``t`` of every asset, as the order path reads it."""
        return Bar(
            self.timestamps[t], self.open[t], self.high[t], self.low[t], self.close[t], self.adj_factor[t]
        )

    def session(self, t: int) -> object:
        """The exchange date bar ``t`` belongs to (daily bars: each bar is a session)."""
        ts = self.timestamps[t]
        return ts.date() if self.daily else ts.tz_convert(self.exchange_tz).date()

    def first_index_on_or_after(self, day: object) -> int:
        ts = pd.Timestamp(day)  # type: ignore[arg-type]
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        return int(self.timestamps.searchsorted(ts, side="left"))

    @property
    def n_bars(self) -> int:
        return len(self.timestamps)

    @property
    def n_assets(self) -> int:
        return len(self.symbols)

    def index_of_last(self, day: object) -> int:
        """Index of the last bar on or before ``day`` (-1 if none)."""
        cutoff = pd.Timestamp(day, tz="UTC") + pd.Timedelta(days=1)
        return int(self.timestamps.searchsorted(cutoff, side="left")) - 1

    def split_bounds(self, split: SplitConfig) -> dict[str, tuple[int, int]]:
        """Inclusive bar-index ranges of the train, val and test splits."""
        tr = self.index_of_last(split.train_end)
        va = self.index_of_last(split.val_end)
        return {"train": (0, tr), "val": (tr + 1, va), "test": (va + 1, self.n_bars - 1)}


def _prices(bars: pd.DataFrame, full: pd.MultiIndex, hint: str) -> dict[str, np.ndarray]:
    """open/high/low/close and adj_factor of every (timestamp, symbol) of ``full``, flat float64
    (a source without adjustments has factor 1; without high/low, the bar's open and close bound it)."""
    px = bars.reindex(full)
    if px[["open", "close"]].isna().to_numpy().any():
        ts, sym = px.index[np.flatnonzero(px[["open", "close"]].isna().to_numpy().any(axis=1))[0]]
        raise DataError(f"no bar for {sym} at {ts}: {hint}")
    out = {k: px[k].to_numpy(np.float64) for k in ("open", "close")}
    hi = np.maximum(out["open"], out["close"])
    lo = np.minimum(out["open"], out["close"])
    out["high"] = px["high"].to_numpy(np.float64) if "high" in px else hi
    out["low"] = px["low"].to_numpy(np.float64) if "low" in px else lo
    out["high"] = np.where(np.isnan(out["high"]), hi, out["high"])
    out["low"] = np.where(np.isnan(out["low"]), lo, out["low"])
    factor = px["adj_factor"].to_numpy(np.float64) if "adj_factor" in px else np.ones(len(px))
    out["adj_factor"] = np.where(np.isnan(factor), 1.0, factor)
    return out


def _daily(stamps: pd.Index) -> bool:
    idx = pd.DatetimeIndex(stamps)
    return bool((idx == idx.normalize()).all())
