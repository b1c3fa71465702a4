"""Readable statistics of fitted regimes (pure: frames in, frames out)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from stockbot.regimes.hmm import MARKET, RegimeModel


def market_frame(features: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Cross-sectional mean of ``columns`` per timestamp (the input of a market-scope HMM)."""
    return features[columns].groupby(level="timestamp", sort=True).mean()


def regime_table(model: RegimeModel, features: pd.DataFrame, periods_per_year: int = 252) -> pd.DataFrame:
    """Per state of a market-scope model: share of bars, mean run length, annualised mean and
    volatility of the equal-weight 1-bar log return while that state was the most likely
    (filtered), and the fitted transition probability of staying."""
    if "ret_1" not in features.columns:
        raise ValueError("regime_table needs the 'ret_1' feature column")
    proba = model.filter_proba(features)
    state = proba.groupby(level="timestamp", sort=True).first().to_numpy().argmax(axis=1)
    ret = features["ret_1"].groupby(level="timestamp", sort=True).mean().to_numpy()
    # the return of bar t+1 is what follows a state decided at bar t's close
    next_ret = np.append(ret[1:], np.nan)
    runs = np.diff(np.flatnonzero(np.diff(np.r_[-1, state, -1]) != 0))
    run_states = state[np.r_[0, np.cumsum(runs)[:-1]]] if len(state) else state
    key = MARKET if MARKET in model.models else next(iter(model.models))
    stay = np.diag(model.models[key].transmat)
    rows = []
    for k in range(model.config.n_states):
        sel = state == k
        nr = next_ret[sel]
        nr = nr[np.isfinite(nr)]
        rows.append(
            {
                "state": k,
                "share": sel.mean() if len(sel) else np.nan,
                "mean_run_bars": runs[run_states == k].mean() if (run_states == k).any() else np.nan,
                "next_ret_ann": nr.mean() * periods_per_year if len(nr) else np.nan,
                "next_vol_ann": nr.std(ddof=1) * np.sqrt(periods_per_year) if len(nr) > 1 else np.nan,
                "p_stay": stay[k],
            }
        )
    return pd.DataFrame(rows).set_index("state")
