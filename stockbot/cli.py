"""The ``stockbot`` command line. Thin: parse, call the library, print."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click
import pandas as pd

from stockbot.config import DataConfig, HMMConfig, load_config
from stockbot.errors import StockBotError

log = logging.getLogger("stockbot.cli")

_set_option = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY.PATH=VALUE",
    help="Override a config value (YAML-parsed), e.g. --set data.symbols=[AAPL,MSFT].",
)


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


class _Group(click.Group):
    """Turns StockBot's own errors into one clean message and exit code 2."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except StockBotError as e:
            click.echo(f"error: {e}", err=True)
            ctx.exit(2)


@click.group(cls=_Group)
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def main(verbose: bool) -> None:
    """StockBot: deep-RL trading on JupyterHub."""
    _configure_logging(verbose)


# ---------------------------------------------------------------------------- data


@main.group(cls=_Group)
def data() -> None:
    """Market data: load, validate, bundle."""


@data.command("load")
@click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="YAML with a 'data' section or a DataConfig.",
)
@_set_option
@click.option("--out", type=click.Path(dir_okay=False), help="Write the bars to a .parquet or .csv file.")
def data_load(config_path: str | None, overrides: tuple[str, ...], out: str | None) -> None:
    """Load, validate and align bars; print a summary and the report."""
    from stockbot.config import apply_overrides, read_yaml, validate_config
    from stockbot.data import load_bars_with_report

    raw = read_yaml(config_path) if config_path else {}
    raw = raw.get("data", raw)
    cfg = validate_config(DataConfig, apply_overrides(raw, list(overrides)))
    bars, report = load_bars_with_report(cfg)
    stamps = bars.index.get_level_values("timestamp")
    syms = bars.index.get_level_values("symbol").unique()
    click.echo(
        f"{report.source}: {len(bars)} bars, {len(syms)} symbols, "
        f"{stamps.min().date()} .. {stamps.max().date()}"
    )
    click.echo(report.summary())
    with pd.option_context("display.width", 120, "display.max_columns", 12):
        click.echo(bars.tail(len(syms) * 2).to_string())
    if out:
        target = Path(out)
        if target.suffix == ".parquet":
            bars.to_parquet(target)
        else:
            bars.to_csv(target)
        click.echo(f"wrote {target}")


@data.command("bundle-sample")
@click.argument("src_dir", type=click.Path(file_okay=False, exists=True))
def data_bundle_sample(src_dir: str) -> None:
    """Rebuild the bundled sample data from the shared source CSVs (repairs are reported)."""
    from stockbot.data.providers.sample import bundle_sample

    for line in bundle_sample(Path(src_dir)):
        click.echo(line)


# ---------------------------------------------------------------------------- hmm


@main.group(cls=_Group)
def hmm() -> None:
    """Market regimes (Gaussian HMM)."""


@hmm.command("fit")
@click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="hmm_fit YAML (defaults: bundled dow29).",
)
@_set_option
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Output folder.")
def hmm_fit(config_path: str | None, overrides: tuple[str, ...], out: str) -> None:
    """Data -> features -> HMM on the training split; print the regimes and save a plot."""
    from stockbot.tasks import run_hmm_fit

    cfg = load_config(HMMConfig, config_path, overrides)
    res = run_hmm_fit(cfg, out)
    stamps = res.bars.index.get_level_values("timestamp")
    syms = list(res.bars.index.get_level_values("symbol").unique())
    click.echo(
        f"\nData: {res.report.source}, {len(syms)} symbols ({', '.join(syms[:8])}"
        f"{' ...' if len(syms) > 8 else ''}), "
        f"{stamps.min().date()} .. {stamps.max().date()}\n{res.report.summary()}"
    )
    click.echo(
        f"Feature rows after the {cfg.features.warmup_bars()}-bar warm-up: "
        + ", ".join(f"{k} {v}" for k, v in res.split_rows.items())
    )
    last = res.features.index.get_level_values("timestamp").max()
    with pd.option_context("display.width", 140, "display.max_columns", 20, "display.precision", 4):
        click.echo(f"\nFeatures on {last.date()} (raw, before normalisation):")
        click.echo(res.features.xs(last, level="timestamp").to_string())
        click.echo("\nRegimes (forward-filtered; state 0 = lowest mean return):")
        click.echo(res.table.to_string())
        click.echo("\nFiltered probabilities, last 5 bars:")
        click.echo(res.proba.groupby(level="timestamp").first().tail(5).to_string())
    click.echo(f"\nWrote {res.out_dir}/ (config.yaml, obsnorm.json, hmm.json, regimes.csv, summary.json)")
    click.echo(f"Plot: {res.plot}")


# ---------------------------------------------------------------------------- train / backtest


def _print_summary(summary: dict) -> None:
    keys = [
        "total_return",
        "cagr",
        "sharpe",
        "sortino",
        "max_drawdown",
        "calmar",
        "turnover",
        "n_trades",
        "fees_paid",
        "win_rate",
    ]
    table = pd.DataFrame({k: summary[k] for k in ("policy", "benchmark")}).reindex(keys)
    period = summary["period"]
    click.echo(
        f"\n{summary['label']} vs buy-and-hold, {period['first'][:10]} .. {period['last'][:10]} "
        f"({period['bars']} bars, fills: {summary['fill']})"
    )
    with pd.option_context("display.float_format", "{:.4f}".format):
        click.echo(table.to_string())


@main.command("train")
@click.option("-c", "--config", "config_path", type=click.Path(dir_okay=False), help="train YAML.")
@_set_option
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Run folder to create.")
def train_cmd(config_path: str | None, overrides: tuple[str, ...], out: str) -> None:
    """Train a PPO policy, then backtest its best checkpoint on the test split."""
    from stockbot.config import TrainConfig
    from stockbot.train import train

    cfg = load_config(TrainConfig, config_path, overrides)
    res = train(cfg, out)
    stop = " (stopped early: no validation improvement)" if res.stopped_early else ""
    click.echo(f"\nTrained {res.timesteps} timesteps, {res.evaluations} validation runs{stop}.")
    _print_summary(res.backtest.summary)
    click.echo(
        f"\nWrote {res.out_dir}/ (policy.zip, last.zip, eval.csv, tb/, equity.csv, trades.csv, "
        "summary.json, plots/)"
    )


@main.command("backtest")
@click.option("-c", "--config", "config_path", type=click.Path(dir_okay=False), help="backtest YAML.")
@_set_option
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Output folder.")
def backtest_cmd(config_path: str | None, overrides: tuple[str, ...], out: str) -> None:
    """Backtest a trained run or a baseline; writes equity.csv, trades.csv, summary.json, plots/."""
    from stockbot.backtest import run_backtest, write_backtest
    from stockbot.config import BacktestConfig, dump_config

    cfg = load_config(BacktestConfig, config_path, overrides)
    res = run_backtest(cfg)
    target = write_backtest(res, out)
    (target / "config.yaml").write_text(dump_config(cfg))
    _print_summary(res.summary)
    click.echo(f"\nWrote {target}/ (equity.csv, trades.csv, summary.json, plots/)")


if __name__ == "__main__":  # pragma: no cover
    main()
