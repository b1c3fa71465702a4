"""Market regimes: Gaussian HMM fitted on the training split, forward-filtered inference."""

from stockbot.regimes.hmm import RegimeModel, proba_columns

__all__ = ["RegimeModel", "proba_columns"]
