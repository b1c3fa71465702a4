"""The cost model: commission on notional, per-share fees, minimum fee, slippage against the trader."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stockbot.config import CostConfig


@dataclass(frozen=True, slots=True)
class CostModel:
    commission: float = 1e-4  # fraction of traded notional
    slippage: float = 2e-4  # fraction of the reference price, against the trader
    per_share: float = 0.0  # currency per share traded
    min_fee: float = 0.0  # currency per order

    @classmethod
    def from_config(cls, cfg: CostConfig) -> CostModel:
        return cls(cfg.commission_bps / 1e4, cfg.slippage_bps / 1e4, cfg.per_share, cfg.min_fee)

    def as_array(self) -> np.ndarray:
        """[commission, slippage, per_share, min_fee] for the compiled kernels."""
        return np.array([self.commission, self.slippage, self.per_share, self.min_fee])
