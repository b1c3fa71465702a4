"""What loading did to the data: every dropped or repaired row, every gap, every alignment drop."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class Issue:
    """One row that broke a validation rule, and what was done about it."""

    symbol: str
    timestamp: pd.Timestamp
    rule: str
    detail: str
    action: str  # "error" | "dropped" | "repaired"

    def describe(self) -> str:
        when = self.timestamp.date() if self.timestamp == self.timestamp.normalize() else self.timestamp
        return f"{self.symbol} {when}: {self.rule} ({self.detail})"


@dataclass
class DataReport:
    """Everything loading changed or found missing. Empty lists mean clean data."""

    source: str = ""
    issues: list[Issue] = field(default_factory=list)
    missing_sessions: dict[str, list[str]] = field(default_factory=dict)
    alignment_dropped: dict[str, list[str]] = field(default_factory=dict)

    @property
    def dropped(self) -> list[Issue]:
        return [i for i in self.issues if i.action == "dropped"]

    @property
    def repaired(self) -> list[Issue]:
        return [i for i in self.issues if i.action == "repaired"]

    def is_clean(self) -> bool:
        return not (self.issues or self.missing_sessions or self.alignment_dropped)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "issues": [
                {
                    "symbol": i.symbol,
                    "timestamp": i.timestamp.isoformat(),
                    "rule": i.rule,
                    "detail": i.detail,
                    "action": i.action,
                }
                for i in self.issues
            ],
            "missing_sessions": self.missing_sessions,
            "alignment_dropped": self.alignment_dropped,
        }

    def summary(self) -> str:
        if self.is_clean():
            return f"{self.source}: clean (no invalid rows, no gaps, nothing dropped by alignment)"
        parts = []
        if self.dropped:
            parts.append(f"{len(self.dropped)} invalid rows dropped")
        if self.repaired:
            parts.append(f"{len(self.repaired)} rows repaired")
        if self.missing_sessions:
            n = sum(len(v) for v in self.missing_sessions.values())
            parts.append(f"{n} missing sessions ({', '.join(sorted(self.missing_sessions))})")
        if self.alignment_dropped:
            n = len({t for v in self.alignment_dropped.values() for t in v})
            parts.append(f"{n} timestamps dropped to align symbols")
        return f"{self.source}: " + "; ".join(parts)
