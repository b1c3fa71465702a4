"""Wiring of ``jupyterhub_config.py``: values from the environment, logic kept out of the config."""

from __future__ import annotations

import os
import secrets
import shutil
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

    # every user's server runs as this OS user, in $STOCKBOT_HOME/users/<name>/: trusted users only
    # (see the README for deployments that isolate users)
    c.JupyterHub.spawner_class = "simple"
    c.SimpleLocalProcessSpawner.home_dir_template = str(home / "users" / "{username}")
    c.Spawner.default_url = "/lab"
    # the single-user server of the hub's own environment, whatever PATH the hub was started with
    c.Spawner.cmd = [str(Path(sys.executable).parent / "jupyterhub-singleuser")]
    c.Spawner.pre_spawn_hook = _copy_notebooks(root)
    if os.geteuid() == 0:
        c.Spawner.args = ["--allow-root"]
    service_port = _port("STOCKBOT_SERVICE_PORT", 8002)
    service_url = f"http://127.0.0.1:{service_port}"
    passed = {k: os.environ[k] for k in _PASSED_ENV if k in os.environ}
    c.Spawner.environment = {
        # never the store's address: users reach runs through the service, which checks ownership
        **{k: v for k, v in passed.items() if k != "STOCKBOT_MONGO_URI"},
        "STOCKBOT_HOME": str(home),
        # notebooks in a user's server reach the service directly (their token authenticates them)
        "STOCKBOT_SERVICE_URL": f"{service_url}/services/{SERVICE}/",
    }
    _service(c, root, home, service_url, passed)


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


def _copy_notebooks(root: Path) -> Any:
    """A pre-spawn hook giving each user the project's job notebooks and Voila dashboards (never
    overwriting their edits) and an empty ``data/`` folder for their own files."""
    import shutil

    def hook(spawner: Any) -> None:
        home = Path(spawner.home_dir)
        (home / "data").mkdir(parents=True, exist_ok=True)
        for folder in ("notebooks", "dashboards"):
            target = home / folder
            target.mkdir(exist_ok=True)
            for nb in sorted((root / folder).glob("*.ipynb")):
                if not (target / nb.name).exists():
                    shutil.copyfile(nb, target / nb.name)

    return hook
