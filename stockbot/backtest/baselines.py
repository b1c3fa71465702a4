"""Baseline policies as deciders (bar index -> target weights, NaN = keep the position)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from stockbot.backtest.engine import Decider
from stockbot.data.schema import coerce_numeric, session_dates, to_utc
from stockbot.envs.market import MarketData
from stockbot.errors import DataError


def cash(market: MarketData, start: int) -> Decider:
    zeros = np.zeros(market.n_assets)
    return lambda t: zeros


def buy_and_hold(market: MarketData, start: int) -> Decider:
    """Equal weights bought at the first decision, then held (weights drift with prices)."""
    equal = np.full(market.n_assets, 1.0 / market.n_assets)
    hold = np.full(market.n_assets, np.nan)
    return lambda t: equal if t == start else hold


def equal_weight(market: MarketData, start: int, every: int) -> Decider:
    """Back to equal weights every ``every`` bars from the first decision; held in between."""
    equal = np.full(market.n_assets, 1.0 / market.n_assets)
    hold = np.full(market.n_assets, np.nan)
    return lambda t: equal if (t - start) % every == 0 else hold


def weights_csv(market: MarketData, start: int, path: Path) -> Decider:
    """Targets from a CSV with columns ``timestamp, symbol, weight``: the weights listed for a bar
    are the targets decided at that bar's close; a symbol not listed for a bar is held, a bar not in
    the file holds everything."""
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as e:
        raise DataError(f"cannot read weights file {path}: {e}") from e
    missing = [c for c in ("timestamp", "symbol", "weight") if c not in frame.columns]
    if missing:
        raise DataError(f"weights file {path} lacks columns {missing}; need timestamp, symbol, weight")
    weights = coerce_numeric(frame["weight"], "weight", f"weights file {path}")
    if weights.isna().any():
        row = int(np.flatnonzero(weights.isna().to_numpy())[0])
        raise DataError(f"weights file {path}: row {row} has no weight")
    if (weights < 0).any():
        row = int(np.flatnonzero((weights < 0).to_numpy())[0])
        raise DataError(
            f"weights file {path}: row {row} has weight {weights.iloc[row]}; weights must be >= 0"
        )
    unknown = sorted(set(frame["symbol"].astype(str)) - set(market.symbols))
    if unknown:
        raise DataError(f"weights file {path} names symbols {unknown}; the data has {market.symbols}")
    stamps = to_utc(frame["timestamp"], source=f"weights file {path}")
    if market.daily:
        stamps = session_dates(stamps, market.exchange_tz)
    bars = set(market.timestamps)
    unmatched = sorted({t for t in stamps if t not in bars})
    if unmatched:
        shown = ", ".join(str(t) for t in unmatched[:5])
        raise DataError(
            f"weights file {path}: {len(unmatched)} timestamp(s) match no bar of the data ({shown}); "
            "each row is the target decided at the close of that bar"
        )
    table = (
        pd.DataFrame({"timestamp": stamps, "symbol": frame["symbol"].astype(str), "weight": weights})
        .pivot_table(index="timestamp", columns="symbol", values="weight", aggfunc="last")
        .reindex(columns=market.symbols)
    )
    rows = market.timestamps.get_indexer(table.index)
    by_bar = {int(i): table.iloc[k].to_numpy(float) for k, i in enumerate(rows) if i >= 0}
    hold = np.full(market.n_assets, np.nan)
    return lambda t: by_bar.get(t, hold)
