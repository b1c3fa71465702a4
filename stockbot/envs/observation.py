"""The observation builder: the frozen pipeline's features and an account snapshot -> what the
policy sees. The env, the backtest and a live session's signal all build observations here.

``{"features": (W, N*F) window or (N*F,) current row, "account": (N+3,)}``, the account being each
asset's weight, the cash weight, the unrealised PnL / equity and the drawdown at bar t's close.
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from stockbot.config import EnvConfig
from stockbot.envs.market import MarketData
from stockbot.execution.portfolio import Portfolio


class ObservationBuilder:
    def __init__(self, market: MarketData, config: EnvConfig) -> None:
        self.market = market
        self.window_obs = config.observation == "window"
        self.window = config.window if self.window_obs else 1
        n, f = market.n_assets, market.obs.shape[2]
        self._flat = market.obs.reshape(market.n_bars, n * f)
        self._account = np.zeros(n + 3)
        feat_shape = (self.window, n * f) if self.window_obs else (n * f,)
        self.space = spaces.Dict(
            {
                "features": spaces.Box(-np.inf, np.inf, shape=feat_shape, dtype=np.float32),
                "account": spaces.Box(-np.inf, np.inf, shape=(n + 3,), dtype=np.float32),
            }
        )

    @property
    def first(self) -> int:
        """The first bar with a full observation window."""
        return self.window - 1

    def observe(self, t: int, portfolio: Portfolio) -> dict[str, np.ndarray]:
        """The observation at bar t: features up to t's close and ``portfolio`` at t's close."""
        if t < self.first:
            raise IndexError(f"bar {t} has no full observation window of {self.window} bars")
        feats = self._flat[t - self.window + 1 : t + 1] if self.window_obs else self._flat[t]
        account = portfolio.account(self.market.close[t], self._account)
        return {"features": feats, "account": account.astype(np.float32)}
