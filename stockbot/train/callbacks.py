"""Training callbacks: progress lines for the job runner, validation with eval.csv and early stop."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback, EvalCallback

from stockbot.progress import progress_line

__all__ = ["ProgressCallback", "ValidationCallback", "progress_line"]


class ProgressCallback(BaseCallback):
    """Prints ``STOCKBOT_PROGRESS {"step", "total", "message"}`` after every rollout (stdout, so
    Papermill's ``--log-output`` streams it to the job supervisor)."""

    def __init__(self, total: int) -> None:
        super().__init__()
        self.total = total

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        print(progress_line(self.num_timesteps, self.total, "training"), flush=True)

    def _on_training_end(self) -> None:
        print(progress_line(self.num_timesteps, self.total, "training finished"), flush=True)


class ValidationCallback(EvalCallback):
    """SB3's ``EvalCallback`` (best model saved, stop-on-no-improvement after it) that also appends
    each evaluation to ``eval.csv``: timesteps, the validation episode's summed reward, its total
    return (exp of the summed log-return reward, when no penalties are configured) and the best so far."""

    def __init__(self, *args: Any, csv_path: Path, total: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.csv_path = Path(csv_path)
        self.total = total
        self.n_evaluations = 0
        with self.csv_path.open("w", newline="") as fh:
            csv.writer(fh).writerow(["timesteps", "val_reward", "val_return", "best_val_reward"])

    def _on_step(self) -> bool:
        evaluating = self.eval_freq > 0 and self.n_calls % self.eval_freq == 0
        keep_going = super()._on_step()
        if evaluating:
            self.n_evaluations += 1
            reward = self.last_mean_reward
            with self.csv_path.open("a", newline="") as fh:
                csv.writer(fh).writerow(
                    [self.num_timesteps, reward, math.expm1(reward), self.best_mean_reward]
                )
            msg = f"validation reward {reward:.4f} (best {self.best_mean_reward:.4f})"
            print(progress_line(self.num_timesteps, self.total, msg), flush=True)
        return keep_going
