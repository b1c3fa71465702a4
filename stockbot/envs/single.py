"""One symbol: discrete {short, flat, long} or a continuous target position."""

from __future__ import annotations

from typing import Any

from stockbot.envs.base import TradingEnv
from stockbot.envs.market import MarketData
from stockbot.errors import ConfigError


class StockTradingEnv(TradingEnv):
    def __init__(self, market: MarketData, **kwargs: Any) -> None:
        cfg = kwargs["config"]
        if market.n_assets != 1:
            raise ConfigError(f"StockTradingEnv trades one symbol; got {market.symbols}")
        if cfg.action not in ("discrete", "continuous"):
            raise ConfigError("StockTradingEnv needs env.action 'discrete' or 'continuous'")
        super().__init__(market, **kwargs)
