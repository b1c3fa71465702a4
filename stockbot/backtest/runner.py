"""Backtests: a trained run or a baseline over a period, against buy-and-hold with the same costs."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from stockbot.backtest import baselines
from stockbot.backtest.engine import Decider, Trace, run_loop
from stockbot.backtest.metrics import Conventions, compute_metrics
from stockbot.backtest.trained import TrainedRun, load_trained, policy_decider
from stockbot.config import BacktestConfig, CostConfig, ExecutionConfig, RiskConfig
from stockbot.data import load_bars
from stockbot.envs.actions import ActionMap
from stockbot.envs.market import MarketData
from stockbot.envs.observation import ObservationBuilder
from stockbot.errors import ConfigError, DataError
from stockbot.execution import CostModel, OrderPath, RiskLimits
from stockbot.paths import stockbot_home

MARKET_FILE = "market.json"


@dataclass
class BacktestResult:
    policy: Trace
    benchmark: Trace
    summary: dict[str, Any]


def order_path(
    market: MarketData,
    costs: CostConfig,
    limits: RiskLimits,
    initial_cash: float,
    execution: ExecutionConfig | None = None,
) -> OrderPath:
    """The order path of a backtest: the planner, order builder, paper venue, portfolio and risk
    state a paper session uses too."""
    return OrderPath(
        market.symbols,
        initial_cash=initial_cash,
        costs=CostModel.from_config(costs),
        limits=limits,
        execution=execution,
        fill_at_close=costs.fill == "close",
    )


def _summarise(
    policy: Trace, benchmark: Trace, costs: CostConfig, conv: Conventions, label: str
) -> dict[str, Any]:
    def metrics(trace: Trace) -> dict[str, Any]:
        eq = trace.equity.set_index("timestamp")
        return compute_metrics(eq["equity"], trace.trades, eq["gross_exposure"], conv)

    first, last = policy.equity["timestamp"].iloc[[0, -1]]
    return {
        "policy": metrics(policy),
        "benchmark": metrics(benchmark),
        "conventions": conv.to_dict(),
        "label": label,
        "fill": "next_open"
        if costs.fill == "next_open"
        else "close (optimistic: fills at the close just seen)",
        "period": {"first": first.isoformat(), "last": last.isoformat(), "bars": len(policy.equity)},
    }


def evaluate(
    market: MarketData,
    path: OrderPath,
    decide: Decider,
    start: int,
    *,
    costs: CostConfig,
    risk: RiskConfig,
    initial_cash: float,
    conventions: Conventions,
    label: str,
    execution: ExecutionConfig | None = None,
) -> BacktestResult:
    """Run ``decide`` through ``path`` from bar ``start`` to the last bar, and buy-and-hold of the
    same universe with the same costs and execution settings as the benchmark."""
    end = market.n_bars - 1
    if start >= end:
        raise DataError(f"nothing to backtest: the first decision bar ({start}) is the last bar")
    trace = run_loop(market, path, decide, start, end)
    bench_limits = RiskLimits(risk.max_gross_leverage, max(risk.max_position_weight, 1.0))
    bench_path = order_path(market, costs, bench_limits, initial_cash, execution)
    bench = run_loop(market, bench_path, baselines.buy_and_hold(market, start), start, end)
    return BacktestResult(trace, bench, _summarise(trace, bench, costs, conventions, label))


def _resolved(
    run: TrainedRun,
    costs: CostConfig | None,
    risk: RiskConfig | None,
    initial_cash: float | None,
    execution: ExecutionConfig | None = None,
) -> tuple[CostConfig, RiskConfig, float, ExecutionConfig]:
    """A backtest's costs, risk, cash and execution settings: as given, else the trained run's."""
    cfg = run.config
    return costs or cfg.costs, risk or cfg.risk, initial_cash or cfg.initial_cash, execution or cfg.execution


@dataclass
class TrainedReplay:
    """A trained run set up over some bars: the frozen pipeline's market, the order path with the
    run's execution settings, the first decision bar and the policy as a decider."""

    market: MarketData
    path: OrderPath
    first: int
    decide: Decider


