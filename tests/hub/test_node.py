"""``make run`` checks the Node.js that will run JupyterHub's proxy before starting anything."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from hub.launch import NODE_MIN, node_problem

pytestmark = pytest.mark.timeout(30)


def fake_node(tmp_path: Path, version: str) -> str:
    path = tmp_path / "node"
    path.write_text(f"#!/bin/sh\necho {version}\n")
    path.chmod(0o755)
    return str(path)


@pytest.mark.parametrize("version", ["v18.19.1", "v16.20.2", "v19.9.0"])
def test_an_old_node_is_refused_with_the_version_needed(tmp_path: Path, version: str) -> None:
    problem = node_problem(fake_node(tmp_path, version))
    assert problem is not None and version in problem and f"Node.js {NODE_MIN[0]} or newer" in problem


@pytest.mark.parametrize("version", ["v20.0.0", "v20.20.2", "v22.12.0", "v24.1.0"])
def test_a_supported_node_passes(tmp_path: Path, version: str) -> None:
    assert node_problem(fake_node(tmp_path, version)) is None


def test_no_node_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert "none is on PATH" in str(node_problem())


def test_the_real_node_here_runs_the_proxy() -> None:
    """The machine's own Node.js passes, and the proxy installed from hub/package-lock.json answers
    --version with the locked release."""
    assert node_problem() is None
    chp = Path(__file__).parents[2] / ".hub-node" / "node_modules" / ".bin" / "configurable-http-proxy"
    out = subprocess.run([str(chp), "--version"], capture_output=True, text=True, timeout=20, check=True)
    assert out.stdout.strip() == "5.3.0"
