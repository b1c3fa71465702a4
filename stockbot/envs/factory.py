"""``make_env``: a train-shaped config and bars in, a ready env (and its frozen pipeline) out."""

from __future__ import annotations

from typing import Literal

import pandas as pd

from stockbot.config import EnvConfig, TrainConfig
from stockbot.data.split import split_bounds as split_ranges
from stockbot.envs.base import TradingEnv
from stockbot.envs.market import MarketData
from stockbot.envs.portfolio import PortfolioEnv
from stockbot.envs.single import StockTradingEnv
from stockbot.pipeline import ObservationPipeline

Split = Literal["train", "val", "test", "all"]


def build_market(
    config: TrainConfig, bars: pd.DataFrame, pipeline: ObservationPipeline | None = None
) -> tuple[MarketData, ObservationPipeline]:
    """Fit the observation pipeline on the train split (unless one is given, frozen) and align."""
    if pipeline is None:
        pipeline = ObservationPipeline.fit(bars, config.features, config.split, config.regimes)
    return MarketData.from_frames(bars, pipeline.transform(bars)), pipeline


def env_class(env: EnvConfig) -> type[TradingEnv]:
    return StockTradingEnv if env.kind == "single" else PortfolioEnv


def split_bounds(config: TrainConfig, market: MarketData) -> dict[str, tuple[int, int]]:
    """Bar ranges of the splits over ``market`` (see :func:`stockbot.data.split.split_bounds`)."""
    return split_ranges(market.timestamps, config)


def env_for(
    config: TrainConfig,
    market: MarketData,
    split: Split = "train",
    *,
    random_start: bool | None = None,
) -> TradingEnv:
    """An env over one split: random episode starts for training, one full pass otherwise."""
    bounds = None if split == "all" else split_bounds(config, market)[split]
    training = split == "train"
    return env_class(config.env)(
        market,
        config=config.env,
        costs=config.costs,
        risk=config.risk,
        execution=config.execution,
        initial_cash=config.initial_cash,
        bounds=bounds,
        random_start=training if random_start is None else random_start,
        episode_bars=config.env.episode_bars if training else None,
    )


def make_env(
    config: TrainConfig,
    bars: pd.DataFrame,
    split: Split = "train",
    *,
    pipeline: ObservationPipeline | None = None,
) -> TradingEnv:
    """Features, regimes and normalisation fitted on ``config.split``'s training rows (or the given
    frozen ``pipeline``), then the env of ``config.env.kind`` over ``split``. The fitted pipeline is
    ``env.pipeline``."""
    market, pipe = build_market(config, bars, pipeline)
    env = env_for(config, market, split)
    env.pipeline = pipe  # type: ignore[attr-defined]
    return env
