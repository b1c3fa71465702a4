"""Static report plots (matplotlib, Agg backend): written to files, never shown."""

from __future__ import annotations

import itertools
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


def _state_colors(n: int) -> list[str]:
    """Red (state 0, lowest mean return) through yellow to green (highest)."""
    cmap = matplotlib.colormaps["RdYlGn"]
    return [matplotlib.colors.to_hex(cmap(0.1 + 0.8 * k / max(n - 1, 1))) for k in range(n)]


def plot_regimes(
    bars: pd.DataFrame, proba: pd.DataFrame, path: str | Path, *, title: str, train_end: pd.Timestamp
) -> Path:
    """Equal-weight index of the universe shaded by the most likely filtered regime, above the
    filtered probabilities. ``proba`` is indexed like the bars (timestamp, symbol)."""
    close = bars["close"].unstack("symbol").sort_index()
    index = (close / close.iloc[0]).mean(axis=1)
    p = proba.groupby(level="timestamp").first().sort_index()
    index = index.reindex(p.index)
    state = p.to_numpy().argmax(axis=1)
    colors = _state_colors(p.shape[1])
    x = p.index.tz_localize(None) if p.index.tz is not None else p.index
    fig, (ax1, ax2) = plt.subplots(
        2, 1, figsize=(11, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 2]}
    )
    ax1.plot(x, index.to_numpy(), color="black", lw=1.0, label="equal-weight index")
    bounds = np.flatnonzero(np.diff(np.r_[-1, state, -1]) != 0)
    for a, b in itertools.pairwise(bounds):
        ax1.axvspan(x[a], x[min(b, len(x) - 1)], color=colors[state[a]], alpha=0.25, lw=0)
    split = (
        pd.Timestamp(train_end).tz_localize(None)
        if pd.Timestamp(train_end).tzinfo
        else pd.Timestamp(train_end)
    )
    for ax in (ax1, ax2):
        ax.axvline(split, color="black", ls="--", lw=0.8)
    ax1.text(split, ax1.get_ylim()[1], " train_end", va="top", fontsize=8)
    ax1.set_ylabel("index (start = 1)")
    ax1.set_title(title)
    ax1.legend(loc="upper left", fontsize=8)
    ax2.stackplot(x, p.to_numpy().T, labels=list(p.columns), colors=colors, alpha=0.8)
    ax2.set_ylim(0, 1)
    ax2.set_ylabel("p(state | data up to t)")
    ax2.legend(loc="upper left", fontsize=8, ncol=p.shape[1])
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_equity(equity: pd.DataFrame, path: str | Path, *, label: str) -> Path:
    """Equity of the policy against buy-and-hold of the same universe."""
    fig, ax = plt.subplots(figsize=(10, 4.5))
    x = pd.DatetimeIndex(equity["timestamp"]).tz_localize(None)
    ax.plot(x, equity["equity"].to_numpy(), lw=1.3, label=label)
    ax.plot(x, equity["benchmark_equity"].to_numpy(), lw=1.0, color="gray", label="buy-and-hold")
    ax.set_ylabel("equity")
    ax.set_title("Equity (marked at the close)")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def plot_drawdown(
    equity: pd.DataFrame, benchmark_drawdown: pd.Series, path: str | Path, *, label: str
) -> Path:
    fig, ax = plt.subplots(figsize=(10, 3.2))
    x = pd.DatetimeIndex(equity["timestamp"]).tz_localize(None)
    ax.fill_between(x, equity["drawdown"].to_numpy(), 0.0, alpha=0.4, label=label)
    ax.plot(x, benchmark_drawdown.to_numpy(), color="gray", lw=1.0, label="buy-and-hold")
    ax.set_ylabel("drawdown")
    ax.set_title("Drawdown from the running peak")
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def _save(fig: plt.Figure, path: str | Path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
