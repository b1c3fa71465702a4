"""The gymnasium trading env both concrete envs share.

Timing (DESIGN.md §2): the observation at bar t holds features up to and including t's close; the
action chosen on it is sized at t's close, filled at t+1's open (+ slippage, fees) and the reward is
the log return of equity from t's close to t+1's close, minus the optional penalties
``turnover_penalty * traded notional / equity`` and ``drawdown_penalty * |drawdown|``. When the
drawdown kill switch fires the episode ends, after flattening at the next open (that exit's cost is
in the last reward).
Each ``step`` touches only preallocated numpy arrays and one compiled execution kernel.

Observation: ``{"features": (W, N*F) window or (N*F,) current row, "account": (N+3,)}``, the
account being each asset's weight, the cash weight, the unrealised PnL / equity and the drawdown.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from stockbot.config import CostConfig, EnvConfig, RiskConfig
from stockbot.envs.actions import ActionMap
from stockbot.envs.market import MarketData
from stockbot.errors import ConfigError
from stockbot.execution import CostModel, RiskLimits, Simulator


class TradingEnv(gym.Env[dict[str, np.ndarray], Any]):
    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012

    def __init__(
        self,
        market: MarketData,
        *,
        config: EnvConfig,
        costs: CostConfig | None = None,
        risk: RiskConfig | None = None,
        initial_cash: float = 100_000.0,
        bounds: tuple[int, int] | None = None,
        random_start: bool = True,
        episode_bars: int | None = None,
    ) -> None:
        super().__init__()
        self.market = market
        self.config = config
        self.window = config.window if config.observation == "window" else 1
        lo, hi = bounds if bounds is not None else (0, market.n_bars - 1)
        self.first = max(lo, self.window - 1)  # first bar with a full observation window
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
        n, f = market.n_assets, market.obs.shape[2]
        self._flat = market.obs.reshape(market.n_bars, n * f)
        feat_shape = (self.window, n * f) if config.observation == "window" else (n * f,)
        self.observation_space = spaces.Dict(
            {
                "features": spaces.Box(-np.inf, np.inf, shape=feat_shape, dtype=np.float32),
                "account": spaces.Box(-np.inf, np.inf, shape=(n + 3,), dtype=np.float32),
            }
        )
        cost_cfg = costs or CostConfig()
        self.sim = Simulator(
            market.open,
            market.close,
            initial_cash=initial_cash,
            costs=CostModel.from_config(cost_cfg),
            limits=RiskLimits.from_config(risk or RiskConfig(), allow_short=config.short),
            fractional=config.fractional_shares,
            fill_at_close=cost_cfg.fill == "close",
            rebalance_threshold=config.rebalance_threshold,
        )
        self._account = np.zeros(n + 3)
        self._flat_target = np.zeros(n)
        self.t = self.first
        self.start = self.first
        self._window_obs = config.observation == "window"

    # ------------------------------------------------------------------ gymnasium API

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        super().reset(seed=seed)
        self.sim.reset()
        if self.random_start:
            latest = self.last - self.episode_bars
            self.start = int(self.np_random.integers(self.first, latest + 1))
        else:
            self.start = self.first
        self.t = self.start
        return self._observation(), {"equity": self.sim.equity}

    def step(self, action: Any) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        before = self.sim.equity
        res = self.sim.step(self.t, self.actions(action))
        self.t += 1
        if res.killed and self.t < self.last:
            # the kill switch flattens at the next open: the episode's last reward includes that exit
            res = self.sim.step(self.t, self._flat_target)
            self.t += 1
        reward = math.log(max(res.equity, 1e-9 * self.sim.initial_cash) / before)
        cfg = self.config
        if cfg.turnover_penalty:
            reward -= cfg.turnover_penalty * res.notional / before
        if cfg.drawdown_penalty:
            reward += cfg.drawdown_penalty * self.sim.drawdown  # drawdown <= 0
        terminated = res.killed or res.equity <= 0.0
        truncated = not terminated and (self.t - self.start >= self.episode_bars or self.t >= self.last)
        info = {"equity": res.equity, "fees": res.fees, "notional": res.notional}
        return self._observation(), reward, terminated, truncated, info

    # ------------------------------------------------------------------ observation

    def _observation(self) -> dict[str, np.ndarray]:
        return self.observe(self.t)

    def observe(self, t: int) -> dict[str, np.ndarray]:
        """The observation at bar t: features up to t's close and the account at t's close."""
        feats = self._flat[t - self.window + 1 : t + 1] if self._window_obs else self._flat[t]
        account = self.sim.account(t, self._account)
        return {"features": feats, "account": account.astype(np.float32)}

    @property
    def timestamp(self) -> Any:
        return self.market.timestamps[self.t]
