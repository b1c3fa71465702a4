"""A trained run's folder as a policy: frozen pipeline + SB3 model, replayed step by step."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces

from stockbot.backtest.engine import Decider
from stockbot.config import TrainConfig, load_config
from stockbot.envs.actions import ActionMap
from stockbot.envs.observation import ObservationBuilder
from stockbot.errors import ConfigError
from stockbot.execution import Portfolio
from stockbot.pipeline import ObservationPipeline

POLICY_FILES = {"best": "policy.zip", "last": "last.zip"}


@dataclass
class TrainedRun:
    path: Path
    config: TrainConfig
    pipeline: ObservationPipeline
    model: Any  # stable_baselines3 PPO or sb3_contrib RecurrentPPO

    @property
    def recurrent(self) -> bool:
        return self.config.ppo.policy == "lstm"


def load_model(path: Path, recurrent: bool) -> Any:
    if recurrent:
        from sb3_contrib import RecurrentPPO

        return RecurrentPPO.load(path, device="cpu")
    from stable_baselines3 import PPO

    return PPO.load(path, device="cpu")


def load_trained(run_dir: str | Path, which: str = "best") -> TrainedRun:
    """Load ``config.yaml``, ``obsnorm.json`` (+ ``hmm.json``) and the policy of a train run."""
    d = Path(run_dir)
    if not (d / "config.yaml").is_file():
        raise ConfigError(f"{d} is not a train run folder (no config.yaml)")
    config = load_config(TrainConfig, d / "config.yaml")
    pipeline = ObservationPipeline.load(d, config.features)
    policy = d / POLICY_FILES[which]
    if not policy.is_file():
        raise ConfigError(f"{policy} is missing: the run did not finish training")
    return TrainedRun(d, config, pipeline, load_model(policy, config.ppo.policy == "lstm"))


@dataclass(frozen=True, slots=True)
class Signal:
    """One decision of a policy: its raw action, the target weights it maps to (all NaN: hold
    every position) and, when it holds because the output was unusable, why."""

    action: np.ndarray
    target: np.ndarray
    held: str | None = None


class PolicySignal:
    """Deterministic actions of ``model`` (one torch thread, so replays are bit-identical) mapped
    to target weights, the same in a backtest and a live session. An output that is not finite or
    outside the action space never becomes an order: the decision holds, with the reason. For an
    LSTM the hidden state is carried from decision to decision (:meth:`snapshot` and
    :meth:`restore` save it with each decision of a live session)."""

    def __init__(self, model: Any, actions: ActionMap, recurrent: bool) -> None:
        import torch as th  # only replays of trained policies need it (~1 s to import)

        th.set_num_threads(1)
        self.model = model
        self.actions = actions
        self.recurrent = recurrent
        self.state: Any = None
        self.first = True
        self._hold = np.full(actions.n_assets, np.nan)

    def __call__(self, obs: dict[str, np.ndarray]) -> Signal:
        if self.recurrent:
            action, self.state = self.model.predict(
                obs, state=self.state, episode_start=np.array([self.first]), deterministic=True
            )
        else:
            action, _ = self.model.predict(obs, deterministic=True)
        self.first = False
        action = np.asarray(action)
        problem = self._problem(action)
        if problem:
            return Signal(action, self._hold, problem)
        return Signal(action, self.actions(action))

    def _problem(self, action: np.ndarray) -> str | None:
        space = self.actions.space
        if not np.issubdtype(action.dtype, np.number) or not np.all(np.isfinite(action)):
            return f"policy output {action.tolist()} is not finite"
        if isinstance(space, spaces.Discrete):
            a = action.reshape(-1)
            if a.size != 1 or a[0] != int(a[0]) or not 0 <= int(a[0]) < space.n:
                return f"policy output {action.tolist()} is not one of 0..{space.n - 1}"
            return None
        box = space  # a Box
        if action.size != int(np.prod(box.shape)):
            return f"policy output has {action.size} values; the action space has {box.shape}"
        a = action.reshape(box.shape)
        if np.any(a < box.low - 1e-6) or np.any(a > box.high + 1e-6):
            return f"policy output {action.tolist()} is outside [{box.low.min()}, {box.high.max()}]"
        return None

    def snapshot(self) -> dict[str, Any]:
        state = None if self.state is None else [np.asarray(x).tolist() for x in self.state]
        return {"first": self.first, "state": state}

    def restore(self, data: dict[str, Any]) -> None:
        self.first = bool(data["first"])
        st = data["state"]
        self.state = None if st is None else tuple(np.asarray(x, dtype=np.float32) for x in st)


def policy_decider(
    observations: ObservationBuilder, portfolio: Portfolio, actions: ActionMap, model: Any, recurrent: bool
) -> Decider:
    """The policy's target weights at each bar, on the observations of ``portfolio``."""
    signal = PolicySignal(model, actions, recurrent)
    return lambda t: signal(observations.observe(t, portfolio)).target
