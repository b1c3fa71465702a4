"""Starting, supervising and steering live sessions: what the CLI and the service call.

Each session runs as one loop process (``stockbot live run ID``) under a small supervisor process
of its own (``python -m stockbot.live.supervise ID``), outside the job executor's concurrency
limit. The supervisor restarts a loop that died at most :data:`MAX_RESTARTS` times in
:data:`RESTART_WINDOW` seconds; past that the session fails and halts with the reason. When the
platform starts (the executor daemon), sessions that were running without a supervisor come back
with entries paused, until their owner resumes them.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from stockbot.config import LiveConfig, dump_config, to_plain, validate_config
from stockbot.errors import ConfigError
from stockbot.live.folder import session_dir
from stockbot.live.store import ENDED, LiveStore
from stockbot.procs import alive, terminate
from stockbot.store.runs import RunStore
from stockbot.store.safety import check_storable

log = logging.getLogger(__name__)

ISOLATING_SPAWNERS = ("local-users",)  # hub spawners that run each user's server as their own account
MAX_RESTARTS = 3
TEMPFAIL = 75  # a loop that waited out a broker that could not answer (not counted as a crash)
RESTART_WINDOW = 600.0
STALE_SECONDS = 30.0
STOP_WAIT_SECONDS = 30.0  # how long a disconnect waits for the sessions on the account to stop


def validate_live(
    raw: dict[str, Any] | LiveConfig,
    *,
    runs: RunStore | None = None,
    data_root: Path | None = None,
    parent_owner: str | None = None,
) -> LiveConfig:
    """The validated config of a session, with the checks that need the store.

    As for jobs (:func:`stockbot.jobs.submit.validate_job`): ``data_root`` confines file paths to
    one folder and admits the trained run by ``policy.run_id`` only (loading a policy unpickles it,
    which must never happen to a file a user put there); ``parent_owner`` admits only that owner's
    runs. A ``run_id`` must name a succeeded train run of the store, trained on the session's
    symbols."""
    from stockbot.jobs.submit import check_parent, check_universe, confine_paths

    config = raw if isinstance(raw, LiveConfig) else validate_config(LiveConfig, raw)
    check_storable(to_plain(config))
    if data_root is not None:
        if config.policy.path is not None:
            raise ConfigError.at(
                "policy.path", "give the trained run as policy.run_id (a path is not accepted here)"
            )
        config = confine_paths(config, data_root)  # type: ignore[assignment]
    if config.policy.run_id is not None and (runs is not None or data_root is not None):
        parent = check_parent(runs or RunStore(), config.policy.run_id, "train", "policy", parent_owner)
        check_universe(config.data, parent)
    return config


def start_session(
    raw: dict[str, Any] | LiveConfig,
    owner: str,
    *,
    store: LiveStore | None = None,
    spawn: bool = True,
    now: Any = None,
) -> dict[str, Any]:
    """Validate ``raw``, check the trained run and its data, record the session and start its
    supervised loop. Bad input raises :class:`ConfigError` (or :class:`DataError` for bars that
    cannot be replayed) before anything is recorded. ``now`` (a UTC timestamp) is when a market
    session starts (its first decision follows from it; the default is the present)."""
    from stockbot.live.session import preflight

    config = raw if isinstance(raw, LiveConfig) else validate_config(LiveConfig, raw)
    store = store or LiveStore()
    if config.broker != "paper":
        check_account(config, owner, store)
    config = preflight(config, now)  # the run can trade on a broker, and it has bars
    ref = config.policy.run_id or (config.policy.path.name if config.policy.path else "run")
    mode = "live" if config.real_money else "paper"
    name = config.name or (f"paper {ref}" if config.broker == "paper" else f"{config.broker} {mode} {ref}")
    doc = store.create(owner, to_plain(config), name=name, mode=mode, broker=config.broker)
    folder = session_dir(doc["_id"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(dump_config(config))
    if spawn:
        pid = spawn_supervisor(doc["_id"])
        # recorded at once (the supervisor records it too): a platform stop right after a start
        # must find it (see suspend_sessions)
        store.set_fields(doc["_id"], supervisor_pid=pid)
        doc["supervisor_pid"] = pid
    return doc


def real_money_refusal() -> str | None:
    """Why sessions on live accounts are refused on this platform, or None when they are allowed.

    Behind the hub, ``STOCKBOT_SPAWNER`` names how users' servers run: with a spawner that does not
    isolate them, every server runs as the platform's own account and could read the crypt key and
    the store (everyone's broker tokens), so no real money is traded. Without the hub (the CLI of
    the person who runs the platform) it is not set."""
    spawner = os.environ.get("STOCKBOT_SPAWNER")
    if spawner is None or spawner in ISOLATING_SPAWNERS:
        return None
    return (
        f"live accounts need a hub that isolates its users (STOCKBOT_SPAWNER=local-users); this one uses "
        f"{spawner!r}, where every user's server runs as the platform's account and could read its "
        "crypt key and store: paper accounts only"
    )


def check_account(config: LiveConfig, owner: str, store: LiveStore) -> None:
    """A session on a real account: ``owner`` has connected it, no other session of theirs trades
    it (the broker's positions are one session's to explain), and a replay (yesterday's decisions
    sent now) goes to a live account only in a rehearsal the admin allowed
    (``STOCKBOT_BROKER_REHEARSAL=1``: a broker sandbox or a stand-in)."""
    from stockbot.store.tokens import TokenStore, crypt_key

    broker, mode = config.broker, "live" if config.real_money else "paper"
    if config.real_money and (why := real_money_refusal()):
        raise ConfigError.at("account", why)
    if (
        config.real_money
        and config.clock.kind == "replay"
        and os.environ.get("STOCKBOT_BROKER_REHEARSAL") != "1"
    ):
        raise ConfigError.at(
            "clock.kind",
            f"a replay would send past decisions to your live {broker} account now; "
            "use the market clock (an admin may allow replays against a broker sandbox)",
        )
    if TokenStore(store.db, crypt_key()).fields(owner, broker) is None:
        raise ConfigError.at(
            "broker", f"{owner} has not connected {broker}: connect it on the brokers page first"
        )
    other = store.sessions.find_one(
        {"owner": owner, "broker": broker, "mode": mode, "status": {"$in": ["starting", "running"]}},
        {"_id": 1},
    )
    if other is not None:
        raise ConfigError.at(
            "broker", f"session {other['_id']} already trades your {broker} {mode} account; stop it first"
        )


def disconnect(
    owner: str, broker: str, tokens: Any, *, store: LiveStore | None = None, timeout: float | None = None
) -> dict[str, Any]:
    """Disconnect ``owner``'s ``broker`` account: first their sessions on it stop (each cancels its
    open orders at the broker, which needs the credentials still), then the credentials go.
    Sessions that have not ended within ``timeout`` seconds are named in ``still_stopping`` (their
    loops stop trading on the next tick, when the credentials are gone)."""
    store = store or LiveStore()
    running = [
        d["_id"]
        for d in store.sessions.find(
            {"owner": owner, "broker": broker, "status": {"$in": ["starting", "running"]}}, {"_id": 1}
        )
    ]
    for sid in running:
        store.request(sid, "stop", by=f"{owner} disconnecting {broker}")
    deadline = time.monotonic() + (STOP_WAIT_SECONDS if timeout is None else timeout)
    waiting = list(running)
    while waiting and time.monotonic() < deadline:
        waiting = [sid for sid in waiting if (store.get(sid) or {}).get("status") not in ENDED]
        if waiting:
            time.sleep(0.2)
    gone = tokens.delete(owner, broker)
    return {"broker": broker, "disconnected": gone, "stopped": running, "still_stopping": waiting}


def spawn_supervisor(session_id: str) -> int:
    folder = session_dir(session_id)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "supervisor.log", "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "stockbot.live.supervise", session_id],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=os.environ.copy(),
        )
    return proc.pid


def loop_command(session_id: str) -> list[str]:
    return [sys.executable, "-m", "stockbot.cli", "live", "run", session_id]


def supervise(session_id: str, store: LiveStore | None = None, command: list[str] | None = None) -> str:
    """Run the session's loop; restart it when it dies, within the restart limit. Returns the
    session's final status."""
    store = store or LiveStore()
    store.set_fields(session_id, supervisor_pid=os.getpid())
    cmd = command or loop_command(session_id)
    folder = session_dir(session_id)
    folder.mkdir(parents=True, exist_ok=True)
    restarts: list[float] = []
    while True:
        with open(folder / "loop.log", "ab") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            store.set_fields(session_id, pid=proc.pid)
            code = proc.wait()
        doc = store.get(session_id)
        status = doc["status"] if doc else "failed"
        if code == 0 and status in ENDED:
            return status
        if code == TEMPFAIL:  # the broker could not answer; the loop waited: start it again
            log.info("session %s: the broker was unavailable; the loop starts again", session_id)
            continue
        now = time.monotonic()
        restarts = [t for t in restarts if now - t < RESTART_WINDOW] + [now]
        store.sessions.update_one(
            {"_id": session_id}, {"$push": {"restarts": {"at": dt.datetime.now(dt.UTC), "exit_code": code}}}
        )
        if len(restarts) > MAX_RESTARTS:
            reason = (
                f"the loop died {len(restarts)} times in {RESTART_WINDOW / 60:.0f} minutes "
                f"(last exit code {code}); halted, see {folder / 'loop.log'}"
            )
            store.push_events(session_id, [{"at": dt.datetime.now(dt.UTC), "bar": None, "message": reason}])
            store.set_status(session_id, "failed", reason, pid=None)
            return "failed"
        log.warning("session %s: loop exited with %s; restarting", session_id, code)


