"""Throughput of the data -> features -> regimes pipeline on the bundled dow29 panel; prints JSON.

.venv/bin/python benchmarks/features.py [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

from stockbot.config import DataConfig, FeatureConfig, RegimeConfig, SplitConfig
from stockbot.data import load_bars
from stockbot.features import compute_features
from stockbot.pipeline import ObservationPipeline


def best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    split = SplitConfig(train_end="2016-06-30", val_end="2017-03-31")
    feats_cfg = FeatureConfig()
    regimes = RegimeConfig(enabled=True)
    t_load, bars = best_of(lambda: load_bars(DataConfig(symbols=None)), args.repeat)
    t_feat, feats = best_of(lambda: compute_features(bars, feats_cfg), args.repeat)
    t_fit, pipe = best_of(lambda: ObservationPipeline.fit(bars, feats_cfg, split, regimes), args.repeat)
    t_tr, obs = best_of(lambda: pipe.transform(bars), args.repeat)
    rows = len(bars)
    print(
        json.dumps(
            {
                "dataset": "dow29",
                "bars": rows,
                "symbols": int(bars.index.get_level_values("symbol").nunique()),
                "feature_columns": len(feats.columns),
                "load_bars_s": round(t_load, 4),
                "compute_features_s": round(t_feat, 4),
                "features_bars_per_s": round(rows / t_feat),
                "pipeline_fit_s": round(t_fit, 4),
                "pipeline_transform_s": round(t_tr, 4),
                "transform_bars_per_s": round(rows / t_tr),
                "observation_columns": len(obs.columns),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
