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
    from stockbot.paths import private_umask

    private_umask()  # the store, runs and logs this command creates are this account's alone
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


# ---------------------------------------------------------------------------- runs


@main.group(cls=_Group)
def runs() -> None:
    """Jobs as runs: submit, list, show, logs, cancel, artifacts."""


def _fmt_progress(doc: dict) -> str:
    p = doc.get("progress") or {}
    total = p.get("total")
    step = f"{p.get('step')}/{total}" if total else ""
    return f"{doc['status']:<9} {step:>13} {p.get('message') or ''}"


@runs.command("submit")
@click.argument("kind", type=click.Choice(["train", "backtest", "hmm_fit", "hmm_infer"]))
@click.option("-c", "--config", "config_path", type=click.Path(dir_okay=False), help="The job's YAML.")
@_set_option
@click.option("--wait", is_flag=True, help="Wait for the final status, showing progress.")
@click.option("--timeout", type=float, default=None, help="With --wait: give up after this many seconds.")
def runs_submit(
    kind: str, config_path: str | None, overrides: tuple[str, ...], wait: bool, timeout: float | None
) -> None:
    """Validate and queue a job; the local executor is started if none runs. Inside a hub user's
    server the job goes through the StockBot service, owned by that hub user."""
    from stockbot.config import apply_overrides, read_yaml
    from stockbot.jobs import run_dir
    from stockbot.jobs.client import LocalRuns, runs_client, wait

    raw = apply_overrides(read_yaml(config_path) if config_path else {}, list(overrides))
    client = runs_client()
    run_id = client.submit(kind, raw)
    if not wait:
        click.echo(run_id)
        return
    click.echo(f"submitted {run_id}", err=True)
    doc = wait(client, run_id, timeout=timeout)
    click.echo(f"{run_id} {doc['status']}")
    if isinstance(client, LocalRuns):
        folder = run_dir(run_id)
        click.echo(f"  folder:   {folder}")
        click.echo(f"  notebook: {folder / 'notebook.ipynb'}")
    if doc.get("error"):
        err = doc["error"]
        click.echo(f"  error:    {err.get('type')}: {err.get('message')} (cell {err.get('cell')})")
    if doc["status"] != "succeeded":
        raise SystemExit(1)


@runs.command("list")
@click.option("--status", default=None)
@click.option("--kind", default=None)
@click.option("--owner", default=None, help="Another owner's runs (local store only).")
@click.option("--limit", type=int, default=20)
def runs_list(status: str | None, kind: str | None, owner: str | None, limit: int) -> None:
    """Newest runs first (your own; --owner reads the local store for another)."""
    from stockbot.jobs.client import LocalRuns, runs_client

    client = LocalRuns(owner) if owner else runs_client()
    docs, total = client.list(status=status, kind=kind, limit=limit)
    for d in docs:
        sharpe = (d.get("metrics") or {}).get("sharpe")
        metric = f"sharpe {sharpe:.2f}" if isinstance(sharpe, float) else ""
        click.echo(f"{d['id']:<34} {d['owner']:<10} {_fmt_progress(d):<40} {metric}")
    click.echo(f"({len(docs)} of {total})", err=True)


@runs.command("show")
@click.argument("run_id")
def runs_show(run_id: str) -> None:
    """The run document as JSON."""
    import json

    from stockbot.jobs.client import runs_client

    click.echo(json.dumps(runs_client().get(run_id), indent=1, default=str))


@runs.command("logs")
@click.argument("run_id")
@click.option("--follow", "-f", is_flag=True, help="Keep printing until the run ends.")
def runs_logs(run_id: str, follow: bool) -> None:
    """The job's log (Papermill's output, cell by cell)."""
    from stockbot.jobs.kinds import run_dir
    from stockbot.jobs.wait import follow_log

    if follow:
        for line in follow_log(run_id):
            click.echo(line)
        return
    path = run_dir(run_id) / "job.log"
    click.echo(path.read_text(errors="replace") if path.exists() else "", nl=False)


@runs.command("cancel")
@click.argument("run_id")
def runs_cancel(run_id: str) -> None:
    """Cancel a queued or running run (its process group is ended)."""
    from stockbot.jobs.client import runs_client

    doc = runs_client().cancel(run_id)
    click.echo(f"{run_id}: {doc['status']}{' (cancel requested)' if doc['status'] == 'running' else ''}")