def trained_replay(
    run: TrainedRun,
    bars: pd.DataFrame,
    start_day: dt.date | pd.Timestamp | None,
    *,
    costs: CostConfig | None = None,
    risk: RiskConfig | None = None,
    initial_cash: float | None = None,
    execution: ExecutionConfig | None = None,
) -> TrainedReplay:
    """The frozen pipeline's market, the order path, the first decision bar and the policy."""
    cfg = run.config
    market = MarketData.from_frames(bars, run.pipeline.transform(bars))
    check_universe(run, market)
    observations = ObservationBuilder(market, cfg.env)
    first = market.first_index_on_or_after(start_day) if start_day is not None else 0
    first = max(first, observations.first)
    if first >= market.n_bars - 1:
        raise DataError(f"nothing to backtest: no bars after {start_day}")
    costs, risk, initial_cash, execution = _resolved(run, costs, risk, initial_cash, execution)
    limits = RiskLimits.from_config(risk, allow_short=cfg.env.short)
    path = order_path(market, costs, limits, initial_cash, execution)
    actions = ActionMap(cfg.env.action, market.n_assets, cfg.env.short)
    decide = policy_decider(observations, path.portfolio, actions, run.model, run.recurrent)
    return TrainedReplay(market, path, first, decide)


def backtest_trained(
    run: TrainedRun,
    bars: pd.DataFrame,
    start_day: dt.date | pd.Timestamp | None,
    *,
    costs: CostConfig | None = None,
    risk: RiskConfig | None = None,
    initial_cash: float | None = None,
    conventions: Conventions | None = None,
    execution: ExecutionConfig | None = None,
) -> BacktestResult:
    """Replay a trained run's frozen pipeline and policy on ``bars`` from ``start_day``."""
    costs, risk, cash, execution = _resolved(run, costs, risk, initial_cash, execution)
    replay = trained_replay(
        run, bars, start_day, costs=costs, risk=risk, initial_cash=cash, execution=execution
    )
    return evaluate(
        replay.market,
        replay.path,
        replay.decide,
        replay.first,
        costs=costs,
        risk=risk,
        initial_cash=cash,
        conventions=conventions or Conventions(),
        label=f"PPO ({run.config.ppo.policy}) from {run.path.name}",
        execution=execution,
    )


def check_universe(run: TrainedRun, market: MarketData) -> None:
    """The backtest market must be the one the policy was trained on: same symbols in the same
    order, same observation columns, same bar spacing."""
    info = run.path / MARKET_FILE
    try:
        trained = json.loads(info.read_text())
        symbols, columns = trained["symbols"], trained["columns"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"{info} is missing or malformed ({e}); is {run.path} a finished train run?") from e
    if market.symbols != symbols:
        raise DataError(
            f"the policy was trained on symbols {symbols}; the backtest data has {market.symbols}"
        )
    if market.columns != columns:
        raise DataError(
            f"the policy was trained on observation columns {columns}; these are {market.columns}"
        )
    daily = trained.get("daily", True)
    if market.daily != daily:
        raise DataError(
            f"the policy was trained on {'daily' if daily else 'intraday'} bars; the backtest data is "
            f"{'daily' if market.daily else 'intraday'}"
        )


def resolve_run(config: BacktestConfig) -> Path:
    policy = config.policy
    path = policy.path if policy.path is not None else stockbot_home() / "runs" / str(policy.run_id)
    if not path.is_dir():
        raise ConfigError(f"policy run folder not found: {path}")
    return path


def run_backtest(config: BacktestConfig, *, bars: pd.DataFrame | None = None) -> BacktestResult:
    """A ``backtest`` job's computation (writing is :func:`stockbot.backtest.report.write_backtest`)."""
    conv = Conventions(periods_per_year=config.periods_per_year, rf=config.rf)
    policy = config.policy
    if policy.type == "run":
        run = load_trained(resolve_run(config), policy.which)
        data = config.data
        if data.symbols is None and run.config.data.symbols is not None:
            data = data.model_copy(update={"symbols": run.config.data.symbols})
        if bars is None:
            bars = load_bars(data, warmup_bars=run.config.warmup_bars())
        return backtest_trained(
            run,
            bars,
            data.start,
            costs=config.costs,
            risk=config.risk,
            initial_cash=config.initial_cash,
            conventions=conv,
            execution=config.execution,
        )
    costs = config.costs or CostConfig()
    risk = config.risk or RiskConfig()
    if bars is None:
        bars = load_bars(config.data)
    market = MarketData.from_bars(bars)
    start = market.first_index_on_or_after(config.data.start) if config.data.start else 0
    decide = {
        "cash": lambda: baselines.cash(market, start),
        "buy_and_hold": lambda: baselines.buy_and_hold(market, start),
        "equal_weight": lambda: baselines.equal_weight(market, start, policy.rebalance),
        "weights_csv": lambda: baselines.weights_csv(market, start, policy.path),  # type: ignore[arg-type]
    }[policy.type]()
    execution = config.execution or ExecutionConfig()
    path = order_path(market, costs, RiskLimits.from_config(risk), config.initial_cash, execution)
    return evaluate(
        market,
        path,
        decide,
        start,
        costs=costs,
        risk=risk,
        initial_cash=config.initial_cash,
        conventions=conv,
        label=policy.type,
        execution=execution,
    )
