"""A trained run's folder as a policy: frozen pipeline + SB3 model, replayed step by step."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

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


def policy_decider(
    observations: ObservationBuilder, portfolio: Portfolio, actions: ActionMap, model: Any, recurrent: bool
) -> Decider:
    """Deterministic actions of ``model`` on the observations of ``portfolio`` at each bar, one bar
    at a time (one torch thread, so replays are bit-identical), mapped to target weights. For an
    LSTM the hidden state is carried along."""
    import torch as th  # only replays of trained policies need it (~1 s to import)

    th.set_num_threads(1)
    state: Any = None
    first = True

    def decide(t: int) -> np.ndarray:
        nonlocal state, first
        obs = observations.observe(t, portfolio)
        if recurrent:
            action, state = model.predict(
                obs, state=state, episode_start=np.array([first]), deterministic=True
            )
        else:
            action, _ = model.predict(obs, deterministic=True)
        first = False
        return actions(action)

    return decide
