"""``hmm_fit``: data -> features -> HMM regimes on the training split, with a report."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from stockbot.config import HMMConfig, HMMInferConfig, config_hash, dump_config, load_config
from stockbot.data import load_bars_with_report
from stockbot.data.report import DataReport
from stockbot.data.split import split_masks
from stockbot.errors import ConfigError
from stockbot.features import compute_features
from stockbot.paths import stockbot_home
from stockbot.pipeline import ObservationPipeline
from stockbot.plots import plot_regimes
from stockbot.regimes import RegimeModel
from stockbot.regimes.summary import regime_table

log = logging.getLogger(__name__)


@dataclass
class HMMFitResult:
    out_dir: Path
    bars: pd.DataFrame
    features: pd.DataFrame
    proba: pd.DataFrame
    pipeline: ObservationPipeline
    report: DataReport
    table: pd.DataFrame
    split_rows: dict[str, int]
    plot: Path


def run_hmm_fit(config: HMMConfig, out_dir: str | Path) -> HMMFitResult:
    """Fit the observation pipeline (ObsNorm + HMM on the training split) and write
    ``config.yaml``, ``data_report.json``, ``obsnorm.json``, ``hmm.json``, ``regimes.csv``
    (filtered probabilities per bar) and ``plots/regimes.png`` into ``out_dir``."""
    if not config.regimes.enabled:
        raise ConfigError("regimes.enabled must be true for an hmm_fit job")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(dump_config(config))
    bars, report = load_bars_with_report(config.data, warmup_bars=config.features.warmup_bars())
    (out / "data_report.json").write_text(json.dumps(report.to_dict(), indent=1))
    pipeline = ObservationPipeline.fit(bars, config.features, config.split, config.regimes)
    pipeline.save(out)
    features = compute_features(bars, config.features)
    assert pipeline.regimes is not None  # regimes.enabled was checked above
    proba = pipeline.regimes.filter_proba(features)
    proba.reset_index().to_csv(out / "regimes.csv", index=False)
    table = regime_table(pipeline.regimes, features)
    masks = split_masks(features, config.split)
    split_rows = {k: int(v.sum()) for k, v in masks.items()}
    plot = plot_regimes(
        bars,
        proba,
        out / "plots" / "regimes.png",
        title=f"{report.source}: {config.regimes.n_states}-state HMM regimes (forward-filtered)",
        train_end=pd.Timestamp(config.split.train_end),
    )
    (out / "summary.json").write_text(
        json.dumps(
            {
                "config_hash": config_hash(config),
                "rows": split_rows,
                "regimes": json.loads(table.to_json(orient="index")),
                "data_report": report.summary(),
            },
            indent=1,
        )
    )
    return HMMFitResult(out, bars, features, proba, pipeline, report, table, split_rows, plot)


@dataclass
class HMMInferResult:
    out_dir: Path
    proba: pd.DataFrame
    table: pd.DataFrame
    plot: Path


def _fit_folder(config: HMMInferConfig) -> Path:
    ref = config.model
    folder = ref.path if ref.path is not None else stockbot_home() / "runs" / str(ref.run_id)
    if not (folder / "hmm.json").is_file():
        raise ConfigError(f"model: {folder} holds no fitted HMM (hmm.json); give an hmm_fit run")
    return folder


def run_hmm_infer(config: HMMInferConfig, out_dir: str | Path) -> HMMInferResult:
    """Apply an ``hmm_fit`` run's frozen features config and HMM to ``config.data`` (never refit):
    writes ``config.yaml``, ``regimes.csv`` (forward-filtered probabilities), ``summary.json`` and
    ``plots/regimes.png``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(dump_config(config))
    folder = _fit_folder(config)
    fit = load_config(HMMConfig, folder / "config.yaml")
    model = RegimeModel.load(folder / "hmm.json")
    bars, report = load_bars_with_report(config.data, warmup_bars=fit.features.warmup_bars())
    features = compute_features(bars, fit.features)
    proba = model.filter_proba(features)
    proba.reset_index().to_csv(out / "regimes.csv", index=False)
    table = regime_table(model, features)
    plot = plot_regimes(
        bars,
        proba,
        out / "plots" / "regimes.png",
        title=f"{report.source}: regimes of {folder.name} (forward-filtered, frozen)",
        train_end=pd.Timestamp(fit.split.train_end),
    )
    (out / "summary.json").write_text(
        json.dumps(
            {
                "model": str(folder),
                "regimes": json.loads(table.to_json(orient="index")),
                "data_report": report.summary(),
            },
            indent=1,
        )
    )
    return HMMInferResult(out, proba, table, plot)
