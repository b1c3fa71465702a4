"""Submitting a job: validate the config first (a bad config never becomes a queued run), then
write the run folder and the ``queued`` run document (DESIGN.md §4)."""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import json
import os
import secrets
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from stockbot.config import (
    BacktestConfig,
    DataConfig,
    TrainConfig,
    config_hash,
    dump_config,
    to_plain,
    validate_config,
)
from stockbot.errors import ConfigError, DataError
from stockbot.jobs.kinds import job_kind, run_dir
from stockbot.store.runs import RunStatus, RunStore, now
from stockbot.store.safety import check_storable


def default_owner() -> str:
    return os.environ.get("JUPYTERHUB_USER") or getpass.getuser()


def new_run_id(kind: str) -> str:
    return f"{dt.datetime.now(dt.UTC):%Y%m%d-%H%M%S}-{kind}-{secrets.token_hex(2)}"


@lru_cache(maxsize=1)
def code_version() -> str:
    from stockbot import __version__

    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"{__version__}+{sha}" if sha else __version__


def data_fingerprint(data: DataConfig) -> str:
    """Hash of what the data config points at: a file's bytes for file providers, the request
    itself for network providers (their bars are fingerprinted in the run's data report)."""
    h = hashlib.sha256(repr(to_plain(data)).encode())
    path = _data_file(data)
    if path is not None and path.is_file():
        h.update(path.read_bytes())
    return h.hexdigest()


def _check_symbols(data: DataConfig, field: str) -> None:
    """Unknown symbols of local files are a config error at submit time."""
    if data.provider not in ("sample", "csv", "parquet") or data.symbols is None:
        return
    from stockbot.data.loader import make_provider

    try:
        available = set(make_provider(data).available_symbols())  # type: ignore[attr-defined]
    except DataError as e:
        raise ConfigError.at(field, str(e)) from e
    unknown = [s for s in data.symbols if s not in available]
    if unknown:
        have = sorted(available)
        raise ConfigError.at(f"{field}.symbols", f"{unknown} are not in the data; available: {have}")


def check_parent(
    store: RunStore, run_id: str, kind: str, field: str, owner: str | None = None
) -> dict[str, Any]:
    doc = store.get(run_id)
    if doc is None or (owner is not None and doc.get("owner") != owner):
        raise ConfigError.at(f"{field}.run_id", f"no run {run_id!r}")
    if doc.get("deleting_at") is not None:  # its folder may be gone already
        raise ConfigError.at(f"{field}.run_id", f"run {run_id} is being deleted")
    if doc["kind"] != kind or doc["status"] != RunStatus.SUCCEEDED.value:
        raise ConfigError.at(
            f"{field}.run_id", f"{run_id} is a {doc['status']} {doc['kind']} run; need a succeeded {kind}"
        )
    return doc


FILE_PROVIDERS = ("sample", "csv", "parquet")


def _check_splits(cfg: TrainConfig) -> None:
    """For bars from files (cheap to read here), the splits must be long enough for the job to run:
    the same check the job makes when it starts (that is where network providers' bars get it)."""
    if cfg.data.provider not in FILE_PROVIDERS:
        return
    from stockbot.data.split import split_bounds

    path = _data_file(cfg.data)
    stat = path.stat() if path is not None and path.is_file() else None
    version = (str(path), stat.st_mtime_ns, stat.st_size) if stat else None
    stamps = _bar_stamps(json.dumps(to_plain(cfg.data), sort_keys=True), cfg.warmup_bars(), version)
    # the features drop each symbol's first warmup_bars() rows: what training then sees
    split_bounds(stamps[cfg.features.warmup_bars() :], cfg)


def _data_file(data: DataConfig) -> Path | None:
    if data.provider == "sample":
        from stockbot.data.providers.sample import sample_path

        return sample_path(data.dataset or "dow29")
    return Path(data.path).expanduser() if data.path is not None else None


@lru_cache(maxsize=32)
def _bar_stamps(data_json: str, warmup: int, version: tuple[str, int, int] | None) -> Any:
    """The sorted bar timestamps a job would load (cached per data config and file version: the
    forms validate on every change)."""
    import pandas as pd

    from stockbot.data import load_bars

    try:
        bars = load_bars(DataConfig.model_validate(json.loads(data_json)), warmup_bars=warmup)
    except DataError as e:
        raise ConfigError.at("data", str(e)) from e
    return pd.DatetimeIndex(bars.index.get_level_values("timestamp").unique()).sort_values()


def check_universe(data: DataConfig | None, parent: dict[str, Any]) -> None:
    """A trained policy trades exactly the symbols it was trained on (its action has one entry per
    symbol): a backtest or live session naming others is refused at submit, not an hour into a
    queue."""
    if data is None or data.symbols is None:
        return  # the trained run's own symbols are used
    from stockbot.backtest.runner import MARKET_FILE  # (the backtest stack is slow to import)

    try:
        trained = json.loads((run_dir(parent["_id"]) / MARKET_FILE).read_text())["symbols"]
    except (OSError, ValueError, KeyError, TypeError):
        trained = (parent.get("config") or {}).get("data", {}).get("symbols")
    if not trained:
        return  # the job itself checks against the trained run's folder
    extra = [s for s in data.symbols if s not in trained]
    missing = [s for s in trained if s not in data.symbols]
    if extra or missing:
        what = f"{extra} are not" if extra else f"{missing} are missing from it, and"
        raise ConfigError.at(
            "data.symbols",
            f"run {parent['_id']} was trained on {list(trained)}; {what} in that universe. A trained "
            "policy trades exactly its own symbols: leave data.symbols out to use them",
        )


