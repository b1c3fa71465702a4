"""Risk limits on target weights (position value / equity), shared by envs, backtests and live."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from stockbot.config import RiskConfig

NO_LIMIT = -1.0  # how an absent optional limit travels into compiled code


@dataclass(frozen=True, slots=True)
class RiskLimits:
    max_gross_leverage: float = 1.0
    max_position_weight: float = 1.0
    max_turnover: float | None = None
    max_drawdown: float | None = None
    allow_short: bool = False

    @classmethod
    def from_config(cls, cfg: RiskConfig, *, allow_short: bool = False) -> RiskLimits:
        return cls(
            cfg.max_gross_leverage,
            cfg.max_position_weight,
            cfg.max_turnover,
            cfg.max_drawdown,
            allow_short,
        )

    def as_array(self) -> np.ndarray:
        """[gross, position, turnover, drawdown, allow_short] for the compiled kernels."""
        return np.array(
            [
                self.max_gross_leverage,
                self.max_position_weight,
                NO_LIMIT if self.max_turnover is None else self.max_turnover,
                NO_LIMIT if self.max_drawdown is None else self.max_drawdown,
                1.0 if self.allow_short else 0.0,
            ]
        )


@njit(cache=True, nogil=True)
def limit_weights_kernel(target: np.ndarray, current: np.ndarray, limits: np.ndarray) -> np.ndarray:
    """NaN in ``target`` holds that asset at its current weight: held weights are left as they
    are and only the other assets share what is left of the gross and turnover budgets."""
    max_gross, max_pos, max_turnover, _, allow_short = limits
    n = target.shape[0]
    w = np.empty(n)
    gross = 0.0
    held_gross = 0.0
    for i in range(n):
        x = target[i]
        if np.isnan(x):
            w[i] = current[i]
            held_gross += abs(current[i])
            continue
        if allow_short == 0.0 and x < 0.0:
            x = 0.0
        x = min(max(x, -max_pos), max_pos)
        w[i] = x
        gross += abs(x)
    budget = max(max_gross - held_gross, 0.0)
    if gross > budget:
        scale = budget / gross if gross > 0.0 else 0.0
        for i in range(n):
            if not np.isnan(target[i]):
                w[i] *= scale
    if max_turnover > 0.0:
        turnover = 0.0
        for i in range(n):
            turnover += abs(w[i] - current[i])
        if turnover > max_turnover:
            scale = max_turnover / turnover
            for i in range(n):
                w[i] = current[i] + (w[i] - current[i]) * scale
    return w


def limit_weights(target: np.ndarray, current: np.ndarray, limits: RiskLimits) -> np.ndarray:
    """Apply, in order: no shorts unless allowed; |w_i| <= max_position_weight; gross exposure
    sum |w_i| <= max_gross_leverage (scaled down proportionally); turnover sum |w - current| <=
    max_turnover (the move towards the target is shortened proportionally). A NaN target keeps
    that asset's current weight."""
    return limit_weights_kernel(
        np.asarray(target, dtype=np.float64), np.asarray(current, dtype=np.float64), limits.as_array()
    )
