"""Training curves of a train run from its own files: ``eval.csv`` (one row per validation) and the
TensorBoard event files SB3 writes under ``tb/`` (``rollout/ep_rew_mean``, ``train/loss``, ...).

Pure readers (no Panel). A training run's event files grow while it runs, so each file is read again
whenever its (mtime, size) changes; finished runs are served from the cache.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pandas as pd

from dashboards.state.files import read_csv
from stockbot.jobs import run_dir

log = logging.getLogger(__name__)

EVAL_FILE = "eval.csv"
TB_DIR = "tb"
EVAL_COLUMNS = ("timesteps", "val_reward", "val_return", "best_val_reward")
SCALAR_COLUMNS = ("tag", "step", "value")

# the SB3 logger keys the page charts, grouped as the charts show them
EPISODE_TAGS = ("rollout/ep_rew_mean",)
LOSS_TAGS = ("train/loss", "train/value_loss", "train/policy_gradient_loss")
ENTROPY_TAGS = ("train/entropy_loss",)
VALIDATION_TAG = "eval/mean_reward"  # the validation reward TensorBoard has when eval.csv is missing


@dataclass(frozen=True)
class TrainingCurves:
    """What a training wrote so far.

    ``validation``: eval.csv (``timesteps, val_reward, val_return, best_val_reward``), or None.
    ``scalars``: every TensorBoard scalar, long (``tag, step, value``), sorted by tag then step.
    """

    validation: pd.DataFrame | None = None
    scalars: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(SCALAR_COLUMNS)))

    @property
    def empty(self) -> bool:
        return (self.validation is None or self.validation.empty) and self.scalars.empty

    def wide(self, tags: tuple[str, ...]) -> pd.DataFrame:
        """The scalars of ``tags`` (those present) as columns, indexed by step (``timesteps``)."""
        picked = self.scalars[self.scalars["tag"].isin(tags)]
        if picked.empty:
            return pd.DataFrame(index=pd.Index([], name="timesteps", dtype="int64"))
        frame = picked.pivot_table(index="step", columns="tag", values="value", aggfunc="last")
        frame = frame[[t for t in tags if t in frame.columns]]
        frame.index.name = "timesteps"
        frame.columns.name = None
        return frame

    def validation_curve(self) -> pd.DataFrame:
        """Validation per evaluation, indexed by timesteps: ``val_return`` (the validation episode's
        total return) and ``val_reward`` from eval.csv, else TensorBoard's ``eval/mean_reward``."""
        if self.validation is not None and not self.validation.empty:
            frame = self.validation.set_index("timesteps")
            return frame[[c for c in ("val_return", "val_reward") if c in frame.columns]]
        wide = self.wide((VALIDATION_TAG,))
        return wide.rename(columns={VALIDATION_TAG: "val_reward"})


def read_eval(run_id: str) -> pd.DataFrame | None:
    """``eval.csv`` with its columns checked; None if absent, unreadable or of another shape."""
    frame = read_csv(run_id, EVAL_FILE)
    if frame is None:
        return None
    missing = [c for c in ("timesteps", "val_reward") if c not in frame.columns]
    if missing:
        log.warning("run %s: eval.csv lacks columns %s", run_id, missing)
        return None
    for col in (c for c in EVAL_COLUMNS if c in frame.columns):
        frame[col] = pd.to_numeric(frame[col], errors="coerce")
    return frame.dropna(subset=["timesteps"]).sort_values("timesteps", kind="stable").reset_index(drop=True)


@lru_cache(maxsize=64)
def _event_file(path: str, mtime_ns: int, size: int) -> pd.DataFrame:
    # tensorboard is heavy to import and only this reader needs it
    from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator

    acc = EventAccumulator(path, size_guidance={SCALARS: 0})  # 0: keep every point, no sampling
    acc.Reload()
    rows = [
        (tag, int(event.step), float(event.value))
        for tag in acc.Tags().get("scalars", [])
        for event in acc.Scalars(tag)
    ]
    return pd.DataFrame(rows, columns=list(SCALAR_COLUMNS))


def read_scalars(folder: Path) -> pd.DataFrame:
    """Every scalar of the TensorBoard event files under ``folder`` (long: tag, step, value).

    SB3 starts a new ``ppo_<n>`` sub-folder per ``learn`` call; a point logged twice at the same
    step keeps the one from the later file."""
    frames = []
    files = sorted(folder.glob("**/events.out.tfevents.*")) if folder.is_dir() else []
    for path in files:
        try:
            st = path.stat()
            frames.append(_event_file(str(path), st.st_mtime_ns, st.st_size))
        except Exception as e:  # a half-written or foreign file must not take the page down
            log.warning("cannot read TensorBoard events %s: %s", path, e)
    if not frames:
        return pd.DataFrame(columns=list(SCALAR_COLUMNS))
    scalars = pd.concat(frames, ignore_index=True)
    scalars = scalars.drop_duplicates(subset=["tag", "step"], keep="last")
    return scalars.sort_values(["tag", "step"], kind="stable").reset_index(drop=True)


def training_curves(run_id: str) -> TrainingCurves:
    """The run's eval.csv and TensorBoard scalars (empty when it has written neither yet)."""
    return TrainingCurves(validation=read_eval(run_id), scalars=read_scalars(run_dir(run_id) / TB_DIR))