def recover_sessions(store: LiveStore | None = None) -> list[str]:
    """At platform start: sessions that should run but have no live supervisor come back with
    entries paused (their owner resumes them) under a new supervisor."""
    store = store or LiveStore()
    back = []
    for doc in store.sessions.find({"status": {"$in": ["starting", "running"]}}, {"state": 0}):
        if alive(doc.get("supervisor_pid")):
            continue
        store.request(doc["_id"], "pause", by="platform restart")
        store.push_events(
            doc["_id"],
            [{"at": dt.datetime.now(dt.UTC), "bar": None, "message": "platform restarted: entries paused"}],
        )
        spawn_supervisor(doc["_id"])
        back.append(doc["_id"])
    return back


def suspend_sessions(store: LiveStore | None = None, timeout: float = 10.0) -> list[str]:
    """When the platform stops: end each session's supervisor and loop (one process group). The
    sessions stay ``running`` in the store, so the platform's next start brings them back with
    entries paused (:func:`recover_sessions`). A loop ended mid-bar redoes that bar, as after a crash."""
    store = store or LiveStore()
    ended = []
    for doc in store.sessions.find({"status": {"$in": ["starting", "running"]}}, {"state": 0}):
        pid = doc.get("supervisor_pid")
        if alive(pid):
            terminate(pid, timeout, group=True)
            ended.append(doc["_id"])
    return ended


