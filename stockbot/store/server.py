"""The embedded store: a SecantusDB server (MongoDB wire protocol) run as its own process.

SecantusDB is GPL-2.0, so it is only ever started as a separate program, never imported. The first
process that needs the store starts it under a lock file, on 127.0.0.1, its data in
``$STOCKBOT_HOME/store/`` and ``--sync-on-commit`` (acknowledged writes survive a kill -9); it
records ``{"uri", "pid", "port"}`` in ``$STOCKBOT_HOME/store.json``. Every other process connects
to the recorded server. ``STOCKBOT_MONGO_URI`` bypasses all of this for a real MongoDB (that URI
carries its own credentials).

Authentication is on (``--auth``, SCRAM-SHA-256): every port on 127.0.0.1 is reachable by every
account on the machine, so without it any local user could read and rewrite every run. The
platform's credential is created at the first start in ``$STOCKBOT_HOME/store/credentials`` (0600)
and the URI in ``store.json`` (0600) carries it; both stay in the platform's private state folder,
and user servers never receive them. Messages show URIs through :func:`redact`.

A restart reuses the port the home last used when it is free, so processes holding the old URI
(supervisors, the service) reconnect to the new server.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import json
import logging
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote_plus

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from stockbot.errors import StoreError
from stockbot.paths import ensure_home, stockbot_home
from stockbot.procs import alive, terminate

log = logging.getLogger(__name__)

_LISTENING = re.compile(r"listening on (\S+):(\d+)")
START_TIMEOUT = 20.0
PORT_WAIT = 2.0
PLATFORM_USER = "stockbot"


@dataclass(frozen=True)
class StoreInfo:
    uri: str
    pid: int | None
    embedded: bool

    @property
    def address(self) -> str:
        """The URI without its credentials: where the store is, fit to print."""
        scheme, userinfo, rest = _split_userinfo(self.uri)
        return f"{scheme}://{rest}" if userinfo else self.uri


@dataclass(frozen=True)
class _Files:
    """Where one home keeps its embedded store."""

    home: Path

    @property
    def folder(self) -> Path:
        return self.home / "store"

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def info(self) -> Path:
        return self.home / "store.json"

    @property
    def lock(self) -> Path:
        return self.home / "store.lock"

    @property
    def log(self) -> Path:
        return self.folder / "secantus.log"

    @property
    def credentials(self) -> Path:
        return self.folder / "credentials"

    @property
    def port(self) -> Path:
        """The last port, kept across stops (``store.json`` is removed by a stop)."""
        return self.folder / "port"

    @property
    def config(self) -> Path:
        """An empty SecantusDB config: naming one turns off its search of the working directory and
        ``~/.secantus`` for a ``secantusd.toml`` that someone else could have written."""
        return self.folder / "secantusd.toml"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def embedded_uri(port: int, user: str | None = None, password: str | None = None) -> str:
    """The URI of the embedded server on ``port``, with the platform credential when given."""
    auth = f"{quote_plus(user)}:{quote_plus(password)}@" if user and password else ""
    source = "authSource=admin&" if auth else ""
    # retryWrites=false: SecantusDB's retryable-write bookkeeping slows writes ~20x otherwise
    return f"mongodb://{auth}127.0.0.1:{port}/?{source}retryWrites=false&directConnection=true"


def _split_userinfo(uri: str) -> tuple[str, str, str]:
    """``(scheme, user:password or "", the rest)`` of a MongoDB URI."""
    scheme, _, rest = uri.partition("://")
    authority = rest.split("/", 1)[0]
    if "@" not in authority:
        return scheme, "", rest
    userinfo, _, hosts = authority.rpartition("@")
    return scheme, userinfo, hosts + rest[len(authority) :]


def redact(uri: str) -> str:
    """A URI without its user and password, for logs and messages."""
    scheme, userinfo, rest = _split_userinfo(uri)
    return f"{scheme}://***@{rest}" if userinfo else uri


def ping(uri: str, timeout_ms: int = 1500) -> bool:
    """True if the server answers (and, when the URI carries credentials, accepts them)."""
    client: MongoClient = MongoClient(uri, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms)
    try:
        client.admin.command("ping")
        return True
    except PyMongoError:
        return False
    finally:
        client.close()


def _recorded(info_path: Path) -> StoreInfo | None:
    try:
        data = json.loads(info_path.read_text())
        return StoreInfo(data["uri"], data.get("pid"), True)
    except PermissionError:
        raise
    except (OSError, ValueError, KeyError):
        return None


def recorded_store(home: Path | None = None) -> StoreInfo | None:
    """The embedded server this home recorded (``store.json``), without connecting to it."""
    return _recorded(_Files(home or stockbot_home()).info)


def _write_private(path: Path, text: str) -> None:
    """Replace ``path`` atomically with a file only this account can read, whatever the umask."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(tmp, 0o600)  # O_CREAT's mode does not change a file left over from a crash
    os.replace(tmp, path)


