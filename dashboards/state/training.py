"""State of ``/training/new``: a ``train`` job's form, in four steps, built from ``TrainConfig``."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import param
from pydantic import BaseModel
from pymongo.errors import PyMongoError

from dashboards.format import count
from dashboards.state.coverage import DEFAULT_DATASET
from dashboards.state.form import FormState, Note, Section, Step
from dashboards.state.schema import FieldSpec, field_spec
from stockbot.config import PPOConfig, TrainConfig, validate_config
from stockbot.errors import ConfigError, StockBotError
from stockbot.jobs.estimate import Estimate, Rate, default_rate, estimate_seconds, training_rate

log = logging.getLogger(__name__)

DEFAULTS = TrainConfig()

# (step title, ((section title, section key, field names), ...)); "" is the top level of the config
Layout = tuple[tuple[str, tuple[tuple[str, str, tuple[str, ...]], ...]], ...]
LAYOUT: Layout = (
    (
        "Data",
        (
            ("Data", "data", ("provider", "dataset", "path", "symbols", "start", "end", "interval")),
            ("Split (test = the bars after val_end)", "split", ("train_end", "val_end")),
        ),
    ),
    (
        "Features",
        (
            (
                "Features",
                "features",
                ("returns", "rsi", "sma", "ema", "macd", "stoch", "atr", "volume_z", "volatility"),
            ),
            (
                "Regimes (HMM, fitted on the train split)",
                "regimes",
                ("enabled", "n_states", "columns", "scope"),
            ),
        ),
    ),
    (
        "Environment",
        (
            (
                "Environment",
                "env",
                (
                    "kind",
                    "action",
                    "observation",
                    "window",
                    "turnover_penalty",
                    "drawdown_penalty",
                    "short",
                    "episode_bars",
                ),
            ),
            ("Costs", "costs", ("commission_bps", "slippage_bps", "per_share", "min_fee", "fill")),
            (
                "Risk",
                "risk",
                ("max_gross_leverage", "max_position_weight", "max_turnover", "max_drawdown"),
            ),
        ),
    ),
    (
        "Training",
        (
            (
                "PPO",
                "ppo",
                (
                    "policy",
                    "total_timesteps",
                    "n_envs",
                    "seed",
                    "learning_rate",
                    "n_steps",
                    "batch_size",
                    "n_epochs",
                    "net_arch",
                ),
            ),
            ("Evaluation and early stop", "eval", ("every_steps", "patience")),
            ("Account", "", ("initial_cash",)),
        ),
    ),
)

FILE_PROVIDERS = ("csv", "parquet")
LONG_SECONDS = 600  # a training expected to take longer is shown as a warning beside Submit
# the actions each env kind accepts (EnvConfig's rule), first = the one switched to
ENV_ACTIONS = {"single": ("discrete", "continuous"), "portfolio": ("weights",)}


def _form_spec(model: type[BaseModel], path: str, defaults: BaseModel) -> FieldSpec:
    spec = field_spec(model, path, defaults)
    if path == "data.dataset":
        # the config's null means dow29; a selector showing "—" hid which data the form was using
        return replace(spec, default=spec.default or DEFAULT_DATASET, nullable=False)
    return spec


def build_layout(model: type[BaseModel], defaults: BaseModel, layout: Layout) -> tuple[Step, ...]:
    """Steps of :class:`FieldSpec` from a (step, sections) layout of field names."""
    return tuple(
        Step(
            title,
            tuple(
                Section(
                    heading,
                    key,
                    tuple(_form_spec(model, f"{key}.{name}" if key else name, defaults) for name in names),
                )
                for heading, key, names in sections
            ),
        )
        for title, sections in layout
    )


def data_field_active(path: str, values: dict[str, Any]) -> bool:
    """``data.dataset`` applies to the sample provider, ``data.path`` to file providers."""
    provider = values.get("data.provider")
    if path == "data.dataset":
        return provider == "sample"
    if path == "data.path":
        return provider in FILE_PROVIDERS
    return True


class TrainingFormState(FormState):
    job_kind = "train"
    note_params = ("coverage", "estimate")

    estimate = param.ClassSelector(
        class_=Estimate,
        default=None,
        allow_None=True,
        doc="the expected duration (None: no valid budget)",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._rates: dict[str, Rate] = {}  # per policy type, looked up once per page
        super().__init__(*args, **kwargs)

    def build_steps(self) -> tuple[Step, ...]:
        return build_layout(TrainConfig, DEFAULTS, LAYOUT)

    # ------------------------------------------------------------------ the expected duration

    def _refresh(self) -> None:
        super()._refresh()
        estimate = self._estimate()
        if estimate != self.estimate:
            self.estimate = estimate

    def _rate(self, policy: str) -> Rate:
        if policy not in self._rates:
            try:
                self._rates[policy] = training_rate(self.store, policy)
            except (StockBotError, PyMongoError, OSError) as e:  # the store is down: still say something
                log.warning("no training history for the estimate: %s", e)
                self._rates[policy] = default_rate(policy)
        return self._rates[policy]

    def _estimate(self) -> Estimate | None:
        """From the ``ppo`` fields alone, so a problem elsewhere in the form does not hide it."""
        try:
            ppo = validate_config(PPOConfig, self.raw().get("ppo", {}))
        except ConfigError:
            return None
        return estimate_seconds(ppo, self.store, self._rate(ppo.policy))

    def budget_text(self) -> str:
        """``200,000 timesteps ≈ 4 min on this machine (measured default)``; "" without a budget."""
        est = self.estimate
        if est is None:
            return ""
        return f"{count(est.timesteps)} timesteps {est.text} ({est.basis}; early stopping may end it sooner)"

    def field_note(self, path: str) -> Note | None:
        if path == "ppo.total_timesteps" and self.estimate is not None:
            return Note(f"{self.estimate.text} ({self.estimate.basis})", "stockbot-budget-estimate")
        return super().field_note(path)

    def notices(self) -> list[Note]:
        text = self.budget_text()
        if not text:
            return []
        long = self.estimate is not None and self.estimate.seconds > LONG_SECONDS
        return [Note(f"Budget: {text}", "stockbot-estimate", "warning" if long else "info")]

    def active(self, spec: FieldSpec) -> bool:
        if spec.path.startswith("regimes.") and spec.path != "regimes.enabled":
            return bool(self.values.get("regimes.enabled"))
        return data_field_active(spec.path, self.values)

    def _adjust(self, path: str, value: Any, values: dict[str, Any]) -> dict[str, Any]:
        if path == "env.kind" and value in ENV_ACTIONS and values.get("env.action") not in ENV_ACTIONS[value]:
            values["env.action"] = ENV_ACTIONS[value][0]
        return values
