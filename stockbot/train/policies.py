"""Policy networks: MLP and LSTM use SB3's own multi-input policies; CNN is a 1-D convolution over
the observation window (a features extractor), joined with the account state."""

from __future__ import annotations

from typing import Any

import torch as th
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from stockbot.config import PPOConfig


class WindowCNN(BaseFeaturesExtractor):
    """Conv1d over time on ``features`` (W, C) -> flattened maps, concatenated with ``account``."""

    def __init__(
        self, observation_space: spaces.Dict, channels: tuple[int, ...] = (32, 32), kernel: int = 3
    ) -> None:
        window, n_inputs = observation_space["features"].shape
        account_dim = observation_space["account"].shape[0]
        layers: list[nn.Module] = []
        in_ch = n_inputs
        for ch in channels:
            layers += [nn.Conv1d(in_ch, ch, kernel, padding=kernel // 2), nn.ReLU()]
            in_ch = ch
        conv = nn.Sequential(*layers, nn.Flatten())
        with th.no_grad():
            n_flat = conv(th.zeros(1, n_inputs, window)).shape[1]
        super().__init__(observation_space, features_dim=n_flat + account_dim)
        self.conv = conv

    def forward(self, observations: dict[str, th.Tensor]) -> th.Tensor:
        x = observations["features"].transpose(1, 2)  # (B, W, C) -> (B, C, W)
        return th.cat([self.conv(x), observations["account"]], dim=1)


def policy_spec(cfg: PPOConfig) -> tuple[str, dict[str, Any]]:
    """The SB3 policy name and ``policy_kwargs`` for ``ppo.policy``."""
    arch = list(cfg.net_arch)
    kwargs: dict[str, Any] = {"net_arch": {"pi": arch, "vf": arch}}
    if cfg.policy == "cnn":
        kwargs["features_extractor_class"] = WindowCNN
        kwargs["features_extractor_kwargs"] = {"channels": cfg.cnn_channels, "kernel": cfg.cnn_kernel}
        return "MultiInputPolicy", kwargs
    if cfg.policy == "lstm":
        kwargs["lstm_hidden_size"] = cfg.lstm_hidden_size
        return "MultiInputLstmPolicy", kwargs
    return "MultiInputPolicy", kwargs
