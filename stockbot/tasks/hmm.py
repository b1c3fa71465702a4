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


def _write_regimes(
    out: Path,
    model: RegimeModel,
    bars: pd.DataFrame,
    features: pd.DataFrame,
    title: str,
    train_end: object,
    summary: dict[str, object],
    since: object = None,
) -> tuple[pd.DataFrame, pd.DataFrame, Path]:
    """``regimes.csv`` (filtered probabilities), ``plots/regimes.png`` and ``summary.json``; the
    filter runs over all ``features``, the outputs keep the rows from ``since`` on."""
    proba = model.filter_proba(features)
    if since is not None:
        keep = features.index.get_level_values("timestamp") >= pd.Timestamp(since, tz="UTC")  # type: ignore[arg-type]
        proba, features = proba[keep], features[keep]
    proba.reset_index().to_csv(out / "regimes.csv", index=False)
    table = regime_table(model, features)
    plot = plot_regimes(
        bars, proba, out / "plots" / "regimes.png", title=title, train_end=pd.Timestamp(train_end)
    )  # type: ignore[arg-type]
    summary = {**summary, "regimes": json.loads(table.to_json(orient="index"))}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return proba, table, plot


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
    masks = split_masks(features, config.split)
    split_rows = {k: int(v.sum()) for k, v in masks.items()}
    title = f"{report.source}: {config.regimes.n_states}-state HMM regimes (forward-filtered)"
    proba, table, plot = _write_regimes(
        out,
        pipeline.regimes,
        bars,
        features,
        title,
        config.split.train_end,
        {"config_hash": config_hash(config), "rows": split_rows, "data_report": report.summary()},
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
    # the same settled recursive features as at fit time, however late the data starts
    warmup = fit.features.warmup_bars() + fit.features.settle_bars()
    bars, report = load_bars_with_report(config.data, warmup_bars=warmup)
    features = compute_features(bars, fit.features)
    title = f"{report.source}: regimes of {folder.name} (forward-filtered, frozen)"
    proba, table, plot = _write_regimes(
        out,
        model,
        bars,
        features,
        title,
        fit.split.train_end,
        {"model": str(folder), "data_report": report.summary()},
        since=config.data.start,  # the settling history before start is not part of the answer
    )
    return HMMInferResult(out, proba, table, plot)
