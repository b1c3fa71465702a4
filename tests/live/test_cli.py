"""``stockbot live``: start a supervised session from a config, watch it finish, read its status;
an ended session takes no more requests."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from pymongo.database import Database

from stockbot.cli import main
from stockbot.live.folder import session_dir
from stockbot.live.store import LiveStore

pytestmark = pytest.mark.timeout(240)


def test_live_start_runs_a_supervised_session_to_its_end(
    live_db: Database, trained_run: Path, tmp_path: Path
) -> None:
    cfg = tmp_path / "live.yaml"
    clock = {"kind": "replay", "start": "2017-04-03", "end": "2017-04-21"}
    cfg.write_text(yaml.safe_dump({"policy": {"path": str(trained_run)}, "clock": clock}))
    runner = CliRunner()
    res = runner.invoke(main, ["live", "start", "-c", str(cfg), "--set", "name=cli test"])
    assert res.exit_code == 0, res.output
    sid = res.output.strip().splitlines()[-1]
    store = LiveStore(live_db)
    deadline = time.monotonic() + 180
    while store.get(sid)["status"] not in ("finished", "failed") and time.monotonic() < deadline:
        time.sleep(0.2)
    status = json.loads(runner.invoke(main, ["live", "status", sid]).output)
    assert status["status"] == "finished" and status["name"] == "cli test"
    assert status["pid"] and status["restarts"] == 0 and status["risk"]["status"] == "active"
    assert sid in runner.invoke(main, ["live", "list"]).output
    trades = (session_dir(sid) / "trades.csv").read_text().splitlines()
    assert len(trades) > 5
    late = runner.invoke(main, ["live", "kill", sid])
    assert late.exit_code == 2 and "takes no more requests" in late.output
    missing = runner.invoke(main, ["live", "status", "live-nope"])
    assert missing.exit_code == 2 and "no live session live-nope" in missing.output
