"""PPO training (stable-baselines3 / sb3-contrib) with validation, early stop and checkpoints."""

from stockbot.train.trainer import TrainResult, train

__all__ = ["TrainResult", "train"]
