"""A real executed job notebook (the backtest notebook run by Papermill, as the executor runs it) and
the service's library route in a real tornado server on loopback, both shared by a module."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import environ

ROOT = Path(__file__).parents[2]
RUN_ID = "20260101-000000-backtest-abcd"
BACKTEST = {
    "data": {"provider": "sample", "dataset": "dow29", "symbols": ["KO", "PG"], "start": "2017-06-01"},
    "policy": {"type": "buy_and_hold"},
}


@pytest.fixture(scope="module")
def report_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("reports-home")
    with environ(STOCKBOT_HOME=str(home), STOCKBOT_MONGO_URI=None):
        yield home


@pytest.fixture
def stockbot_home(report_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Overrides the suite's per-test home: these tests share the module's executed run."""
    monkeypatch.setenv("STOCKBOT_HOME", str(report_home))
    return report_home


@pytest.fixture(scope="module")
def executed_notebook(report_home: Path) -> Path:
    """The run folder's ``notebook.ipynb`` of a backtest executed by Papermill."""
    import papermill

    from stockbot.jobs.kinds import run_dir

    folder = run_dir(RUN_ID)
    folder.mkdir(parents=True)
    config = report_home / "backtest.yaml"
    config.write_text(yaml.safe_dump(BACKTEST))
    out = folder / "notebook.ipynb"
    papermill.execute_notebook(
        str(ROOT / "notebooks" / "backtest.ipynb"),
        str(out),
        parameters={"run_id": RUN_ID, "config_path": str(config)},
        kernel_name="python3",
        progress_bar=False,
        cwd=str(folder),
    )
    return out


@pytest.fixture(scope="module")
def library_server() -> Iterator[str]:
    """``hub.static``'s routes under ``/services/stockbot`` on 127.0.0.1; yields the base URL."""
    import tornado.web
    from tornado.httpserver import HTTPServer

    from hub.static import routes

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict[str, HTTPServer] = {}

    def run() -> None:
        asyncio.set_event_loop(loop)
        app = tornado.web.Application([(f"/services/stockbot{r}", h, kw) for r, h, kw in routes()])
        holder["server"] = HTTPServer(app)
        holder["server"].listen(port, address="127.0.0.1")
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    started.wait(10)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:

        async def stop() -> None:
            holder["server"].stop()
            await holder["server"].close_all_connections()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
