"""Real daily bars bundled with the package (see ``stockbot/data/sample/PROVENANCE.md``).

``dataset`` picks one file, since some symbols (AAPL, MSFT, IBM) appear in more than one:
``dow29`` (29 Dow stocks, 2012-12-06..2017-12-06, Yahoo), ``spy`` (SPY 2007-12-31..2017-12-29,
Yahoo) and ``wiki5`` (AAPL, IBM, MSFT, GOOG, FB 2000..2013, Quandl WIKI, unadjusted OHLC with an
adjusted close).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import ClassVar

from stockbot.data.providers.files import FileProvider
from stockbot.errors import DataError

DATASETS = {"dow29": "dow29.csv.gz", "spy": "spy.csv.gz", "wiki5": "wiki5.csv.gz"}


def sample_path(dataset: str) -> Path:
    if dataset not in DATASETS:
        raise DataError(f"unknown sample dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    return Path(str(resources.files("stockbot.data") / "sample" / DATASETS[dataset]))


class SampleProvider(FileProvider):
    name: ClassVar[str] = "sample"
    intervals: ClassVar[tuple[str, ...]] = ("1d",)

    def __init__(self, dataset: str = "dow29", **kwargs: object) -> None:
        super().__init__(sample_path(dataset), **kwargs)
        self.dataset = dataset

    @property
    def label(self) -> str:
        return f"sample {self.dataset}"


_SOURCES = {
    "dow29": "dow29_2012-2017_yahoo.csv",
    "spy": "spy_2008-2017_yahoo.csv",
    "wiki5": "wiki5_2000-2013_quandl.csv",
}


def bundle_sample(src_dir: Path, dest_dir: Path | None = None) -> list[str]:
    """Rebuild the bundled files from the shared source CSVs; return the repair report lines.

    Rows whose open or close lies outside [low, high] are repaired by widening low/high to contain
    them (the only repair the sources need: two SPY rows); every repair is written to
    ``REPAIRS.md`` beside the data with the values before and after.
    """
    import pandas as pd

    dest = dest_dir or sample_path("dow29").parent
    dest.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    for dataset, filename in _SOURCES.items():
        frame = pd.read_csv(src_dir / filename, dtype={"date": str, "tic": str})
        lo = frame[["open", "close"]].min(axis=1)
        hi = frame[["open", "close"]].max(axis=1)
        bad = (frame["low"] > lo) | (frame["high"] < hi)
        for i in frame.index[bad]:
            row = frame.loc[i]
            new_low, new_high = min(row["low"], lo[i]), max(row["high"], hi[i])
            lines.append(
                f"| {dataset} | {row['tic']} | {row['date']} | {row['open']} | {row['high']} | "
                f"{row['low']} | {row['close']} | {new_high} | {new_low} |"
            )
            frame.loc[i, ["low", "high"]] = [new_low, new_high]
        frame.to_csv(dest / DATASETS[dataset], index=False, compression={"method": "gzip", "mtime": 0})
    header = [
        "# Repairs made when bundling the sample data",
        "",
        "Made by `stockbot.data.providers.sample.bundle_sample` from the files in PROVENANCE.md.",
        "A row whose open or close lies outside [low, high] had low/high widened to contain them;",
        "nothing else was changed. Before -> after:",
        "",
        "| dataset | symbol | date | open | high | low | close | new high | new low |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    (dest / "REPAIRS.md").write_text("\n".join(header + lines) + "\n")
    return lines
