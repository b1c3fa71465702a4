"""Write the golden outputs of ``tests/golden/cases.py`` with the code checked out now.

    python -m tests.golden.make_golden [--train]

``--train`` first (re)trains the fixture runs into ``tests/golden/runs/`` and writes ``weights.csv``;
without it the committed runs are used. Only re-run this on purpose: the point of the goldens is that
they were written by the code before a refactor, and the refactored code must reproduce them.
Run it with ``MKL_CBWR=COMPATIBLE OPENBLAS_CORETYPE=Haswell`` (as the suite runs, see
``tests/conftest.py``): MKL's and OpenBLAS's default kernels differ by CPU and so would the trades.
Every case was last written by the pre-refactor code (5062726) that way.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from tests.golden.cases import CASES, CASES_DIR, GOLDEN, RUNS, TRAINED, backtest_config

# what a backtest of a trained run loads from its folder
RUN_FILES = ("config.yaml", "obsnorm.json", "hmm.json", "market.json", "policy.zip")
FLOAT = "%.17g"  # round-trips every float64 exactly


def train_fixtures() -> None:
    from stockbot.config import TrainConfig
    from stockbot.train import train

    for name, raw in TRAINED.items():
        with tempfile.TemporaryDirectory() as tmp:
            result = train(TrainConfig.model_validate(raw), tmp)
            print(name, "trained:", result.timesteps, "steps")
            target = RUNS / name
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True)
            for f in RUN_FILES:
                if (Path(tmp) / f).is_file():
                    shutil.copyfile(Path(tmp) / f, target / f)


def write_weights() -> None:
    """Targets on every 7th session of the golden period for three symbols: some bars list only
    some symbols (the rest are held), some ask for more than the gross limit, some jump far enough
    for the turnover limit to bite."""
    import exchange_calendars as xcals

    days = xcals.get_calendar("XNYS").sessions_in_range("2017-04-03", "2017-12-06")[::7]
    rng = np.random.default_rng(11)
    rows = []
    for k, day in enumerate(days):
        for sym in ("AAPL", "KO", "XOM"):
            if k % 3 == 1 and sym == "KO":
                continue  # held at this bar
            rows.append((day.date().isoformat(), sym, round(float(rng.uniform(0.0, 0.9)), 4)))
    pd.DataFrame(rows, columns=["timestamp", "symbol", "weight"]).to_csv(GOLDEN / "weights.csv", index=False)


def write_case(name: str) -> tuple[int, int]:
    from stockbot.backtest import run_backtest

    result = run_backtest(backtest_config(name))
    out = CASES_DIR / name
    out.mkdir(parents=True, exist_ok=True)
    result.policy.equity.to_csv(out / "equity.csv", index=False, float_format=FLOAT)
    result.policy.trades.to_csv(out / "trades.csv", index=False, float_format=FLOAT)
    return len(result.policy.equity), len(result.policy.trades)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--train", action="store_true", help="retrain the fixture runs and rewrite weights.csv")
    args = ap.parse_args()
    if os.environ.get("MKL_CBWR") != "COMPATIBLE" or os.environ.get("OPENBLAS_CORETYPE") != "Haswell":
        raise SystemExit(
            "run with MKL_CBWR=COMPATIBLE OPENBLAS_CORETYPE=Haswell, as the suite does (tests/conftest.py)"
        )
    if args.train:
        write_weights()
        train_fixtures()
    for name in CASES:
        bars, trades = write_case(name)
        print(f"{name}: {bars} bars, {trades} trades")


if __name__ == "__main__":
    main()
