"""Observation normalisation: running mean/variance fitted on the training split, then frozen.

Statistics are accumulated batch by batch with Chan et al.'s parallel update (the same as
stable-baselines3's ``RunningMeanStd``), pooled over symbols per column. After :meth:`ObsNorm.freeze`
(``fit`` freezes) they never change: training, backtests and live trading apply the identical
``clip((x - mean) / sqrt(var + eps), -clip, clip)``. Saved and loaded as JSON (exact round trip).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stockbot.errors import FeatureError, NotFittedError
from stockbot.jsonio import read_json, write_json

FORMAT = "stockbot.obsnorm/1"


class ObsNorm:
    """Per-column standardisation with frozen training statistics."""

    def __init__(self, columns: list[str], *, clip: float = 10.0, eps: float = 1e-8) -> None:
        if clip <= 0:
            raise FeatureError(f"ObsNorm clip must be > 0, got {clip}")
        self.columns = list(columns)
        self.clip = float(clip)
        self.eps = float(eps)
        self.mean = np.zeros(len(self.columns))
        self.var = np.ones(len(self.columns))
        self.count = 0
        self.frozen = False

    # ------------------------------------------------------------------ fitting

    def update(self, frame: pd.DataFrame) -> ObsNorm:
        """Fold a batch of rows into the running statistics (refused once frozen)."""
        if self.frozen:
            raise FeatureError("this ObsNorm is frozen; its statistics come from the training split")
        x = self._values(frame)
        n = x.shape[0]
        if n == 0:
            return self
        batch_mean = x.mean(axis=0)
        batch_var = x.var(axis=0)
        total = self.count + n
        delta = batch_mean - self.mean
        new_mean = self.mean + delta * n / total
        m2 = self.var * self.count + batch_var * n + delta**2 * self.count * n / total
        self.mean, self.var, self.count = new_mean, m2 / total, total
        return self

    def freeze(self) -> ObsNorm:
        if self.count == 0:
            raise FeatureError("cannot freeze an ObsNorm that has seen no rows")
        self.frozen = True
        return self

    @classmethod
    def fit(cls, frame: pd.DataFrame, *, clip: float = 10.0, eps: float = 1e-8) -> ObsNorm:
        """Fit on ``frame`` (the training split's feature rows) and freeze."""
        if frame.empty:
            raise FeatureError("ObsNorm.fit got no rows; is the training split empty?")
        return cls(list(frame.columns), clip=clip, eps=eps).update(frame).freeze()

    # ------------------------------------------------------------------ applying

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Normalised copy of ``frame`` (same index and columns)."""
        if not self.frozen:
            raise NotFittedError("ObsNorm.transform before fit/load: fit it on the training split")
        x = self._values(frame)
        z = np.clip((x - self.mean) / np.sqrt(self.var + self.eps), -self.clip, self.clip)
        return pd.DataFrame(z, index=frame.index, columns=self.columns)

    def transform_array(self, x: np.ndarray) -> np.ndarray:
        """Row-wise transform of a raw array whose last axis follows :attr:`columns` (for envs)."""
        if not self.frozen:
            raise NotFittedError("ObsNorm.transform before fit/load: fit it on the training split")
        return np.clip((x - self.mean) / np.sqrt(self.var + self.eps), -self.clip, self.clip)

    def _values(self, frame: pd.DataFrame) -> np.ndarray:
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise FeatureError(f"ObsNorm was fitted on columns {self.columns}; the frame lacks {missing}")
        return frame[self.columns].to_numpy(dtype="float64")

    # ------------------------------------------------------------------ persistence

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "columns": self.columns,
            "mean": self.mean.tolist(),
            "var": self.var.tolist(),
            "count": self.count,
            "clip": self.clip,
            "eps": self.eps,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ObsNorm:
        if data.get("format") != FORMAT:
            raise FeatureError(f"not an ObsNorm file (format {data.get('format')!r}, want {FORMAT})")
        try:
            norm = cls(data["columns"], clip=data["clip"], eps=data["eps"])
            norm.mean = np.asarray(data["mean"], dtype="float64")
            norm.var = np.asarray(data["var"], dtype="float64")
            norm.count = int(data["count"])
        except (KeyError, TypeError, ValueError) as e:
            raise FeatureError(f"malformed ObsNorm data: {e}") from e
        n = len(norm.columns)
        if norm.mean.shape != (n,) or norm.var.shape != (n,) or (norm.var < 0).any():
            raise FeatureError("malformed ObsNorm data: mean/var must list one value per column")
        return norm.freeze()

    def save(self, path: str | Path) -> None:
        if not self.frozen:
            raise NotFittedError("save an ObsNorm after fitting it")
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> ObsNorm:
        return cls.from_dict(read_json(path, FeatureError, "ObsNorm"))
