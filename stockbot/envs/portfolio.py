"""N symbols plus cash: target weights from a softmax over N+1 scores."""

from __future__ import annotations

from typing import Any

from stockbot.envs.base import TradingEnv
from stockbot.envs.market import MarketData
from stockbot.errors import ConfigError


class PortfolioEnv(TradingEnv):
    def __init__(self, market: MarketData, **kwargs: Any) -> None:
        if kwargs["config"].action != "weights":
            raise ConfigError("PortfolioEnv needs env.action 'weights'")
        super().__init__(market, **kwargs)