def request(session_id: str, action: str, *, store: LiveStore | None = None, **params: Any) -> dict[str, Any]:
    store = store or LiveStore()
    doc = store.get(session_id)
    if doc is None:
        raise ConfigError(f"no live session {session_id}")
    if doc["status"] in ENDED:
        raise ConfigError(f"session {session_id} has {doc['status']}; it takes no more requests")
    out = store.request(session_id, action, **params)
    assert out is not None
    return out


def status(doc: dict[str, Any]) -> dict[str, Any]:
    """What ``stockbot live status`` and the service report about a session."""
    beat = doc.get("heartbeat_at")
    age = None
    if beat is not None:
        if beat.tzinfo is None:
            beat = beat.replace(tzinfo=dt.UTC)
        age = (dt.datetime.now(dt.UTC) - beat).total_seconds()
    view = doc.get("view") or {}
    return {
        "id": doc["_id"],
        "name": doc.get("name"),
        "owner": doc.get("owner"),
        "mode": doc.get("mode"),
        "broker": doc.get("broker"),
        "status": doc.get("status"),
        "reason": doc.get("reason"),
        "pid": doc.get("pid"),
        "loop_alive": alive(doc.get("pid")),
        "heartbeat_age": age,
        "created_at": doc.get("created_at"),
        "restarts": len(doc.get("restarts") or []),
        "pending_requests": [r["action"] for r in doc.get("requests") or []],
        **{k: view.get(k) for k in ("bar", "equity", "cash", "drawdown", "risk", "reconcile_required")},
    }
