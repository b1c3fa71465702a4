"""The gymnasium trading env both concrete envs share.

Timing (DESIGN.md §2): the observation at bar t holds features up to and including t's close; the
action chosen on it is sized at t's close, filled at t+1's open (+ slippage, fees) and the reward is
the log return of equity from t's close to t+1's close, minus the optional penalties
``turnover_penalty * traded notional / equity`` and ``drawdown_penalty * |drawdown|``. When the
drawdown kill switch fires the episode ends, after flattening at the next open (that exit's cost is
in the last reward); a breach of the daily loss limit flattens at the next open and the episode goes
on, flat until the next session, as in a backtest or a live session (the same risk state).
Each ``step`` touches only preallocated numpy arrays, one compiled execution kernel and the risk
state. The env fills market orders: the execution settings' threshold, whole shares and cash buffer
apply here, while limit orders and TWAP slices are how a backtest or a session sends the orders
(``order_type`` and ``twap_slices`` change fills, not what the policy learns to target).

Observation: ``{"features": (W, N*F) window or (N*F,) current row, "account": (N+3,)}``, the
account being each asset's weight, the cash weight, the unrealised PnL / equity and the drawdown.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np

from stockbot.config import CostConfig, EnvConfig, ExecutionConfig, RiskConfig
from stockbot.envs.actions import ActionMap
from stockbot.envs.market import MarketData
from stockbot.envs.observation import ObservationBuilder
from stockbot.errors import ConfigError
from stockbot.execution import CostModel, Portfolio, RiskLimits, RiskState
from stockbot.execution.kernels import FILL_COLUMNS, fused_step


class TradingEnv(gym.Env[dict[str, np.ndarray], Any]):
    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012

    def __init__(
        self,
        market: MarketData,
        *,
        config: EnvConfig,
        costs: CostConfig | None = None,
        risk: RiskConfig | None = None,
        execution: ExecutionConfig | None = None,
        initial_cash: float = 100_000.0,
        bounds: tuple[int, int] | None = None,
        random_start: bool = True,
        episode_bars: int | None = None,
    ) -> None:
        super().__init__()
        self.market = market
        self.config = config
        self.observations = ObservationBuilder(market, config)
        self.window = self.observations.window
        lo, hi = bounds if bounds is not None else (0, market.n_bars - 1)
        self.first = max(lo, self.observations.first)  # first bar with a full observation window
        self.last = hi  # fills happen at most at bar `hi`
        if self.last - self.first < 1:
            raise ConfigError(
                f"bars {market.timestamps[lo].date()}..{market.timestamps[hi].date()} ({hi - lo + 1}) "
                f"are too few for an observation window of {self.window} and one step"
            )
        span = self.last - self.first
        self.episode_bars = min(episode_bars, span) if episode_bars else span
        self.random_start = random_start
        self.actions = ActionMap(config.action, market.n_assets, config.short)
        self.action_space = self.actions.space
        self.observation_space = self.observations.space
        cost_cfg = costs or CostConfig()
        self.limits = RiskLimits.from_config(risk or RiskConfig(), allow_short=config.short)
        self.costs = CostModel.from_config(cost_cfg)
        self.fill_at_close = cost_cfg.fill == "close"
        ex = execution or ExecutionConfig()
        self.threshold = float(ex.rebalance_threshold)
        self.fractional = ex.fractional_shares
        self.invest = 1.0 - float(ex.cash_buffer)
        self.portfolio = Portfolio(market.symbols, initial_cash)
        self.risk = RiskState()
        self._sessions = [market.session(t) for t in range(market.n_bars)]
        self._limits = self.limits.as_array()
        self._costs = self.costs.as_array()
        self._slip = np.full(market.n_assets, self.costs.slippage)
        self._weights = np.zeros(market.n_assets)
        self._fills = np.zeros((market.n_assets, FILL_COLUMNS))
        self._flat_target = np.zeros(market.n_assets)
        self.t = self.first
        self.start = self.first

    # ------------------------------------------------------------------ gymnasium API

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        super().reset(seed=seed)
        self.portfolio.reset()
        if self.random_start:
            latest = self.last - self.episode_bars
            self.start = int(self.np_random.integers(self.first, latest + 1))
        else:
            self.start = self.first
        self.t = self.start
        self.risk = RiskState()
        self.risk.start(self.portfolio.equity, self._sessions[self.start])
        return self._observation(), {"equity": self.portfolio.equity}

    def execute(self, t: int, target: np.ndarray) -> tuple[float, float, int]:
        """Decide ``target`` at bar t's close, fill (at t+1's open, or t's close with ``fill:
        close``) and mark at t+1's close in one compiled call (the planner, the paper venue and the
        portfolio of the order path, fused), then feed the mark to the risk state. Returns
        (notional, fees, fills); the fills are the first rows of ``fills_buffer``."""
        if not 0 <= t < self.market.n_bars - 1:
            raise IndexError(f"decision bar {t} outside 0..{self.market.n_bars - 2} (fills need bar t+1)")
        m, p = self.market, self.portfolio
        ref = m.close[t] if self.fill_at_close else m.open[t + 1]
        p.cash, p.equity, p.peak, notional, fees, nf = fused_step(
            target,
            m.close[t],
            ref,
            m.close[t + 1],
            p.qty,
            p.avg_cost,
            p.cash,
            p.equity,
            p.peak,
            self.risk.status == "halted",
            self._limits,
            self._costs,
            self._slip,
            self.threshold,
            self.fractional,
            self.invest,
            self._weights,
            self._fills,
        )
        self.risk.on_mark(p.equity, p.drawdown, self._sessions[t + 1], self.limits)
        return notional, fees, nf

    @property
    def halted(self) -> bool:
        return self.risk.status == "halted"

    @property
    def killed(self) -> bool:
        """Halted for good: the drawdown kill switch, or no equity left (a daily-loss halt lifts)."""
        return self.risk.status == "halted" and self.risk.cause in ("drawdown", "equity")

    @property
    def fills_buffer(self) -> np.ndarray:
        return self._fills

    def step(self, action: Any) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        before = self.portfolio.equity
        notional, fees, _ = self.execute(self.t, self.actions(action))
        self.t += 1
        if self.killed and self.t < self.last:
            # the kill switch flattens at the next open: the episode's last reward includes that exit
            n2, f2, _ = self.execute(self.t, self._flat_target)
            notional, fees = n2, f2
            self.t += 1
        equity = self.portfolio.equity
        reward = math.log(max(equity, 1e-9 * self.portfolio.initial_cash) / before)
        cfg = self.config
        if cfg.turnover_penalty:
            reward -= cfg.turnover_penalty * notional / before
        if cfg.drawdown_penalty:
            reward += cfg.drawdown_penalty * self.portfolio.drawdown  # drawdown <= 0
        terminated = self.killed or equity <= 0.0
        truncated = not terminated and (self.t - self.start >= self.episode_bars or self.t >= self.last)
        info = {"equity": equity, "fees": fees, "notional": notional}
        return self._observation(), reward, terminated, truncated, info

    # ------------------------------------------------------------------ observation

    def _observation(self) -> dict[str, np.ndarray]:
        return self.observe(self.t)

    def observe(self, t: int) -> dict[str, np.ndarray]:
        """The observation at bar t: features up to t's close and the account at t's close."""
        return self.observations.observe(t, self.portfolio)

    @property
    def timestamp(self) -> Any:
        return self.market.timestamps[self.t]
