"""The command line, run as a user runs it (a real subprocess for make run's command)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from stockbot.cli import main

ROOT = Path(__file__).parents[1]
pytestmark = pytest.mark.timeout(180)


def test_hmm_fit_demo_end_to_end(tmp_path: Path, stockbot_home: Path) -> None:
    out = tmp_path / "demo"
    env = {**os.environ, "STOCKBOT_HOME": str(stockbot_home)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "stockbot.cli",
            "hmm",
            "fit",
            "-c",
            str(ROOT / "examples" / "hmm_fit.yaml"),
            "--out",
            str(out),
            "--set",
            "data.symbols=[AAPL,MSFT,KO,XOM]",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=170,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Regimes (forward-filtered" in proc.stdout
    assert "sample dow29" in proc.stdout
    for name in (
        "config.yaml",
        "obsnorm.json",
        "hmm.json",
        "regimes.csv",
        "summary.json",
        "data_report.json",
    ):
        assert (out / name).is_file(), name
    png = (out / "plots" / "regimes.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rows"]["train"] > 0 and summary["rows"]["test"] > 0
    assert len(summary["regimes"]) == 3


def test_bad_config_is_one_clear_line(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["hmm", "fit", "--out", str(tmp_path), "--set", "data.provder=csv"])
    assert res.exit_code == 2
    assert "data.provder: unknown key" in res.output
    assert "Traceback" not in res.output


def test_data_load_prints_report(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        main,
        [
            "data",
            "load",
            "--set",
            "dataset=wiki5",
            "--set",
            "symbols=[AAPL,FB]",
            "--out",
            str(tmp_path / "b.parquet"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "timestamps dropped to align symbols" in res.output
    assert (tmp_path / "b.parquet").is_file()
