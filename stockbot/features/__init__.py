"""Causal feature engineering and frozen observation normalisation."""

from stockbot.features.indicators import compute_features
from stockbot.features.obsnorm import ObsNorm

__all__ = ["ObsNorm", "compute_features"]