@runs.command("artifacts")
@click.argument("run_id")
@click.option("--get", "relpath", default=None, help="Print one artifact (a path inside the run).")
@click.option(
    "--zip", "zip_to", type=click.Path(dir_okay=False), default=None, help="Write the run as a zip."
)
def runs_artifacts(run_id: str, relpath: str | None, zip_to: str | None) -> None:
    """List a run's files, print one, or zip them all."""
    from stockbot.jobs.client import runs_client

    client = runs_client()

    if relpath:
        sys.stdout.buffer.write(client.read_artifact(run_id, relpath))
    elif zip_to:
        Path(zip_to).write_bytes(client.zip(run_id))
        click.echo(f"wrote {zip_to}")
    else:
        for item in client.artifacts(run_id):
            click.echo(f"{item['size']:>12}  {item['path']}")


@main.command("demo")
@click.option(
    "--examples",
    type=click.Path(file_okay=False, exists=True),
    default="examples",
    help="Folder with hmm_fit.yaml, train.yaml and backtest.yaml.",
)
def demo(examples: str) -> None:
    """Run hmm_fit, train, then a backtest of the trained run as jobs on the bundled data."""
    import json

    from stockbot.config import read_yaml
    from stockbot.jobs import ensure_executor, run_dir, submit, wait_for
    from stockbot.store import ensure_store

    ensure_store()
    ensure_executor()
    folder = Path(examples)
    plan = [("hmm_fit", read_yaml(folder / "hmm_fit.yaml")), ("train", read_yaml(folder / "train.yaml"))]
    done: dict[str, dict] = {}
    for kind, raw in plan:
        done[kind] = _run_and_report(kind, raw, submit, wait_for, run_dir)
    bt = read_yaml(folder / "backtest.yaml")
    bt["policy"] = {"type": "run", "run_id": done["train"]["_id"]}
    done["backtest"] = _run_and_report("backtest", bt, submit, wait_for, run_dir)
    summary = json.loads((run_dir(done["backtest"]["_id"]) / "summary.json").read_text())
    _print_summary(summary)
    click.echo("\nExecuted notebooks (each run's report):")
    for kind, doc in done.items():
        click.echo(f"  {kind:<9} {run_dir(doc['_id']) / 'notebook.ipynb'}")
    click.echo("List them with: stockbot runs list")
    from stockbot.paths import stockbot_home

    click.echo(
        f"The store and the executor keep running (home {stockbot_home()}) for further `stockbot runs ...`;\n"
        "stop them with `make stop`, or with `stockbot executor stop && stockbot store stop` and that home."
    )


def _run_and_report(kind: str, raw: dict, submit: object, wait_for: object, run_dir: object) -> dict:
    run_id = submit(kind, raw)  # type: ignore[operator]
    click.echo(f"{kind}: submitted {run_id}")
    last: list[str] = [""]

    def show(doc: dict) -> None:
        line = _fmt_progress(doc)
        if line != last[0]:
            click.echo(f"  {line}")
            last[0] = line

    doc = wait_for(run_id, on_update=show)  # type: ignore[operator]
    if doc["status"] != "succeeded":
        err = doc.get("error") or {}
        raise SystemExit(
            f"{kind} run {run_id} {doc['status']}: {err.get('type')}: {err.get('message')}; "
            f"see {run_dir(run_id) / 'notebook.ipynb'}"
        )  # type: ignore[operator]
    return doc


# ---------------------------------------------------------------------------- daemons


@main.group(cls=_Group)
def store() -> None:
    """The embedded store (SecantusDB), unless STOCKBOT_MONGO_URI points elsewhere."""


@store.command("start")
def store_start() -> None:
    from stockbot.store import ensure_store

    click.echo(ensure_store().address)


@store.command("stop")
def store_stop() -> None:
    from stockbot.store import stop_store

    click.echo("stopped" if stop_store() else "not running")


@store.command("status")
def store_status_cmd() -> None:
    import json

    from stockbot.store import store_status

    click.echo(json.dumps(store_status()))


@main.group(cls=_Group)
def executor() -> None:
    """The job executor daemon."""


