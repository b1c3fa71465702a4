"""On-disk parquet cache of network providers' raw bars, keyed by provider/interval/symbol.

Each symbol's file holds the bars fetched so far and a JSON sidecar with the date range the cache
*covers* (a range with no bars, such as a holiday, is covered too). A request inside that range
makes no network call; a request beyond it fetches only the missing part, starting from the last
(or ending at the first) cached bar so that the overlap can be compared. If the overlapping bar's
close or adjustment factor changed (a new dividend or split re-adjusts the whole history), the cache
never splices the two: the whole range is fetched again. Days from today on are never marked covered,
so today's still-forming bar is refreshed on the next request.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from stockbot.data import calendar
from stockbot.data.schema import RAW_COLUMNS, empty_raw, local_dates, to_utc

if TYPE_CHECKING:
    from stockbot.data.base import BaseProvider

log = logging.getLogger(__name__)

_RTOL = 1e-9


def utc_today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


@dataclass(frozen=True)
class Coverage:
    start: dt.date
    end: dt.date

    def covers(self, start: dt.date, end: dt.date) -> bool:
        return self.start <= start and end <= self.end


class BarCache:
    """Parquet files under ``root/<provider>/<interval>/<SYMBOL>.parquet``."""

    def __init__(self, root: Path, *, today: Callable[[], dt.date] = utc_today) -> None:
        self.root = Path(root)
        self.today = today

    # ---------------------------------------------------------------- public

    def fetch(
        self,
        provider: BaseProvider,
        symbols: list[str],
        start: dt.date,
        end: dt.date,
        interval: str,
    ) -> pd.DataFrame:
        tz = calendar.timezone(provider.calendar_name)
        frames = [self._symbol(provider, s, start, end, interval, tz) for s in symbols]
        frames = [f for f in frames if not f.empty]
        return pd.concat(frames, ignore_index=True) if frames else empty_raw()

    def clear(self, provider_name: str | None = None) -> None:
        target = self.root / provider_name if provider_name else self.root
        for p in sorted(target.rglob("*"), reverse=True):
            p.unlink() if p.is_file() else p.rmdir()

    # ---------------------------------------------------------------- internals

    def _paths(self, provider: str, interval: str, symbol: str) -> tuple[Path, Path]:
        base = self.root / provider / interval
        return base / f"{symbol}.parquet", base / f"{symbol}.json"

    def _read(self, provider: str, interval: str, symbol: str) -> tuple[pd.DataFrame, Coverage | None]:
        data_path, meta_path = self._paths(provider, interval, symbol)
        if not (data_path.exists() and meta_path.exists()):
            return empty_raw(), None
        try:
            meta = json.loads(meta_path.read_text())
            cov = Coverage(dt.date.fromisoformat(meta["start"]), dt.date.fromisoformat(meta["end"]))
            return pd.read_parquet(data_path), cov
        except (OSError, ValueError, KeyError) as e:
            log.warning("ignoring unreadable cache %s (%s); fetching again", data_path, e)
            return empty_raw(), None

    def _write(self, provider: str, interval: str, symbol: str, frame: pd.DataFrame, cov: Coverage) -> None:
        data_path, meta_path = self._paths(provider, interval, symbol)
        data_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = data_path.with_suffix(".parquet.tmp")
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, data_path)
        meta = {
            "start": cov.start.isoformat(),
            "end": cov.end.isoformat(),
            "written_at": dt.datetime.now(dt.UTC).isoformat(),
            "rows": len(frame),
        }
        tmp_meta = meta_path.with_suffix(".json.tmp")
        tmp_meta.write_text(json.dumps(meta))
        os.replace(tmp_meta, meta_path)

    def _symbol(
        self,
        provider: BaseProvider,
        symbol: str,
        start: dt.date,
        end: dt.date,
        interval: str,
        tz: str,
    ) -> pd.DataFrame:
        cached, cov = self._read(provider.name, interval, symbol)
        if cov is not None and cov.covers(start, end):
            log.debug("cache hit %s %s %s..%s", provider.name, symbol, start, end)
            return _between(cached, start, end, tz)

        last_complete = self.today() - dt.timedelta(days=1)
        if cov is None:
            merged = self._get(provider, symbol, start, end, interval)
            lo, hi = start, end
        else:
            lo, hi = min(start, cov.start), max(end, cov.end)
            merged = self._top_up(provider, symbol, cached, cov, start, end, interval, tz)
            if merged is None:
                log.info(
                    "%s %s: cached history was re-adjusted at the source; refetching %s..%s",
                    provider.name,
                    symbol,
                    lo,
                    hi,
                )
                merged = self._get(provider, symbol, lo, hi, interval)
        covered_end = min(hi, last_complete)
        if cov is not None:
            covered_end = max(covered_end, cov.end)
        if covered_end >= lo:
            self._write(provider.name, interval, symbol, merged, Coverage(lo, covered_end))
        return _between(merged, start, end, tz)

    def _get(
        self, provider: BaseProvider, symbol: str, start: dt.date, end: dt.date, interval: str
    ) -> pd.DataFrame:
        raw = provider._fetch([symbol], start, end, interval)
        return _normalise(raw)

    def _top_up(
        self,
        provider: BaseProvider,
        symbol: str,
        cached: pd.DataFrame,
        cov: Coverage,
        start: dt.date,
        end: dt.date,
        interval: str,
        tz: str,
    ) -> pd.DataFrame | None:
        """Cached bars plus the missing pieces, or None when the overlap shows a re-adjustment."""
        # bars outside the covered range (today's still-forming bar) are about to be replaced:
        # never anchor an overlap check on them
        cached = _between(cached, cov.start, cov.end, tz)
        days = _local_dates(cached, tz)
        pieces = [cached]
        if start < cov.start:
            anchor = min(days) if len(days) else cov.start
            piece = self._get(provider, symbol, start, anchor, interval)
            if len(days) and not _overlap_agrees(cached, piece):
                return None
            pieces.append(piece)
        if end > cov.end:
            anchor = max(days) if len(days) else cov.end
            piece = self._get(provider, symbol, anchor, end, interval)
            if len(days) and not _overlap_agrees(cached, piece):
                return None
            pieces.append(piece)
        merged = pd.concat([p for p in pieces if not p.empty], ignore_index=True)
        if merged.empty:
            return empty_raw()
        merged = merged.drop_duplicates(subset=["timestamp"], keep="last")
        return merged.sort_values("timestamp", kind="stable").reset_index(drop=True)


def _normalise(raw: pd.DataFrame) -> pd.DataFrame:
    if raw.empty:
        return empty_raw()
    out = raw.reindex(columns=list(RAW_COLUMNS)).copy()
    out["timestamp"] = to_utc(out["timestamp"], source="cache")
    for col in RAW_COLUMNS[2:]:
        out[col] = pd.to_numeric(out[col], errors="coerce").astype("float64")
    return out.sort_values("timestamp", kind="stable").reset_index(drop=True)


def _local_dates(raw: pd.DataFrame, tz: str) -> list[dt.date]:
    if raw.empty:
        return []
    return [d.date() for d in local_dates(raw["timestamp"], tz)]


def _between(raw: pd.DataFrame, start: dt.date, end: dt.date, tz: str) -> pd.DataFrame:
    if raw.empty:
        return raw
    days = np.array(_local_dates(raw, tz))
    return raw[(days >= start) & (days <= end)].reset_index(drop=True)


def _overlap_agrees(cached: pd.DataFrame, piece: pd.DataFrame) -> bool:
    """True when the piece re-delivers the cached bars it overlaps with the same close and factor."""
    both = cached.merge(piece, on="timestamp", suffixes=("_old", "_new"))
    if both.empty:
        return False

    def factor(side: str) -> np.ndarray:
        adj = both[f"adj_close_{side}"].to_numpy(dtype=float)
        close = both[f"close_{side}"].to_numpy(dtype=float)
        return np.where(np.isnan(adj), 1.0, adj / close)

    same_close = np.allclose(both["close_old"], both["close_new"], rtol=_RTOL, atol=0)
    same_factor = np.allclose(factor("old"), factor("new"), rtol=_RTOL, atol=0)
    return bool(same_close and same_factor)
