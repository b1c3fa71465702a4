"""``make run``: the whole platform in the foreground until Ctrl-C.

Starts the embedded store (unless ``STOCKBOT_MONGO_URI`` is set) and the job executor, then
JupyterHub with its proxy, the StockBot service and the user servers it spawns. It shows one line
per component as each answers, then the URL and, at the first start, the admin's password (once).
The hub's own output goes to ``$STOCKBOT_HOME/logs/jupyterhub.log``: while it starts, the proxy
logs every poll it cannot route yet, which reads like a failure and is not one.

While it runs it supervises the store and the executor: one that dies is restarted within a few
seconds, and that is logged (here and in ``$STOCKBOT_HOME/logs/platform.log``). Ctrl-C (or
SIGTERM) stops the hub — which stops its proxy, service and user servers — then the executor, any
job a dead executor left behind, and the store: nothing is left running or listening.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

ROOT = Path(__file__).resolve().parents[1]
NODE_MIN = (20, 0)  # configurable-http-proxy 5.3.0's own requirement (hub/package.json)
WATCH_SECONDS = 1.0
LOG_TAIL = 4000


class Console:
    """What ``make run`` tells the person at the terminal, copied to ``logs/platform.log``."""

    def __init__(self, log_path: Path, out: TextIO = sys.stdout) -> None:
        self.log_path = log_path
        self.out = out

    def say(self, text: str, *, log: bool = True) -> None:
        print(text, file=self.out, flush=True)
        if log:
            stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
            with self.log_path.open("a") as fh:
                fh.write(f"{stamp} {text.strip()}\n")

    def step(self, name: str, detail: str, started: float) -> None:
        self.say(f"  {name:<9} ready  {detail}  ({time.monotonic() - started:.1f} s)")


def node_problem(node: str | None = None) -> str | None:
    """Why the Node.js on PATH cannot run JupyterHub's proxy, or None when it can."""
    node = node or shutil.which("node")
    if not node:
        return f"Node.js {NODE_MIN[0]} or newer is needed (for JupyterHub's proxy) and none is on PATH"
    try:
        version = subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as e:
        return f"cannot run {node} --version: {e}"
    m = re.match(r"v?(\d+)\.(\d+)", version)
    if not m or (int(m.group(1)), int(m.group(2))) < NODE_MIN:
        return f"Node.js {NODE_MIN[0]} or newer is needed (for JupyterHub's proxy); {node} is {version}"
    return None


