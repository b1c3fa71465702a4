"""Comparing runs: the config keys whose values differ between them, and their equity curves with
one buy-and-hold line per distinct universe and period (runs on the same bars share one)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from dashboards.state.files import read_equity

POLICY, BENCHMARK = "policy", "buy & hold"
EQUITY_COLUMNS = ["timestamp", "equity", "run", "series", "label"]
MISSING_KEY = "(not set)"


def flatten(config: Any, prefix: str = "") -> dict[str, Any]:
    """A nested config as dotted keys (``ppo.net_arch``); lists are values, not levels."""
    if not isinstance(config, Mapping):
        return {prefix: config} if prefix else {}
    out: dict[str, Any] = {}
    for key, value in config.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, path))
        else:
            out[path] = value
    return out


def _shown(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, list | tuple):
        return ", ".join(_shown(v) for v in value) or "[]"
    if isinstance(value, Mapping):
        return json.dumps(value, sort_keys=True, default=str)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def config_differences(configs: Mapping[str, Any], labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per dotted config key whose value is not the same in every run (a key some runs
    lack counts as different), one column per run (named by ``labels``, default its id), values
    as text; keys sorted. Two runs or more; fewer give an empty table."""
    labels = labels or {}
    columns = [labels.get(r, r) for r in configs]
    if len(configs) < 2:
        return pd.DataFrame(columns=["key", *columns], dtype="object")
    flat = {run_id: flatten(cfg or {}) for run_id, cfg in configs.items()}
    keys = sorted(set().union(*(f.keys() for f in flat.values())))
    rows = []
    for key in keys:
        values = [_shown(f[key]) if key in f else MISSING_KEY for f in flat.values()]
        if len(set(values)) > 1:
            rows.append([key, *values])
    return pd.DataFrame(rows, columns=["key", *columns], dtype="object")


def universe(config: Mapping[str, Any] | None) -> str:
    """The bars a run traded, for telling benchmarks apart: source and symbols."""
    data = (config or {}).get("data") or {}
    if not isinstance(data, Mapping):
        return ""
    source = data.get("path") or data.get("dataset") or data.get("provider") or ""
    symbols = data.get("symbols")
    names = " ".join(sorted(str(s) for s in symbols)) if isinstance(symbols, list | tuple) else "all symbols"
    return f"{names} ({source})" if source else names


def unique_labels(names: Mapping[str, str]) -> dict[str, str]:
    """A legend label per run: its name, with its id where two runs share a name."""
    counts: dict[str, int] = {}
    for name in names.values():
        counts[name] = counts.get(name, 0) + 1
    return {r: (n if counts[n] == 1 else f"{n} ({r})") for r, n in names.items()}


def compare_curves(runs: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Long table (timestamp, equity, run, series, label) of the runs' equity, plus ONE
    buy-and-hold curve per distinct (universe, first bar, last bar, starting cash): runs tested on
    the same bars share their benchmark (``run`` is then the first of them). ``runs`` are run
    documents (``_id``, ``name``, ``config``) in the order to draw."""
    labels = unique_labels({str(d["_id"]): str(d.get("name") or d["_id"]) for d in runs})
    parts: list[pd.DataFrame] = []
    benchmarks: dict[tuple[Any, ...], tuple[str, pd.DataFrame]] = {}
    for doc in runs:
        run_id = str(doc["_id"])
        eq = read_equity(run_id)
        if eq is None or "equity" not in eq.columns or eq.empty:
            continue
        parts.append(_curve(eq, "equity", run_id, POLICY, labels[run_id]))
        if "benchmark_equity" in eq.columns:
            first, last = eq["timestamp"].iloc[0], eq["timestamp"].iloc[-1]
            key = (universe(doc.get("config")), first, last, round(float(eq["benchmark_equity"].iloc[0]), 2))
            benchmarks.setdefault(key, (run_id, eq))
    several = len(benchmarks) > 1
    for (uni, first, last, _), (run_id, eq) in benchmarks.items():
        label = f"{BENCHMARK} · {uni} · {first:%Y-%m-%d} – {last:%Y-%m-%d}" if several else BENCHMARK
        parts.append(_curve(eq, "benchmark_equity", run_id, BENCHMARK, label))
    if not parts:
        return pd.DataFrame(columns=EQUITY_COLUMNS)
    return pd.concat(parts, ignore_index=True)


def _curve(eq: pd.DataFrame, column: str, run_id: str, series: str, label: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "timestamp": eq["timestamp"],
            "equity": eq[column].astype("float64"),
            "run": run_id,
            "series": series,
            "label": label,
        }
    )
