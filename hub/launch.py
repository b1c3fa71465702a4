"""``make run``: the whole platform in the foreground until Ctrl-C.

Starts the embedded store (unless ``STOCKBOT_MONGO_URI`` is set) and the job executor, then
JupyterHub with its proxy, the StockBot service and the user servers it spawns. Prints the URL and,
at the first start, the admin's credentials. Ctrl-C (or SIGTERM) stops the hub — which stops its
proxy, service and user servers — then the executor and the store: nothing is left listening.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _answers(url: str, hub: subprocess.Popen[bytes], timeout: float, accept: tuple[int, ...] = ()) -> bool:
    """Poll ``url`` until it answers 2xx (or one of the ``accept`` error codes: an anonymous API call
    gets 401 once the service serves); False after ``timeout`` s. The hub exiting meanwhile ends
    ``make run``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if hub.poll() is not None:
            raise SystemExit(f"JupyterHub exited with code {hub.returncode} while starting (see above)")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except urllib.error.HTTPError as e:
            if e.code in accept:
                return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hub", description=__doc__)
    parser.add_argument("--host", default=os.environ.get("STOCKBOT_HUB_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("STOCKBOT_HUB_PORT", "8000")))
    args = parser.parse_args(argv)

    home = Path(os.environ.get("STOCKBOT_HOME") or ROOT / ".stockbot").resolve()
    os.environ["STOCKBOT_HOME"] = str(home)
    (home / "hub").mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "STOCKBOT_HUB_HOST": args.host, "STOCKBOT_HUB_PORT": str(args.port)}
    admin = env.get("STOCKBOT_ADMIN_USER", "admin")
    new_password = None
    if not (home / "hub" / "jupyterhub.sqlite").exists() and not env.get("STOCKBOT_ADMIN_PASSWORD"):
        new_password = env["STOCKBOT_ADMIN_PASSWORD"] = secrets.token_urlsafe(12)

    from stockbot.jobs import ensure_executor, stop_executor
    from stockbot.procs import stop_group
    from stockbot.store.server import ensure_store, stop_store

    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        raise KeyboardInterrupt

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # Ctrl-C, kill, a closed terminal
        signal.signal(sig, stop)
    if new_password:  # at once: if the hub then fails to start, the password is not lost
        print(f"\nadmin account: user {admin!r}, password {new_password}  (shown once)\n", flush=True)
    started_store = False
    hub: subprocess.Popen[bytes] | None = None
    url = f"http://{args.host}:{args.port}"
    try:
        if not env.get("STOCKBOT_MONGO_URI"):
            started_store = True
            ensure_store(home)
        ensure_executor(home)
        hub = subprocess.Popen(
            [str(Path(sys.executable).parent / "jupyterhub"), "-f", str(ROOT / "jupyterhub_config.py")],
            cwd=home / "hub",
            env=env,
            start_new_session=True,  # Ctrl-C reaches us alone; we stop the hub in order
        )
        if not _answers(f"{url}/hub/api", hub, 120):
            raise SystemExit(f"JupyterHub did not answer at {url}/hub/api within 120 s")
        ready = _answers(f"{url}/services/stockbot/api/auth/me", hub, 60, accept=(401, 403))
        lines = [f"StockBot is running at {url}/  (dashboards: {url}/services/stockbot/dashboard)"]
        if not ready:
            lines.append("the StockBot service has not answered yet; see the hub's log above")
        if new_password:
            lines.append(f"admin account: user {admin!r}, password {new_password}  (shown once)")
        else:
            lines.append(f"log in as {admin!r} with the password set at the first start")
        lines.append(f"state: {home}    stop: Ctrl-C")
        width = max(len(line) for line in lines)
        print("\n" + "=" * width + "\n" + "\n".join(lines) + "\n" + "=" * width + "\n", flush=True)
        hub.wait()
    except KeyboardInterrupt:
        pass
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        if hub is not None:
            stop_group(hub, timeout=60)  # the hub stops its proxy, the service and user servers
        # what a hub that crashed (or was killed) could not stop: its own proxy and the service
        _end(home / "hub" / "service.pid", "hub.service")
        _end(home / "hub" / "proxy.pid", "configurable-http-proxy")
        stop_executor(home)
        if started_store:
            stop_store(home)
        print("StockBot stopped.", flush=True)
    return 0 if stopping or hub is None else (hub.returncode or 0)


def _end(pid_file: Path, marker: str) -> None:
    """Terminate the process a pid file names, if it is still the one we started (its command line
    holds ``marker``: a pid may have been reused)."""
    from stockbot.procs import alive, terminate

    try:
        pid = int(pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except (OSError, ValueError):
        return
    if marker in cmdline and alive(pid):
        terminate(pid, timeout=10)


if __name__ == "__main__":
    sys.exit(main())