def _answers(url: str, hub: subprocess.Popen[bytes], timeout: float, accept: tuple[int, ...] = ()) -> bool:
    """Poll ``url`` until it answers 2xx (or one of the ``accept`` error codes: an anonymous API call
    gets 401 once the service serves); False after ``timeout`` s. The hub exiting meanwhile ends
    ``make run``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if hub.poll() is not None:
            raise HubExited(hub.returncode)
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


class HubExited(Exception):
    def __init__(self, code: int | None) -> None:
        super().__init__(f"JupyterHub exited with code {code} while starting")


def _tail(path: Path, limit: int = LOG_TAIL) -> str:
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError:
        return ""


class Watch:
    """Restarts the store and the executor when one dies (checked every ``WATCH_SECONDS``)."""

    def __init__(self, home: Path, console: Console, store: bool) -> None:
        self.home = home
        self.console = console
        self.store = store

    def check(self) -> None:
        try:
            self._check()
        except Exception as e:  # a restart that failed is tried again at the next check
            self.console.say(f"! could not restart a component: {e}")

    def _check(self) -> None:
        from stockbot.jobs import ensure_executor, executor_status
        from stockbot.procs import alive
        from stockbot.store.server import ensure_store, recorded_store

        if self.store:
            record = recorded_store(self.home)  # its pid only: no connection every second
            pid = record.pid if record else None
            if not alive(pid):
                self.console.say(f"! the store (pid {pid}) died: restarting it")
                info = ensure_store(self.home)
                self.console.say(f"  store     restarted (pid {info.pid})")
        status = executor_status(self.home)
        if not status["running"]:
            self.console.say(f"! the executor (pid {status.get('pid')}) died: restarting it")
            info = ensure_executor(self.home)
            self.console.say(f"  executor  restarted (pid {info['pid']})")
            with (self.home / "executor.log").open("a") as fh:
                dead, new = status.get("pid"), info["pid"]
                fh.write(f"make run: the executor (pid {dead}) died; restarted as pid {new}\n")


def end_orphans(console: Console) -> None:
    """Jobs whose executor died are ended and recorded lost (their watchdog normally did already)."""
    from stockbot.jobs.supervisor import recover
    from stockbot.store.runs import RunStore

    try:
        lost = recover(RunStore())
    except Exception as e:  # stopping goes on: the next start's recovery finds them
        console.say(f"! could not check for jobs left running: {e}")
        return
    for run_id in lost:
        console.say(f"  run {run_id} was left running by a dead executor: ended, marked lost")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hub", description=__doc__)
    parser.add_argument("--host", default=os.environ.get("STOCKBOT_HUB_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("STOCKBOT_HUB_PORT", "8000")))
    args = parser.parse_args(argv)

    from stockbot.paths import private_umask

    private_umask()  # the hub's database, the store, secrets and logs: this account's alone
    home = Path(os.environ.get("STOCKBOT_HOME") or ROOT / ".stockbot").resolve()
    os.environ["STOCKBOT_HOME"] = str(home)
    (home / "hub").mkdir(parents=True, exist_ok=True)
    (home / "logs").mkdir(parents=True, exist_ok=True)
    console = Console(home / "logs" / "platform.log")
    problem = node_problem()
    if problem:
        console.say(f"cannot start: {problem}. See the README's set-up.")
        return 2
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
    url = f"http://{args.host}:{args.port}"
    hub_log = home / "logs" / "jupyterhub.log"
    if new_password:  # at once, and only here: if the hub then fails to start it is not lost
        console.say(
            f"\nadmin account: user {admin!r}, password {new_password}\n"
            f"(shown this once; change it after logging in at {url}/hub/change-password)\n",
            log=False,  # never into a log file
        )
    console.say(f"starting StockBot (state: {home})")
    started_store = False
    hub: subprocess.Popen[bytes] | None = None
    try:
        t0 = time.monotonic()
        if not env.get("STOCKBOT_MONGO_URI"):
            started_store = True
            info = ensure_store(home)
            console.step("store", f"embedded, {info.address}", t0)
        else:
            console.step("store", "STOCKBOT_MONGO_URI", t0)
        t0 = time.monotonic()
        console.step("executor", f"pid {ensure_executor(home)['pid']}", t0)
        t0 = time.monotonic()
        with hub_log.open("ab") as logfh:
            hub = subprocess.Popen(
                [str(Path(sys.executable).parent / "jupyterhub"), "-f", str(ROOT / "jupyterhub_config.py")],
                cwd=home / "hub",
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=logfh,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches us alone; we stop the hub in order
            )
        ready = _wait_for_components(hub, url, env, console, t0)
        lines = [f"StockBot is running at {url}/  (dashboards: {url}/services/stockbot/dashboard)"]
        if not ready:
            lines.append(f"the StockBot service has not answered yet; see {hub_log}")
        if new_password:
            lines.append(f"log in as {admin!r} with the password shown above")
        else:
            lines.append(f"log in as {admin!r} with the password set at the first start")
        lines.append(f"logs: {home / 'logs'}")
        lines.append(f"state: {home}    stop: Ctrl-C")
        width = max(len(line) for line in lines)
        console.say("\n" + "=" * width + "\n" + "\n".join(lines) + "\n" + "=" * width + "\n", log=False)
        watch = Watch(home, console, started_store)
        while hub.poll() is None:
            time.sleep(WATCH_SECONDS)
            watch.check()
        console.say(f"! JupyterHub exited with code {hub.returncode}; its log:\n{_tail(hub_log)}")
    except KeyboardInterrupt:
        pass
    except (HubExited, TimeoutError) as e:
        console.say(f"cannot start: {e}. The end of {hub_log}:\n{_tail(hub_log)}")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        console.say("stopping StockBot ...", log=True)
        if hub is not None:
            stop_group(hub, timeout=60)  # the hub stops its proxy, the service and user servers
        # what a hub that crashed (or was killed) could not stop: its own proxy and the service
        _end(home / "hub" / "service.pid", "hub.service")
        _end(home / "hub" / "proxy.pid", "configurable-http-proxy")
        stop_executor(home)
        end_orphans(console)
        if started_store:
            stop_store(home)
        console.say("StockBot stopped.")
    return 0 if stopping else 1


def _wait_for_components(
    hub: subprocess.Popen[bytes], url: str, env: dict[str, str], console: Console, t0: float
) -> bool:
    """One line per component as it answers: the hub (on its own port, not through the proxy, so
    the proxy has nothing to complain about), the proxy, the service. False if the service has not
    answered in time; TimeoutError if the hub or the proxy did not."""
    hub_api = f"http://127.0.0.1:{env.get('STOCKBOT_HUB_API_PORT', '8081')}/hub/api"
    checks: list[tuple[str, str, float, tuple[int, ...], Callable[[], str]]] = [
        ("hub", hub_api, 120, (), lambda: "JupyterHub"),
        ("proxy", f"{url}/hub/api", 60, (), lambda: url),
        ("service", f"{url}/services/stockbot/api/auth/me", 60, (401, 403), lambda: "dashboards and API"),
    ]
    for name, probe, timeout, accept, detail in checks:
        if not _answers(probe, hub, timeout, accept):
            if name == "service":
                return False
            raise TimeoutError(f"the {name} did not answer at {probe} within {timeout:.0f} s")
        console.step(name, detail(), t0)
    return True


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
