"""Wiring of ``jupyterhub_config.py``: values from the environment, logic kept out of the config."""

from __future__ import annotations

import os
import secrets
import shutil
import stat
import sys
from pathlib import Path
from typing import Any


def _port(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def secret_file(path: Path) -> str:
    """A random secret kept in ``path`` (created readable by this OS user only, from the start)."""
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text().strip()


def configure(c: Any, root: Path) -> None:
    """Fill JupyterHub's config object ``c`` for StockBot (one machine, local processes)."""
    home = Path(os.environ.get("STOCKBOT_HOME") or root / ".stockbot").resolve()
    state = home / "hub"
    state.mkdir(parents=True, exist_ok=True)
    from stockbot.store.tokens import create_key_file

    create_key_file(home)  # broker credentials are encrypted under it; made once, kept (0600)
    host = os.environ.get("STOCKBOT_HUB_HOST", "127.0.0.1")
    c.JupyterHub.bind_url = f"http://{host}:{_port('STOCKBOT_HUB_PORT', 8000)}"
    c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{_port('STOCKBOT_HUB_API_PORT', 8081)}"
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{_port('STOCKBOT_PROXY_API_PORT', 8001)}"
    chp = os.environ.get("STOCKBOT_CHP") or str(
        root / ".hub-node" / "node_modules" / ".bin" / "configurable-http-proxy"
    )
    # node runs the proxy through hub/proxy.mjs, which answers a malformed path with a 400
    node = shutil.which("node") or "node"
    c.ConfigurableHTTPProxy.command = [node, str(root / "hub" / "proxy.mjs"), chp]
    c.ConfigurableHTTPProxy.pid_file = str(state / "proxy.pid")
    c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(state / "cookie_secret")
    c.JupyterHub.pid_file = str(state / "jupyterhub.pid")
    # the proxy's auth token: kept with the hub's state, never on a command line
    c.ConfigurableHTTPProxy.auth_token = secret_file(state / "proxy_token")

    c.JupyterHub.authenticator_class = "hub.auth.StockBotAuthenticator"
    # NativeAuthenticator adds its templates to the async template environment only; error pages of
    # a login POST render synchronously, so both environments need them
    import nativeauthenticator

    c.JupyterHub.template_paths = [str(Path(nativeauthenticator.__file__).parent / "templates")]
    admin = os.environ.get("STOCKBOT_ADMIN_USER", "admin")
    c.Authenticator.admin_users = {admin}
    c.NativeAuthenticator.open_signup = False  # sign-ups wait for an admin's approval
    # NativeAuthenticator admits only users an admin approved (it checks that when authenticating);
    # JupyterHub 5+ would otherwise refuse everyone who is not listed in allowed_users
    c.NativeAuthenticator.allow_all = True
    c.NativeAuthenticator.minimum_password_length = 10
    c.NativeAuthenticator.check_common_password = True
    c.NativeAuthenticator.allowed_failed_logins = 5
    c.NativeAuthenticator.seconds_before_next_try = 600

    spawner = os.environ.get("STOCKBOT_SPAWNER") or "simple"
    users = home / "users"
    if spawner == "simple":
        # every user's server runs as this OS user, in $STOCKBOT_HOME/users/<name>/: it isolates
        # nothing (users can read each other's files and the platform's), so trusted users only
        c.JupyterHub.spawner_class = "simple"
        c.SimpleLocalProcessSpawner.home_dir_template = str(users / "{username}")
    elif spawner == "local-users":
        _local_users(c, home, users)
    else:
        raise ValueError(f"STOCKBOT_SPAWNER={spawner!r} is not known: use one of {', '.join(SPAWNERS)}")
    c.Spawner.default_url = "/lab"
    # the single-user server of the hub's own environment, whatever PATH the hub was started with
    c.Spawner.cmd = [str(Path(sys.executable).parent / "jupyterhub-singleuser")]
    c.Spawner.pre_spawn_hook = _copy_notebooks(root, users, system_accounts=spawner == "local-users")
    if os.geteuid() == 0:
        c.Spawner.args = ["--allow-root"]
    service_port = _port("STOCKBOT_SERVICE_PORT", 8002)
    service_url = f"http://127.0.0.1:{service_port}"
    passed = {k: os.environ[k] for k in _PASSED_ENV if k in os.environ}
    c.Spawner.environment = {
        # never the store's address: users reach runs through the service, which checks ownership
        **{k: v for k, v in passed.items() if k != "STOCKBOT_MONGO_URI"},
        "STOCKBOT_HOME": str(home),
        "STOCKBOT_SPAWNER": spawner,  # live accounts only when it isolates users
        # notebooks in a user's server reach the service directly (their token authenticates them)
        "STOCKBOT_SERVICE_URL": f"{service_url}/services/{SERVICE}/",
        # the user's server's Voila pages ask no public CDN for anything (hub/jupyter/: a template
        # linking Font Awesome from the server itself, and MathJax from JupyterLab's bundle)
        "JUPYTER_CONFIG_PATH": str(root / "hub" / "jupyter" / "config"),
        "JUPYTER_PATH": str(root / "hub" / "jupyter" / "share"),
    }
    _service(c, root, home, service_url, {**passed, "STOCKBOT_SPAWNER": spawner})


SERVICE = "stockbot"
# what the service and user servers inherit from the hub's environment (JupyterHub passes little)
_PASSED_ENV = (
    "PATH",
    "LANG",
    "CI",
    "STOCKBOT_MONGO_URI",
    "STOCKBOT_EXECUTOR_CONCURRENCY",
    "STOCKBOT_HEARTBEAT_SECONDS",
    "STOCKBOT_STALE_SECONDS",
    "STOCKBOT_NOTEBOOKS",
    "OMP_NUM_THREADS",
    "STOCKBOT_BROKER_REHEARSAL",  # an admin's: replays may reach live accounts (sandboxes, stand-ins)
)


def _service(c: Any, root: Path, home: Path, url: str, passed: dict[str, str]) -> None:
    """The StockBot service (API, streams, dashboards) and the roles that let people reach it."""
    port = c.JupyterHub.bind_url.rsplit(":", 1)[-1]
    hosts = os.environ.get("STOCKBOT_PUBLIC_HOSTS") or f"127.0.0.1:{port},localhost:{port}"
    # after login people land on their dashboard; JupyterLab is one link away (and /hub/home)
    c.JupyterHub.default_url = f"/services/{SERVICE}/dashboard"
    c.JupyterHub.services = [
        {
            "name": SERVICE,
            "url": url,
            "command": [sys.executable, "-m", "hub.service"],
            "cwd": str(root),
            "environment": {
                **passed,
                "PYTHONPATH": str(root),
                "STOCKBOT_HOME": str(home),
                "STOCKBOT_PUBLIC_HOSTS": hosts,
            },
            "oauth_no_confirm": True,
            "display": True,
        }
    ]
    access = f"access:services!service={SERVICE}"
    c.JupyterHub.load_roles = [
        # JupyterHub 6's default user role does not let users open services
        {"name": "user", "scopes": ["self", access]},
        # a user's notebooks call the service with their server's token, as that user
        {"name": "server", "scopes": ["users:activity!user", "access:servers!user", access]},
    ]
    c.Spawner.server_token_scopes = ["users:activity!user", "access:servers!user", access]


SPAWNERS = ("simple", "local-users")  # stockbot.live.control.ISOLATING_SPAWNERS: those that isolate


def _local_users(c: Any, home: Path, users: Path) -> None:
    """One system account per hub user (``LocalProcessSpawner``): each server runs as the account
    of the same name, in ``users/<name>/``, which belongs to that account. The hub runs as root."""
    if os.geteuid() != 0:
        raise RuntimeError("STOCKBOT_SPAWNER=local-users starts servers as other accounts: run it as root")
    c.JupyterHub.spawner_class = "localprocess"
    c.Spawner.notebook_dir = str(users / "{username}")
    # accounts pass through these two folders to reach their own users/<name>/ but cannot list them;
    # everything else in the state folder is 0600/0700 (umask 077), so passing through opens nothing
    users.mkdir(parents=True, exist_ok=True)
    for folder in (home, users):
        os.chmod(folder, 0o711)


def _copy_notebooks(root: Path, users: Path, system_accounts: bool = False) -> Any:
    """A pre-spawn hook giving each user the project's job notebooks and Voila dashboards (never
    overwriting their edits) and an empty ``data/`` folder for their own files, in ``users/<name>/``.

    With ``system_accounts`` the folder and what the hook creates in it belong to the user's account.
    The hook then runs as root in a folder that account controls, so it never follows a link: each
    folder is opened with ``O_NOFOLLOW`` (a folder swapped for a link stops the spawn with a message)
    and each file created with ``O_EXCL`` (a link the user planted, dangling or not, is skipped
    instead of written through).
    """
    import pwd

    def hook(spawner: Any) -> None:
        name = spawner.user.name
        if name in ("", ".", "..") or "/" in name or "\0" in name:  # one folder inside users/, no other
            raise RuntimeError(f"the user name {name!r} cannot name a folder")
        account = None
        if system_accounts:
            try:
                account = pwd.getpwnam(name)
            except KeyError:
                raise RuntimeError(f"the hub user {name!r} has no system account of that name") from None
        owner = (account.pw_uid, account.pw_gid) if account else None
        users.mkdir(parents=True, exist_ok=True)
        top = os.open(users, os.O_RDONLY | os.O_DIRECTORY)
        try:
            folder = _open_folder(top, name, owner)
        finally:
            os.close(top)
        try:
            if owner:  # the user's own folder, whoever created it first
                os.fchown(folder, *owner)
                os.fchmod(folder, 0o700)
            os.close(_open_folder(folder, "data", owner))
            for kind in ("notebooks", "dashboards"):
                target = _open_folder(folder, kind, owner)
                try:
                    for nb in sorted((root / kind).glob("*.ipynb")):
                        _create_file(target, nb.name, nb.read_bytes(), owner)
                finally:
                    os.close(target)
        finally:
            os.close(folder)

    return hook


def _open_folder(parent: int, name: str, owner: tuple[int, int] | None) -> int:
    """``name`` inside the folder ``parent``, created if missing and opened without following a
    link; given to ``owner`` if this account holds it (new, or made before users had accounts)."""
    try:
        os.mkdir(name, 0o700, dir_fd=parent)
        created = True
    except FileExistsError:
        created = False
    try:
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent)
    except OSError as e:
        raise RuntimeError(f"{name!r} in a user's folder is not a plain folder ({e.strerror})") from e
    if owner and (created or os.fstat(fd).st_uid == os.geteuid()):
        os.fchown(fd, *owner)
    return fd


def _hand_over(folder: int, name: str, owner: tuple[int, int]) -> None:
    try:  # O_NONBLOCK: a FIFO planted under that name must not hang the hub
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=folder)
    except OSError:  # a link (ELOOP) or nothing readable: not ours to hand over
        return
    try:
        info = os.fstat(fd)
        if stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid():
            os.fchown(fd, *owner)
    finally:
        os.close(fd)


def _create_file(folder: int, name: str, content: bytes, owner: tuple[int, int] | None) -> None:
    """Write a new file ``name`` in ``folder``; leave whatever is already there (a link, the user's
    edits), except that a plain file this account made before users had accounts goes to ``owner``."""
    try:
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=folder)
    except FileExistsError:
        if owner:
            _hand_over(folder, name, owner)
        return
    with os.fdopen(fd, "wb") as fh:
        if owner:
            os.fchown(fh.fileno(), *owner)
        fh.write(content)
