"""Pydantic models of every job's parameters: YAML in, validated frozen config, YAML snapshot out.

Unknown keys are rejected with the valid names listed; every error message names the field path
(``data.symbols.1``) and what is allowed. Secrets never belong in a config: API keys and tokens come
from the environment or the hub's token service.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, ClassVar, Literal, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from stockbot.errors import ConfigError
from stockbot.safepath import path_text_problem


def _safe_path(p: Path) -> Path:
    problem = path_text_problem(str(p))
    if problem:
        raise ValueError(f"the path {problem}")
    return p


FilePath = Annotated[Path, AfterValidator(_safe_path)]
# sizes a config may ask for: beyond these a job is a mistake (or a way to exhaust the machine)
MAX_WINDOW = 1000
MAX_STEPS = 10**9
MAX_CASH = 1e12

ProviderName = Literal["sample", "csv", "parquet", "yfinance", "alpaca", "schwab"]
Interval = Literal["1d", "1h", "30m", "15m", "5m", "1m"]
SampleDataset = Literal["dow29", "spy", "wiki5"]
OnInvalid = Literal["error", "drop", "repair"]

M = TypeVar("M", bound=BaseModel)


def _numeric(annotation: Any) -> bool:
    """Is this a number field (int or float, optional or not)? ``bool`` is not a number here."""
    if annotation in (int, float):
        return True
    args = get_args(annotation)
    return get_origin(annotation) in (Union, UnionType) and any(_numeric(a) for a in args)


def _numeric_items(annotation: Any) -> bool:
    """Is this a tuple of numbers (``net_arch``, feature windows), optional or not?"""
    if get_origin(annotation) is tuple:
        return any(_numeric(a) for a in get_args(annotation) if a is not Ellipsis)
    if get_origin(annotation) in (Union, UnionType):
        return any(_numeric_items(a) for a in get_args(annotation))
    return False


class StrictModel(BaseModel):
    """Frozen, rejects unknown fields, non-finite numbers and ``true``/``false`` where a number is
    wanted (pydantic would take them as 1 and 0: ``n_envs: true`` is a mistake, not one env).
    Fields listed in ``_bool_switches`` take ``false`` as off and ``true`` as their default."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    _bool_switches: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_numbers(cls, v: Any, info: ValidationInfo) -> Any:
        name = info.field_name
        if name is None or name in cls._bool_switches:
            return v
        annotation = cls.model_fields[name].annotation
        if isinstance(v, bool) and _numeric(annotation):
            raise ValueError("must be a number, not true/false")
        if isinstance(v, list | tuple) and any(isinstance(x, bool) for x in v) and _numeric_items(annotation):
            raise ValueError("must be a list of numbers, not true/false")
        return v