_PATH_FIELDS = (("data", "path"), ("policy", "path"), ("model", "path"))


def confine_paths(cfg: BaseModel, root: Path) -> BaseModel:
    """``cfg`` with every file path resolved against ``root``; a path that leads outside ``root``
    (``..``, an absolute path elsewhere, ``~``, a symlink out) is a :class:`ConfigError` naming the
    field. A trained policy is taken by ``run_id`` only: loading a policy file unpickles it, which
    must never happen to a file a user put there."""
    if root.is_symlink() or root.parent.is_symlink():  # the folders a user could swap for links
        raise ConfigError.at("data", "your data folder must be a folder, not a link elsewhere")
    real = root.resolve()
    updates: dict[str, BaseModel] = {}
    for section, name in _PATH_FIELDS:
        sub = getattr(cfg, section, None)
        value = getattr(sub, name, None) if sub is not None else None
        if value is None:
            continue
        field = f"{section}.{name}"
        if section == "policy" and getattr(sub, "type", None) == "run":
            raise ConfigError.at(field, "give the trained run as policy.run_id (a path is not accepted here)")
        if str(value).startswith("~"):
            raise ConfigError.at(field, f"{str(value)!r}: give a path inside your data folder, without '~'")
        resolved = (real / Path(value)).resolve()
        if resolved != real and real not in resolved.parents:
            raise ConfigError.at(field, f"{str(value)!r} is outside your data folder")
        updates[section] = sub.model_copy(update={name: resolved})  # type: ignore[union-attr]
    return cfg.model_copy(update=updates) if updates else cfg


def validate_job(
    kind: str,
    config: dict[str, Any] | BaseModel,
    store: RunStore | None = None,
    *,
    data_root: Path | None = None,
    parent_owner: str | None = None,
) -> BaseModel:
    """The validated config of a job, with the checks that need the data or the store.

    ``data_root`` confines file paths to one folder (a hub user's ``data/``); ``parent_owner``
    admits only parent runs of that owner (a user may not build on another user's run)."""
    spec = job_kind(kind)
    raw = to_plain(config) if isinstance(config, BaseModel) else config
    cfg = validate_config(spec.config, raw)
    check_storable(to_plain(cfg))
    if data_root is not None:
        cfg = confine_paths(cfg, data_root)
    _check_symbols(cfg.data, "data")  # type: ignore[attr-defined]
    if isinstance(cfg, TrainConfig):
        _check_splits(cfg)
    if isinstance(cfg, BacktestConfig) and cfg.policy.run_id is not None:
        parent = check_parent(store or RunStore(), cfg.policy.run_id, "train", "policy", parent_owner)
        check_universe(cfg.data, parent)
    if kind == "hmm_infer" and cfg.model.run_id is not None:  # type: ignore[attr-defined]
        check_parent(store or RunStore(), cfg.model.run_id, "hmm_fit", "model", parent_owner)  # type: ignore[attr-defined]
    return cfg


def submit(
    kind: str,
    config: dict[str, Any] | BaseModel,
    owner: str | None = None,
    *,
    store: RunStore | None = None,
    data_root: Path | None = None,
    parent_owner: str | None = None,
) -> str:
    """Validate, write ``runs/<id>/config.yaml`` and a ``queued`` run document; return the id.
    ``data_root`` and ``parent_owner`` are as in :func:`validate_job`."""
    store = store or RunStore()
    cfg = validate_job(kind, config, store, data_root=data_root, parent_owner=parent_owner)
    run_id = new_run_id(kind)
    folder = run_dir(run_id)
    folder.mkdir(parents=True, exist_ok=False)
    try:
        _record(store, kind, cfg, run_id, owner, folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)  # no folder without its run document
        raise
    return run_id


def _record(store: RunStore, kind: str, cfg: BaseModel, run_id: str, owner: str | None, folder: Path) -> None:
    (folder / "config.yaml").write_text(dump_config(cfg))
    parent = None
    if kind == "backtest":
        parent = cfg.policy.run_id  # type: ignore[attr-defined]
    elif kind == "hmm_infer":
        parent = cfg.model.run_id  # type: ignore[attr-defined]
    store.create(
        {
            "_id": run_id,
            "kind": kind,
            "owner": owner or default_owner(),
            "status": RunStatus.QUEUED.value,
            "created_at": now(),
            "started_at": None,
            "finished_at": None,
            "heartbeat_at": None,
            "config": to_plain(cfg),
            "config_hash": config_hash(cfg),
            "data_fingerprint": data_fingerprint(cfg.data),  # type: ignore[attr-defined]
            "code_version": code_version(),
            "parent": parent,
            "progress": {"step": 0, "total": None, "message": "queued"},
            "metrics": None,
            "error": None,
            "cancel_requested_at": None,
            "executor": None,
        }
    )
