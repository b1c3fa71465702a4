"""Gymnasium trading envs on precomputed arrays (single stock and portfolio)."""

from stockbot.envs.actions import ActionMap
from stockbot.envs.base import TradingEnv
from stockbot.envs.factory import build_market, env_for, make_env
from stockbot.envs.market import MarketData
from stockbot.envs.portfolio import PortfolioEnv
from stockbot.envs.single import StockTradingEnv

__all__ = [
    "ActionMap",
    "MarketData",
    "PortfolioEnv",
    "StockTradingEnv",
    "TradingEnv",
    "build_market",
    "env_for",
    "make_env",
]