@executor.command("start")
@click.option("--concurrency", type=int, default=None, help="Jobs at once (default 1).")
@click.option("--dask", default=None, metavar="ADDRESS", help="Run jobs on a Dask scheduler instead.")
def executor_start(concurrency: int | None, dask: str | None) -> None:
    import json

    from stockbot.jobs import ensure_executor
    from stockbot.store import ensure_store

    ensure_store()
    click.echo(json.dumps(ensure_executor(concurrency=concurrency, dask=dask)))


@executor.command("stop")
def executor_stop() -> None:
    from stockbot.jobs import stop_executor

    click.echo("stopped" if stop_executor() else "not running")


@executor.command("status")
def executor_status_cmd() -> None:
    import json

    from stockbot.jobs import executor_status

    click.echo(json.dumps(executor_status()))


# ---------------------------------------------------------------------------- live sessions


@main.group(cls=_Group)
def live() -> None:
    """Live (paper) sessions of trained runs: start, steer, inspect, and the loop itself."""


def _live_request(session_id: str, action: str, **params: object) -> None:
    from stockbot.live.control import request

    request(session_id, action, **params)
    click.echo(f"{action} requested for {session_id}")


@live.command("start")
@click.option("-c", "--config", "config_path", type=click.Path(exists=True, dir_okay=False), required=True)
@_set_option
def live_start(config_path: str, overrides: tuple[str, ...]) -> None:
    """Start a session from a live config; prints its id."""
    from stockbot.config import apply_overrides, read_yaml
    from stockbot.jobs.submit import default_owner
    from stockbot.live.control import start_session

    raw = apply_overrides(read_yaml(config_path), overrides)
    doc = start_session(raw, default_owner())
    click.echo(doc["_id"])


@live.command("stop")
@click.argument("session_id")
@click.option("--flatten", is_flag=True, help="Flatten at the next open first (default: leave positions).")
def live_stop(session_id: str, flatten: bool) -> None:
    """Stop a session within one tick: cancel open orders, leave or flatten the positions."""
    _live_request(session_id, "stop", flatten=flatten)


@live.command("kill")
@click.argument("session_id")
def live_kill(session_id: str) -> None:
    """The kill switch: cancel everything, flatten at the next open, halt (idempotent)."""
    _live_request(session_id, "kill")


@live.command("pause")
@click.argument("session_id")
def live_pause(session_id: str) -> None:
    """Pause entries: only orders that reduce a position go out."""
    _live_request(session_id, "pause")


@live.command("resume")
@click.argument("session_id")
def live_resume(session_id: str) -> None:
    """Resume trading after a pause or a halt (re-arms the drawdown kill switch from now)."""
    _live_request(session_id, "resume")


@live.command("reconcile")
@click.argument("session_id")
def live_reconcile(session_id: str) -> None:
    """Resolve a reconcile_required: adopt the broker's positions and cash."""
    _live_request(session_id, "reconcile")


@live.command("status")
@click.argument("session_id")
def live_status(session_id: str) -> None:
    """The session's state as JSON (including the loop's pid)."""
    import json

    from stockbot.errors import ConfigError
    from stockbot.live.control import status
    from stockbot.live.store import LiveStore

    doc = LiveStore().get(session_id)
    if doc is None:
        raise ConfigError(f"no live session {session_id}")
    click.echo(json.dumps(status(doc), default=str, indent=1))


@live.command("list")
def live_list() -> None:
    """Every session, newest first."""
    from stockbot.live.store import LiveStore

    for doc in LiveStore().list():
        view = doc.get("view") or {}
        equity = view.get("equity")
        shown = f"{equity:,.2f}" if isinstance(equity, float) else "-"
        risk = (view.get("risk") or {}).get("status", "-")
        click.echo(f"{doc['_id']}  {doc['status']:<9} {risk:<9} {shown:>14}  {doc.get('name')}")


@live.command("run")
@click.argument("session_id")
def live_run(session_id: str) -> None:
    """The loop of one session (its supervisor runs this)."""
    from stockbot.live.session import LiveSession
    from stockbot.live.store import LiveStore

    click.echo(LiveSession(LiveStore(), session_id).run())


if __name__ == "__main__":  # pragma: no cover
    main()