class DataConfig(StrictModel):
    """Which bars to load.

    ``start`` is the first bar wanted (the first *decision* bar for jobs; warm-up history is loaded
    before it by the caller) and ``end`` is inclusive. ``symbols: null`` means every symbol of a file
    or sample dataset; network providers need an explicit list.
    """

    provider: ProviderName = "sample"
    dataset: SampleDataset | None = Field(default=None, description="sample provider only; defaults to dow29")
    path: FilePath | None = Field(default=None, description="csv/parquet provider: the file to read")
    symbols: tuple[str, ...] | None = ("AAPL", "MSFT")
    start: dt.date | None = None
    end: dt.date | None = None
    interval: Interval = "1d"
    on_invalid: OnInvalid = "error"
    calendar: str = Field(default="XNYS", description="exchange_calendars code for gap checks")
    adjust: bool = Field(
        default=True, description="trade and mark on total-return-adjusted OHLC when available"
    )
    cache: bool = Field(default=True, description="cache network providers' bars on disk")

    @field_validator("symbols")
    @classmethod
    def _symbols(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if v is None:
            return v
        if not v:
            raise ValueError("give at least one symbol, or null for every symbol of the source")
        cleaned = tuple(s.strip().upper() for s in v)
        for s in cleaned:
            if not s or not all(c.isalnum() or c in ".-^=" for c in s):
                raise ValueError(f"{s!r} is not a ticker symbol (letters, digits, '.', '-', '^', '=')")
        dupes = sorted({s for s in cleaned if cleaned.count(s) > 1})
        if dupes:
            raise ValueError(f"symbols listed twice: {', '.join(dupes)}")
        return cleaned

    @model_validator(mode="after")
    def _consistent(self) -> DataConfig:
        if self.start and self.end and self.end < self.start:
            raise ValueError(f"end ({self.end}) is before start ({self.start})")
        if self.provider in ("csv", "parquet") and self.path is None:
            raise ValueError(f"provider {self.provider!r} needs 'path' (the file to read)")
        if self.provider != "sample" and self.dataset is not None:
            raise ValueError("'dataset' is only for provider 'sample'")
        if self.provider not in ("csv", "parquet") and self.path is not None:
            raise ValueError("'path' is only for providers 'csv' and 'parquet'")
        return self


class SplitConfig(StrictModel):
    """Chronological split by dates (inclusive ends); test = the bars after ``val_end``."""

    train_end: dt.date
    val_end: dt.date

    @model_validator(mode="after")
    def _ordered(self) -> SplitConfig:
        if self.val_end <= self.train_end:
            raise ValueError(f"val_end ({self.val_end}) must be after train_end ({self.train_end})")
        return self


def _positive_windows(v: tuple[int, ...], name: str, minimum: int = 1) -> tuple[int, ...]:
    for w in v:
        if not minimum <= w <= MAX_WINDOW:
            raise ValueError(f"{name} windows must be from {minimum} to {MAX_WINDOW}, got {w}")
    if len(set(v)) != len(v):
        raise ValueError(f"{name} windows listed twice: {list(v)}")
    return tuple(v)


class MacdConfig(StrictModel):
    fast: int = Field(default=12, ge=2, le=MAX_WINDOW)
    slow: int = Field(default=26, ge=3, le=MAX_WINDOW)
    signal: int = Field(default=9, ge=2, le=MAX_WINDOW)

    @model_validator(mode="after")
    def _fast_lt_slow(self) -> MacdConfig:
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be shorter than slow ({self.slow})")
        return self


class StochConfig(StrictModel):
    window: int = Field(default=14, ge=2, le=MAX_WINDOW)
    smooth: int = Field(default=3, ge=1, le=MAX_WINDOW)


class FeatureConfig(StrictModel):
    """Which causal features to compute; ``null``/``false``/``[]`` switches one off.

    Output columns are named ``{feature}_{param}``; see :meth:`columns`.
    """

    returns: tuple[int, ...] = (1, 5, 20)
    simple_returns: tuple[int, ...] = ()
    rsi: int | None = Field(default=14, ge=2, le=MAX_WINDOW)
    sma: tuple[int, ...] = (10, 50)
    ema: tuple[int, ...] = ()
    macd: MacdConfig | None = MacdConfig()
    stoch: StochConfig | None = StochConfig()
    atr: int | None = Field(default=14, ge=2, le=MAX_WINDOW)
    volume_z: int | None = Field(default=20, ge=2, le=MAX_WINDOW)
    volatility: tuple[int, ...] = (20,)

    _bool_switches: ClassVar[frozenset[str]] = frozenset({"macd", "stoch", "rsi", "atr", "volume_z"})

    @field_validator("macd", "stoch", "rsi", "atr", "volume_z", mode="before")
    @classmethod
    def _bool_switch(cls, v: Any, info: ValidationInfo) -> Any:
        if v is True:  # on, with the default window
            default = cls.model_fields[info.field_name].default  # type: ignore[index]
            return {} if isinstance(default, BaseModel) else default
        if v is False:
            return None
        return v

    @field_validator("returns", "simple_returns")
    @classmethod
    def _horizons(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        return _positive_windows(v, "return")

    @field_validator("sma", "ema", "volatility")
    @classmethod
    def _windows(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        return _positive_windows(v, "moving-window", minimum=2)

    def columns(self) -> list[str]:
        """The feature columns this config produces, in output order."""
        cols = [f"ret_{h}" for h in self.returns]
        cols += [f"pct_{h}" for h in self.simple_returns]
        if self.rsi:
            cols.append(f"rsi_{self.rsi}")
        cols += [f"sma_ratio_{w}" for w in self.sma]
        cols += [f"ema_ratio_{w}" for w in self.ema]
        if self.macd:
            cols += ["macd", "macd_signal", "macd_hist"]
        if self.stoch:
            cols += [f"stoch_k_{self.stoch.window}", f"stoch_d_{self.stoch.window}"]
        if self.atr:
            cols += [f"atr_{self.atr}", f"atr_pct_{self.atr}"]
        if self.volume_z:
            cols.append(f"volume_z_{self.volume_z}")
        cols += [f"vol_{w}" for w in self.volatility]
        return cols

    def warmup_bars(self) -> int:
        """Leading bars per symbol that cannot carry every feature (dropped by compute_features)."""
        need = [0]
        need += list(self.returns) + list(self.simple_returns)
        if self.rsi:
            need.append(self.rsi)
        need += [w - 1 for w in self.sma]
        need += [w - 1 for w in self.ema]
        if self.macd:
            need.append(self.macd.slow + self.macd.signal - 2)
        if self.stoch:
            need.append(self.stoch.window + self.stoch.smooth - 2)
        if self.atr:
            need.append(self.atr - 1)
        if self.volume_z:
            need.append(self.volume_z - 1)
        need += list(self.volatility)  # std of 1-bar log returns: one bar lost to the return
        return max(need)

    def settle_bars(self) -> int:
        """Extra history loaded before a first decision so that recursive features (EMA, MACD,
        Wilder's RSI and ATR) have forgotten where the data began: 8 times the longest span, which
        leaves them within ~1e-7 of values computed from any earlier start."""
        spans = list(self.ema)
        if self.macd:
            spans += [self.macd.slow + self.macd.signal]
        spans += [w for w in (self.rsi, self.atr) if w]
        return 8 * max(spans) if spans else 0


class RegimeConfig(StrictModel):
    """Gaussian HMM market regimes, fitted on the training split only and frozen."""

    enabled: bool = False
    n_states: int = Field(default=3, ge=2, le=10)
    columns: tuple[str, ...] = ("ret_1", "vol_20")
    scope: Literal["market", "symbol"] = Field(
        default="market",
        description="market: one HMM on the cross-sectional mean of the columns; symbol: one each",
    )
    covariance_type: Literal["full", "diag", "spherical", "tied"] = "full"
    n_iter: int = Field(default=200, ge=1, le=100_000)
    tol: float = Field(default=1e-4, gt=0)
    seed: int = Field(default=0, ge=0, le=2**32 - 1, description="numpy seeds are 32-bit")
    order_by: str | None = Field(
        default=None,
        description="column whose state means order the states (default: first 'ret_' column)",
    )

    @model_validator(mode="after")
    def _order_by_known(self) -> RegimeConfig:
        if not self.columns:
            raise ValueError("regimes.columns needs at least one feature column")
        if self.order_by is not None and self.order_by not in self.columns:
            raise ValueError(f"order_by {self.order_by!r} must be one of columns {list(self.columns)}")
        return self

    def ordering_column(self) -> str:
        if self.order_by:
            return self.order_by
        return next((c for c in self.columns if c.startswith("ret_")), self.columns[0])


class HMMConfig(StrictModel):
    """An ``hmm_fit`` job (and ``make run``'s demo): data -> features -> regimes on the train split."""

    data: DataConfig = DataConfig()
    split: SplitConfig = SplitConfig(train_end=dt.date(2016, 6, 30), val_end=dt.date(2017, 3, 31))
    features: FeatureConfig = FeatureConfig()
    regimes: RegimeConfig = RegimeConfig(enabled=True)

    @field_validator("regimes", mode="before")
    @classmethod
    def _enabled_by_default(cls, v: Any) -> Any:
        # fitting regimes is the whole job: 'enabled' need not be spelled out
        if isinstance(v, dict) and "enabled" not in v:
            return {**v, "enabled": True}
        return v

    @model_validator(mode="after")
    def _columns_exist(self) -> HMMConfig:
        _check_regime_columns(self.features, self.regimes)
        return self


def _check_regime_columns(features: FeatureConfig, regimes: RegimeConfig) -> None:
    if not regimes.enabled:
        return
    known = features.columns()
    missing = [c for c in regimes.columns if c not in known]
    if missing:
        raise ValueError(f"regimes.columns {missing} are not produced by 'features'; available: {known}")


class CostConfig(StrictModel):
    """Trading costs. Defaults are not zero: 1 bp commission, 2 bps slippage.

    Fees are charged on traded notional (``commission_bps``), plus ``per_share`` per share, at least
    ``min_fee`` per order. Slippage moves the fill price against the trader. ``fill: next_open``
    (default) fills an order decided at bar t's close at bar t+1's open; ``fill: close`` fills at the
    close just seen, an optimistic assumption that reports label as such.
    """

    commission_bps: float = Field(default=1.0, ge=0, le=1000)
    slippage_bps: float = Field(default=2.0, ge=0, le=1000)
    per_share: float = Field(default=0.0, ge=0, le=100)
    min_fee: float = Field(default=0.0, ge=0, le=1e6)
    fill: Literal["next_open", "close"] = "next_open"


class ExecutionConfig(StrictModel):
    """How targets become orders, in the env, the backtest (baselines too) and live sessions alike;
    nothing here is about the agent.

    ``rebalance_threshold``: a weight change smaller than this is not traded. ``fractional_shares:
    false`` trades whole shares. ``order_type: limit`` places each order at ``limit_offset_bps`` from
    the reference price (the decision's close): a buy at reference * (1 - offset), a sell at
    reference * (1 + offset), so positive offsets wait for a better price and negative ones cross.
    ``twap_slices: N`` (> 1) splits each order into N child orders over the next N bars; a new
    decision cancels children still pending. ``min_order_notional``: orders worth less are not sent.
    ``cash_buffer``: the share of equity kept in cash when sizing (e.g. 0.02 at a broker that checks
    buying power above the market price).
    """

    rebalance_threshold: float = Field(default=0.0, ge=0, lt=1)
    fractional_shares: bool = True
    order_type: Literal["market", "limit"] = "market"
    limit_offset_bps: float = Field(default=5.0, ge=-1000, le=1000)
    twap_slices: int = Field(default=1, ge=1, le=100)
    min_order_notional: float = Field(default=0.0, ge=0, le=1e9)
    cash_buffer: float = Field(default=0.0, ge=0, lt=1)


# execution settings that EnvConfig held before they moved to ExecutionConfig
_MOVED_TO_EXECUTION = ("rebalance_threshold", "fractional_shares")


def _migrate_execution(raw: Any) -> Any:
    """A config written when ``env`` held the execution settings loads as today's: they move to
    ``execution`` (given in both places, they must agree)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("env"), dict):
        return raw
    moved = {k: raw["env"][k] for k in _MOVED_TO_EXECUTION if k in raw["env"]}
    if not moved:
        return raw
    out = dict(raw)
    out["env"] = {k: v for k, v in raw["env"].items() if k not in moved}
    execution = raw.get("execution")
    execution = dict(execution) if isinstance(execution, dict) else {}
    for k, v in moved.items():
        if k in execution and execution[k] != v:
            raise ValueError(
                f"env.{k} ({v!r}) and execution.{k} ({execution[k]!r}) disagree; {k} belongs in execution now"
            )
        execution[k] = v
    out["execution"] = execution
    return out


class RiskConfig(StrictModel):
    """Limits applied to every target in the env, the backtest and live trading alike.

    Weights are position value / equity. ``max_turnover`` caps sum |w_new - w_old| per decision;
    ``max_drawdown`` is the kill switch: once equity falls that far below its peak, positions are
    flattened and stay flat (an env episode ends). ``daily_loss_limit`` applies to live sessions.
    """

    max_gross_leverage: float = Field(default=1.0, gt=0, le=10)
    max_position_weight: float = Field(default=1.0, gt=0, le=10)
    max_turnover: float | None = Field(default=None, gt=0)
    max_drawdown: float | None = Field(default=None, gt=0, lt=1)
    daily_loss_limit: float | None = Field(default=None, gt=0, lt=1)


class EnvConfig(StrictModel):
    """How the policy sees the market and acts (see stockbot.envs).

    ``kind: single`` trades one symbol with ``action: discrete`` ({short, flat, long}; short only if
    ``short``) or ``continuous`` (target position in [-1, 1], or [0, 1] long-only). ``kind:
    portfolio`` trades N symbols + cash with ``action: weights`` (softmax over N+1 scores).
    ``observation: flat`` gives the current feature row, ``window`` the last ``window`` rows; both
    add the account state. ``episode_bars`` is the length of a training episode started at a random
    bar of the training split (null: the whole split).
    """

    kind: Literal["single", "portfolio"] = "portfolio"
    action: Literal["discrete", "continuous", "weights"] = "weights"
    observation: Literal["flat", "window"] = "window"
    window: int = Field(default=32, ge=1, le=512)
    reward: Literal["log_return"] = "log_return"
    turnover_penalty: float = Field(default=0.0, ge=0, le=100)
    drawdown_penalty: float = Field(default=0.0, ge=0, le=100)
    short: bool = False
    episode_bars: int | None = Field(default=252, ge=2, le=1_000_000)

    @model_validator(mode="after")
    def _action_fits_kind(self) -> EnvConfig:
        allowed = {"single": ("discrete", "continuous"), "portfolio": ("weights",)}[self.kind]
        if self.action not in allowed:
            raise ValueError(
                f"action {self.action!r} does not fit kind {self.kind!r}; use one of {list(allowed)}"
            )
        if self.kind == "portfolio" and self.short:
            raise ValueError("short: true needs kind: single (portfolio weights are long-only)")
        return self


class PPOConfig(StrictModel):
    """stable-baselines3 PPO. ``policy``: mlp, cnn (1-D conv over the window) or lstm (sb3-contrib
    RecurrentPPO). ``total_timesteps`` is an upper bound: early stopping may end sooner."""

    policy: Literal["mlp", "cnn", "lstm"] = "mlp"
    total_timesteps: int = Field(default=200_000, ge=1, le=MAX_STEPS)
    n_envs: int = Field(default=4, ge=1, le=64)
    vec_env: Literal["dummy", "subproc"] = "dummy"
    seed: int = Field(default=0, ge=0, le=2**32 - 1, description="numpy seeds are 32-bit")
    learning_rate: float = Field(default=3e-4, gt=0, lt=1)
    n_steps: int = Field(default=512, ge=2, le=1_000_000)
    batch_size: int = Field(default=256, ge=2, le=1_000_000)
    n_epochs: int = Field(default=10, ge=1, le=1000)
    gamma: float = Field(default=0.99, gt=0, le=1)
    gae_lambda: float = Field(default=0.95, gt=0, le=1)
    clip_range: float = Field(default=0.2, gt=0, lt=1)
    ent_coef: float = Field(default=0.0, ge=0, le=1)
    net_arch: tuple[int, ...] = (64, 64)
    lstm_hidden_size: int = Field(default=64, ge=1, le=4096)
    cnn_channels: tuple[int, ...] = (32, 32)
    cnn_kernel: int = Field(default=3, ge=1, le=64)
    torch_threads: int = Field(default=1, ge=1, le=64)

    @field_validator("net_arch", "cnn_channels")
    @classmethod
    def _layers(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if not 1 <= len(v) <= 8:
            raise ValueError(f"give 1 to 8 layer sizes, got {len(v)}")
        for size in v:
            if not 1 <= size <= 4096:
                raise ValueError(f"layer sizes must be from 1 to 4096, got {size}")
        return v


class EvalConfig(StrictModel):
    """Evaluation on the validation split during training: best-model checkpoint and early stop
    after ``patience`` evaluations without improvement (``null``: never stop early)."""

    every_steps: int = Field(default=10_000, ge=1, le=MAX_STEPS)
    patience: int | None = Field(default=5, ge=1, le=1_000_000)
    min_evals: int = Field(default=2, ge=0, le=1_000_000)
    checkpoint_every: int | None = Field(default=None, ge=1, le=MAX_STEPS)


class TrainConfig(StrictModel):
    """A ``train`` job: data -> features (+ regimes) -> env -> PPO, then a backtest on the test split."""

    data: DataConfig = DataConfig()
    split: SplitConfig = SplitConfig(train_end=dt.date(2016, 6, 30), val_end=dt.date(2017, 3, 31))
    features: FeatureConfig = FeatureConfig()
    regimes: RegimeConfig = RegimeConfig()
    env: EnvConfig = EnvConfig()
    costs: CostConfig = CostConfig()
    risk: RiskConfig = RiskConfig()
    execution: ExecutionConfig = ExecutionConfig()
    ppo: PPOConfig = PPOConfig()
    eval: EvalConfig = EvalConfig()
    initial_cash: float = Field(default=100_000.0, ge=1, le=MAX_CASH, description="money, 1 to 1e12")

    @model_validator(mode="before")
    @classmethod
    def _migrate(cls, raw: Any) -> Any:
        return _migrate_execution(raw)

    def warmup_bars(self) -> int:
        """Bars to load before the first decision (``data.start``): the features' warm-up, the
        history recursive features need to settle, and the observation window before it."""
        window = self.env.window if self.env.observation == "window" else 1
        return self.features.warmup_bars() + self.features.settle_bars() + window - 1

    @model_validator(mode="after")
    def _consistent(self) -> TrainConfig:
        _check_regime_columns(self.features, self.regimes)
        symbols = self.data.symbols
        if self.env.kind == "single" and (symbols is None or len(symbols) != 1):
            raise ValueError("env.kind 'single' needs exactly one symbol in data.symbols")
        if self.ppo.policy in ("cnn",) and self.env.observation != "window":
            raise ValueError("ppo.policy 'cnn' convolves over a window: set env.observation: window")
        if self.data.start and self.data.start > self.split.train_end:
            raise ValueError(f"data.start ({self.data.start}) is after split.train_end")
        if self.data.end and self.data.end <= self.split.val_end:
            raise ValueError(f"data.end ({self.data.end}) leaves no test bars after split.val_end")
        return self


class PolicyConfig(StrictModel):
    """What a backtest runs: a trained run (``run_id`` or ``path``) or a baseline."""

    type: Literal["run", "buy_and_hold", "equal_weight", "cash", "weights_csv"] = "buy_and_hold"
    run_id: str | None = None
    path: FilePath | None = None
    rebalance: int = Field(default=21, ge=1, description="equal_weight: bars between rebalances")
    which: Literal["best", "last"] = Field(default="best", description="run: policy.zip or last.zip")

    @model_validator(mode="after")
    def _needs(self) -> PolicyConfig:
        if self.type == "run" and not (self.run_id or self.path):
            raise ValueError("policy type 'run' needs run_id or path (the trained run's folder)")
        if self.run_id and self.path:
            raise ValueError("give the trained run as run_id or as path, not both")
        if self.type == "weights_csv" and self.path is None:
            raise ValueError("policy type 'weights_csv' needs path (timestamp, symbol, weight)")
        if self.type not in ("run", "weights_csv") and (self.run_id or self.path):
            raise ValueError(f"policy type {self.type!r} takes no run_id or path")
        return self


class ModelRef(StrictModel):
    """A finished run this job builds on: its id in the store, or its folder."""

    run_id: str | None = None
    path: FilePath | None = None

    @model_validator(mode="after")
    def _one(self) -> ModelRef:
        if (self.run_id is None) == (self.path is None):
            raise ValueError("give exactly one of run_id or path")
        return self


class HMMInferConfig(StrictModel):
    """An ``hmm_infer`` job: apply a fitted (frozen) HMM to other bars; never refits."""

    data: DataConfig = DataConfig(start=dt.date(2017, 4, 3), end=dt.date(2017, 12, 6))
    model: ModelRef


class BacktestConfig(StrictModel):
    """A ``backtest`` job. For a trained run, features, regimes, env and normalisation come from the
    run's folder (never refit) and omitted ``costs``/``risk``/``execution`` come from the run too
    (baselines use the defaults)."""

    data: DataConfig = DataConfig(start=dt.date(2017, 4, 3), end=dt.date(2017, 12, 6))
    policy: PolicyConfig = PolicyConfig()
    costs: CostConfig | None = None
    risk: RiskConfig | None = None
    execution: ExecutionConfig | None = None
    initial_cash: float = Field(default=100_000.0, ge=1, le=MAX_CASH, description="money, 1 to 1e12")
    rf: float = Field(default=0.0, ge=-1, lt=1, description="annual risk-free rate for Sharpe/Sortino")
    periods_per_year: int = Field(default=252, ge=1, le=1_000_000)


class ClockConfig(StrictModel):
    """When a live session's bars close. ``replay``: historical bars from ``start`` to ``end`` as if
    they closed one after another, ``speed`` bars per second (0 = no waiting). ``market``: real bars
    on the exchange ``calendar``, each decided ``data_lag_minutes`` after its session's close."""

    kind: Literal["replay", "market"] = "replay"
    start: dt.date | None = Field(default=None, description="replay: first decision bar (data.start)")
    end: dt.date | None = Field(default=None, description="replay: last bar (data.end)")
    speed: float = Field(default=0.0, ge=0, le=10_000, description="replay: bars per second, 0 = no wait")
    calendar: str = "XNYS"
    data_lag_minutes: float = Field(default=15.0, ge=0, le=24 * 60)
    stale_after_minutes: float = Field(
        default=60.0, gt=0, le=24 * 60, description="market: how long past decide time to wait for a bar"
    )
    poll_seconds: float = Field(default=30.0, gt=0, le=3600)

    @model_validator(mode="after")
    def _order(self) -> ClockConfig:
        if self.start and self.end and self.end <= self.start:
            raise ValueError(f"clock.end ({self.end}) must be after clock.start ({self.start})")
        if self.kind == "market" and (self.start or self.end):
            raise ValueError("clock.start and clock.end are for replay; a market clock runs from now")
        return self


REAL_MONEY = "REAL MONEY"  # what a person types to start a session on a live account


class LiveConfig(StrictModel):
    """A live session of a trained run. Omitted ``data``, ``costs``, ``risk``, ``execution`` and
    ``initial_cash`` come from the trained run.

    ``broker``: ``paper`` (simulated here), ``alpaca`` or ``schwab`` (the owner's connected
    account). ``account``: Alpaca's ``paper`` or ``live`` endpoint; Schwab has no paper mode, so a
    Schwab session is always ``live``. A session on a live account trades real money: ``confirm``
    must be the typed words ``REAL MONEY``."""

    name: str | None = Field(default=None, max_length=80)
    policy: ModelRef
    which: Literal["best", "last"] = Field(default="best", description="policy.zip or last.zip")
    broker: Literal["paper", "alpaca", "schwab"] = Field(
        default="paper", description="paper (simulated), or your connected alpaca or schwab account"
    )
    account: Literal["paper", "live"] = Field(
        default="paper", description="alpaca: its paper (default) or live endpoint; schwab: live only"
    )
    confirm: str | None = Field(
        default=None, max_length=40, description=f"type {REAL_MONEY} to trade a live account"
    )
    feed: str | None = Field(default=None, max_length=40, description="the data feed's name, e.g. iex")
    data: DataConfig | None = None
    clock: ClockConfig = ClockConfig()
    costs: CostConfig | None = None
    risk: RiskConfig | None = None
    execution: ExecutionConfig | None = None
    initial_cash: float | None = Field(default=None, ge=1, le=MAX_CASH, description="paper money")
    max_price_move: float | None = Field(
        default=0.5, gt=0, le=100, description="hold a symbol whose close moved more than this from the last"
    )

    @model_validator(mode="after")
    def _paper_fills(self) -> LiveConfig:
        if self.costs is not None and self.costs.fill == "close":
            raise ValueError(
                "costs.fill 'close' fills at the close just seen, which no broker can; use next_open"
            )
        return self

    @model_validator(mode="before")
    @classmethod
    def _default_account(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and raw.get("account") is None:
            broker = raw.get("broker", "paper")
            raw = {**raw, "account": "live" if broker == "schwab" else "paper"}
        return raw

    @model_validator(mode="after")
    def _account(self) -> LiveConfig:
        if self.broker == "paper" and self.account != "paper":
            raise ValueError("account: the paper broker has no live account; choose alpaca or schwab")
        if self.broker == "schwab" and self.account != "live":
            raise ValueError(
                "account: schwab has no paper mode (use broker: paper with the schwab data provider)"
            )
        if self.real_money and self.confirm != REAL_MONEY:
            raise ValueError(
                f"confirm: a {self.broker} session on a live account trades real money: type {REAL_MONEY}"
            )
        return self

    @property
    def real_money(self) -> bool:
        return self.account == "live"


# --------------------------------------------------------------------------- loading and saving


def _model_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The sub-model class that owns the field at ``loc`` (for listing valid names)."""
    current: type[BaseModel] = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = current.model_fields.get(str(part))
        if field is None:
            return None
        nested = _first_model(field.annotation)
        if nested is None:
            return None
        current = nested
    return current


def _first_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _first_model(arg)
        if found is not None:
            return found
    return None


_NAMED = re.compile(r"([a-z_][a-z0-9_.]*): (.+)", re.DOTALL)


def validation_problems(model: type[BaseModel], err: ValidationError) -> list[dict[str, str | None]]:
    """Each problem of a pydantic error as ``{"field": "a.b", "message": ...}``."""
    problems: list[dict[str, str | None]] = []
    for e in err.errors():
        loc = tuple(e["loc"])
        where = ".".join(str(p) for p in loc) or None
        if e["type"] == "extra_forbidden":
            owner = _model_at(model, loc)
            valid = sorted(owner.model_fields) if owner else []
            message = f"unknown key; valid keys here: {', '.join(valid)}"
        else:
            given = e.get("input")
            shown = "" if isinstance(given, dict) else f" (got {given!r})"
            message = e["msg"].removeprefix("Value error, ") + shown
            if where is None:  # a whole-model check names the field it is about as "field: why"
                named = _NAMED.match(message)
                if named and named[1].split(".")[0] in model.model_fields:
                    where, message = named[1], named[2]
        problems.append({"field": where, "message": message})
    return problems


def format_validation_error(model: type[BaseModel], err: ValidationError) -> str:
    """A person-readable, one-line-per-problem rendering of a pydantic error."""
    lines = [f"{p['field'] or '(top level)'}: {p['message']}" for p in validation_problems(model, err)]
    return f"invalid {model.__name__}:\n  " + "\n  ".join(lines)


def validate_config(model: type[M], raw: dict[str, Any]) -> M:
    """Validate a plain dict into ``model``, raising :class:`ConfigError` with readable messages."""
    if not isinstance(raw, dict):
        raise ConfigError(f"a {model.__name__} must be a mapping of keys, got {type(raw).__name__}")
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(format_validation_error(model, e), validation_problems(model, e)) from e


def apply_overrides(raw: dict[str, Any], overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Apply ``key.path=value`` overrides (values parsed as YAML) to a copy of ``raw``."""
    out = json.loads(json.dumps(raw, default=str))
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r} must look like key.path=value")
        parts = key.strip().split(".")
        node = out
        for p in parts[:-1]:
            child = node.setdefault(p, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override {item!r}: {p!r} is not a section")
            node = child
        try:
            node[parts[-1]] = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError as e:
            raise ConfigError(f"override {item!r}: value is not valid YAML ({e})") from e
    return out


def read_yaml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        raw = yaml.safe_load(p.read_text()) or {}
    except FileNotFoundError as e:
        raise ConfigError(f"config file not found: {p}") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"{p} is not valid YAML: {e}") from e
    if not isinstance(raw, dict):
        raise ConfigError(f"{p} must hold a mapping of keys at the top level")
    return raw


def load_config(
    model: type[M], path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()
) -> M:
    """Read YAML (or start empty), apply ``--set`` overrides, then validate."""
    raw = read_yaml(path) if path is not None else {}
    return validate_config(model, apply_overrides(raw, overrides))


def to_plain(config: BaseModel) -> dict[str, Any]:
    """The config as plain YAML/JSON-safe data (dates as ISO strings)."""
    return config.model_dump(mode="json")


def dump_config(config: BaseModel) -> str:
    """The YAML snapshot written into a run directory."""
    return yaml.safe_dump(to_plain(config), sort_keys=False)


def config_hash(config: BaseModel) -> str:
    """Stable hash of a validated config (key order and YAML formatting do not matter)."""
    canonical = json.dumps(to_plain(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


__all__ = [
    "BacktestConfig",
    "CostConfig",
    "DataConfig",
    "EnvConfig",
    "EvalConfig",
    "ExecutionConfig",
    "FeatureConfig",
    "HMMConfig",
    "HMMInferConfig",
    "LiveConfig",
    "MacdConfig",
    "ModelRef",
    "PPOConfig",
    "PolicyConfig",
    "RegimeConfig",
    "RiskConfig",
    "SplitConfig",
    "StochConfig",
    "TrainConfig",
    "apply_overrides",
    "config_hash",
    "dump_config",
    "load_config",
    "validate_config",
]