def _read_password(files: _Files) -> str | None:
    try:
        data = json.loads(files.credentials.read_text())
        return str(data["password"]) if data.get("user") == PLATFORM_USER else None
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as e:
        raise StoreError(
            f"the store credential {files.credentials} is unreadable ({e}); restore it from a backup, "
            "or delete it to create a new one at the next start"
        ) from e


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        # as SecantusDB binds (SO_REUSEADDR): a port left in TIME_WAIT by the old server is free
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _last_port(files: _Files) -> int:
    """The port this home's server used last if it is free (0 otherwise). A server killed a moment
    ago can hold its port for a few tens of milliseconds (sockets still closing), hence the wait."""
    try:
        port = int(files.port.read_text().strip())
    except (OSError, ValueError):
        return 0
    if not 0 < port < 65536:
        return 0
    deadline = time.monotonic() + PORT_WAIT
    while not _port_free(port):
        if time.monotonic() > deadline:
            return 0
        time.sleep(0.05)
    return port


def _spawn(files: _Files, port: int, auth: bool) -> tuple[subprocess.Popen[bytes], int]:
    """Start SecantusDB on ``port`` (0: any free one); return the process and its port."""
    files.folder.mkdir(parents=True, exist_ok=True)
    # the credential and the data files live here: private whatever the umask of the caller
    os.chmod(files.folder, 0o700)
    if not files.config.exists():
        _write_private(files.config, "# StockBot passes every setting on the command line\n")
    offset = files.log.stat().st_size if files.log.exists() else 0
    argv = [
        sys.executable,
        "-m",
        "secantus",
        "--config",
        str(files.config),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--storage-path",
        str(files.data),
        "--sync-on-commit",
        "--log-level",
        "INFO",
    ]
    with files.log.open("ab") as logfh:
        proc = subprocess.Popen(
            [*argv, "--auth"] if auth else argv,
            stdin=subprocess.DEVNULL,
            stdout=logfh,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives whoever started it; stopped by stop_store()
            close_fds=True,
        )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = files.log.read_text(errors="replace")[offset:][-2000:]
            raise StoreError(f"the embedded store exited at start (code {proc.returncode}): {tail}")
        with files.log.open("rb") as fh:
            fh.seek(offset)
            m = _LISTENING.search(fh.read().decode(errors="replace"))
        if m:
            return proc, int(m.group(2))
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    raise StoreError(f"the embedded store did not start within {START_TIMEOUT:.0f} s; see {files.log}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()  # SecantusDB closes its storage cleanly on SIGTERM
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _provision(files: _Files, password: str) -> None:
    """Give the data folder the platform's user (role root), with authentication still off.

    SecantusDB has no localhost exception: a user can only be created by a server running without
    ``--auth``. That server lives for about a second, on a random loopback port, and only ever at a
    first start (or after the credential was lost); afterwards every user it holds other than the
    platform's is dropped, so nobody who reached it in that second keeps a way in.
    """
    proc, port = _spawn(files, 0, auth=False)
    client: MongoClient = MongoClient(embedded_uri(port), serverSelectionTimeoutMS=5000)
    try:
        admin = client.admin
        command = "updateUser" if admin.command("usersInfo", PLATFORM_USER)["users"] else "createUser"
        admin.command(command, PLATFORM_USER, pwd=password, roles=["root"])
        for user in admin["system.users"].find({}, {"user": 1, "db": 1}):
            if (user["db"], user["user"]) != ("admin", PLATFORM_USER):
                client[user["db"]].command("dropUser", user["user"])
                log.warning("dropped the unexpected store user %s@%s", user["user"], user["db"])
    except PyMongoError as e:
        raise StoreError(f"could not create the store's platform user: {e}") from e
    finally:
        client.close()
        _stop(proc)


def _start(files: _Files) -> StoreInfo:
    password = _read_password(files)
    if password is None or not files.data.exists():
        password = password or secrets.token_urlsafe(32)
        _provision(files, password)
        _write_private(files.credentials, json.dumps({"user": PLATFORM_USER, "password": password}))
        log.info("created the store's platform credential in %s", files.credentials)
    wanted = _last_port(files)
    try:
        proc, port = _spawn(files, wanted, auth=True)
    except StoreError:
        if not wanted:
            raise
        log.info("port %d was taken as the store started; using a free port", wanted)
        proc, port = _spawn(files, 0, auth=True)
    info = StoreInfo(embedded_uri(port, PLATFORM_USER, password), proc.pid, True)
    if not ping(info.uri, 5000):
        _stop(proc)
        raise StoreError(
            f"the embedded store refused the platform credential in {files.credentials}; restore the "
            "credential from a backup (or delete it: the next start creates a new one)"
        )
    _write_private(
        files.info, json.dumps({"uri": info.uri, "pid": proc.pid, "port": port, "data": str(files.folder)})
    )
    _write_private(files.port, str(port))
    log.info("started the embedded store (pid %d) at %s", proc.pid, redact(info.uri))
    return info


def _usable(info: StoreInfo, timeout_ms: int) -> bool:
    return bool(_split_userinfo(info.uri)[1]) and alive(info.pid) and ping(info.uri, timeout_ms)


def ensure_store(home: Path | None = None) -> StoreInfo:
    """The store to use: ``STOCKBOT_MONGO_URI``, else the embedded server (started if needed)."""
    uri = os.environ.get("STOCKBOT_MONGO_URI")
    if uri:
        return StoreInfo(uri, None, False)
    files = _Files(home or stockbot_home())
    try:
        current = _recorded(files.info)
        if current and _usable(current, 500):
            return current
        ensure_home(files.home)
        with _locked(files.lock):
            current = _recorded(files.info)  # someone else may have started it meanwhile
            if current and _usable(current, 1500):
                return current
            # a stuck server holds the data directory; one without authentication (started by an
            # earlier version) must not go on serving it
            if current and alive(current.pid):
                terminate(current.pid)
            return _start(files)
    except PermissionError as e:
        raise StoreError(
            f"the account {getpass.getuser()!r} cannot use the store of {files.home} ({e.strerror}: "
            f"{e.filename}): it is private to the platform's account. In a hub user's server, reach "
            "runs through the service (stockbot.jobs.client.runs_client())."
        ) from e


def store_status(home: Path | None = None) -> dict[str, object]:
    if os.environ.get("STOCKBOT_MONGO_URI"):
        uri = os.environ["STOCKBOT_MONGO_URI"]
        return {"embedded": False, "uri": redact(uri), "up": ping(uri)}
    current = recorded_store(home)
    if current is None:
        return {"embedded": True, "up": False}
    return {
        "embedded": True,
        "uri": redact(current.uri),
        "pid": current.pid,
        "up": alive(current.pid) and ping(current.uri, 500),
    }


def stop_store(home: Path | None = None) -> bool:
    """Stop the embedded server this home recorded; True if one was running."""
    files = _Files(home or stockbot_home())
    with _locked(files.lock):
        current = _recorded(files.info)
        if current is None:
            return False
        running = alive(current.pid)
        if running and current.pid:
            terminate(current.pid)
        files.info.unlink(missing_ok=True)
        return running
