"""Shared fixtures: an isolated STOCKBOT_HOME per test and the bundled bars, loaded once."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

# MKL picks its float kernels by CPU (AVX-512 here, AVX2 elsewhere), which changes a policy's float32
# outputs in the last bits and with them every trade of a golden or parity run: the suite (and the
# session processes it starts, which inherit this) asks MKL for the same results on every x86 CPU.
# It must be set before torch loads MKL.
os.environ.setdefault("MKL_CBWR", "COMPATIBLE")
# OpenBLAS (numpy's and scipy's, which numba's np.dot calls for the mark) picks its kernels by CPU
# too: an AMD EPYC got Haswell's, an Intel AVX-512 machine SkylakeX's, whose dot products differ in
# the last bit. Haswell's kernels run on every x86 CPU with AVX2. Set before numpy loads OpenBLAS.
os.environ.setdefault("OPENBLAS_CORETYPE", "Haswell")

import pandas as pd
import pytest

from stockbot.config import DataConfig
from stockbot.data import load_bars

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need(condition: bool, what: str) -> None:
    """Skip a test whose real component is missing, except in CI, where that is a failure."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{what} is required in CI but was not found")
    pytest.skip(f"{what} not available")


@contextlib.contextmanager
def environ(**changes: str | None) -> Iterator[None]:
    """Set (or, for None, unset) environment variables for a block; restore them after. For
    module-scoped fixtures, which cannot use ``monkeypatch``."""
    saved = {k: os.environ.get(k) for k in changes}
    try:
        for k, v in changes.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(autouse=True)
def stockbot_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "stockbot-home"
    home.mkdir()
    monkeypatch.setenv("STOCKBOT_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def dow29_bars() -> pd.DataFrame:
    """All 29 symbols of the bundled dow29 sample, 2012-12-06..2017-12-06 (read-only: copy first)."""
    return load_bars(DataConfig(provider="sample", dataset="dow29", symbols=None))


@pytest.fixture(scope="session")
def dow5_bars(dow29_bars: pd.DataFrame) -> pd.DataFrame:
    """Five dow29 symbols: enough for cross-sectional code, fast for truncation loops."""
    keep = ["AAPL", "JPM", "KO", "MSFT", "XOM"]
    return dow29_bars[dow29_bars.index.get_level_values("symbol").isin(keep)].copy()


@pytest.fixture(scope="session")
def sample_csv() -> Path:
    """The bundled dow29 file (date,tic,open,high,low,close,adj_close,volume), for reference maths."""
    from stockbot.data.providers.sample import sample_path

    return sample_path("dow29")
