"""State of ``/training/new``: a ``train`` job's form, in four steps, built from ``TrainConfig``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from dashboards.state.form import FormState, Section, Step
from dashboards.state.schema import FieldSpec, field_spec
from stockbot.config import TrainConfig

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
# the actions each env kind accepts (EnvConfig's rule), first = the one switched to
ENV_ACTIONS = {"single": ("discrete", "continuous"), "portfolio": ("weights",)}


def build_layout(model: type[BaseModel], defaults: BaseModel, layout: Layout) -> tuple[Step, ...]:
    """Steps of :class:`FieldSpec` from a (step, sections) layout of field names."""
    return tuple(
        Step(
            title,
            tuple(
                Section(
                    heading,
                    key,
                    tuple(field_spec(model, f"{key}.{name}" if key else name, defaults) for name in names),
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

    def build_steps(self) -> tuple[Step, ...]:
        return build_layout(TrainConfig, DEFAULTS, LAYOUT)

    def active(self, spec: FieldSpec) -> bool:
        if spec.path.startswith("regimes.") and spec.path != "regimes.enabled":
            return bool(self.values.get("regimes.enabled"))
        return data_field_active(spec.path, self.values)

    def _adjust(self, path: str, value: Any, values: dict[str, Any]) -> dict[str, Any]:
        if path == "env.kind" and value in ENV_ACTIONS and values.get("env.action") not in ENV_ACTIONS[value]:
            values["env.action"] = ENV_ACTIONS[value][0]
        return values
