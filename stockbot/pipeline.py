"""The frozen observation pipeline: bars -> features -> (regimes) -> normalised observations.

``ObservationPipeline.fit`` computes features on all given bars but fits ObsNorm and the HMM on the
training split's rows only; ``transform`` then applies the frozen pieces to any bars (training,
backtest or live). A trained run saves it as ``obsnorm.json`` (+ ``hmm.json``) and a backtest or
live session loads it and never refits. Regime probabilities are appended after normalisation
(they are already in [0, 1]).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from stockbot.config import FeatureConfig, RegimeConfig, SplitConfig
from stockbot.data.split import train_slice
from stockbot.errors import FeatureError
from stockbot.features import ObsNorm, compute_features
from stockbot.regimes import RegimeModel

OBSNORM_FILE = "obsnorm.json"
HMM_FILE = "hmm.json"


class ObservationPipeline:
    def __init__(self, features: FeatureConfig, obsnorm: ObsNorm, regimes: RegimeModel | None = None) -> None:
        self.features = features
        self.obsnorm = obsnorm
        self.regimes = regimes

    @property
    def columns(self) -> list[str]:
        cols = list(self.obsnorm.columns)
        return cols + (self.regimes.columns if self.regimes else [])

    @classmethod
    def fit(
        cls,
        bars: pd.DataFrame,
        features: FeatureConfig,
        split: SplitConfig,
        regimes: RegimeConfig | None = None,
    ) -> ObservationPipeline:
        feats = compute_features(bars, features)
        train = train_slice(feats, split)
        if train.empty:
            raise FeatureError(
                f"no feature rows up to train_end {split.train_end} after the "
                f"{features.warmup_bars()}-bar warm-up; load earlier data or move train_end"
            )
        norm = ObsNorm.fit(train)
        model = RegimeModel.fit(train, regimes) if regimes and regimes.enabled else None
        return cls(features, norm, model)

    def transform(self, bars: pd.DataFrame) -> pd.DataFrame:
        """Normalised features (+ filtered regime probabilities) for every bar after the warm-up."""
        feats = compute_features(bars, self.features)
        obs = self.obsnorm.transform(feats)
        if self.regimes is not None:
            obs = obs.join(self.regimes.filter_proba(feats))
        return obs

    def save(self, directory: str | Path) -> None:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        self.obsnorm.save(d / OBSNORM_FILE)
        if self.regimes is not None:
            self.regimes.save(d / HMM_FILE)

    @classmethod
    def load(cls, directory: str | Path, features: FeatureConfig) -> ObservationPipeline:
        d = Path(directory)
        norm = ObsNorm.load(d / OBSNORM_FILE)
        model = RegimeModel.load(d / HMM_FILE) if (d / HMM_FILE).exists() else None
        expected = features.columns()
        if norm.columns != expected:
            raise FeatureError(
                f"{d / OBSNORM_FILE} was fitted on {norm.columns}, but the features config "
                f"produces {expected}"
            )
        return cls(features, norm, model)
