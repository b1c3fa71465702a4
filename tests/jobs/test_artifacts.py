"""Artifacts: list, read, zip; nothing outside the run folder."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest

from stockbot.errors import JobError
from stockbot.jobs import list_artifacts, read_artifact, run_dir, zip_run
from stockbot.jobs.artifacts import resolve

pytestmark = pytest.mark.timeout(60)
RUN = "20261125-120000-backtest-0a1b"


@pytest.fixture
def run(job_home: Path) -> Path:
    folder = run_dir(RUN)
    (folder / "plots").mkdir(parents=True, exist_ok=True)
    (folder / "equity.csv").write_text("timestamp,equity\n")
    (folder / "plots" / "equity.png").write_bytes(b"\x89PNG")
    secret = job_home / "secret.txt"
    secret.write_text("not yours")
    link = folder / "escape.txt"
    if not link.is_symlink():
        os.symlink(secret, link)
    return folder


def test_list_read_and_zip(run: Path) -> None:
    paths = [a["path"] for a in list_artifacts(RUN)]
    assert paths == ["equity.csv", "plots/equity.png"]  # the symlink out is not listed
    assert read_artifact(RUN, "plots/equity.png") == b"\x89PNG"
    names = zipfile.ZipFile(io.BytesIO(zip_run(RUN))).namelist()
    assert names == [f"{RUN}/equity.csv", f"{RUN}/plots/equity.png"]


@pytest.mark.parametrize(
    ("path", "needle"),
    [
        ("../secret.txt", "without '..'"),
        ("plots/../../secret.txt", "without '..'"),
        ("/etc/passwd", "relative to the run folder"),
        ("escape.txt", "leads outside the run folder"),
        ("missing.csv", "has no artifact"),
        ("", "relative to the run folder"),
    ],
)
def test_paths_outside_the_run_are_refused(run: Path, path: str, needle: str) -> None:
    with pytest.raises(JobError, match=needle):
        resolve(RUN, path)


def test_run_ids_are_checked(job_home: Path) -> None:
    with pytest.raises(JobError, match="is not a run id"):
        run_dir("../../etc")


@pytest.mark.parametrize(
    "relpath",
    ["equity.csv\x00.png", "\x00", "equity.csv\n", "plots/\x7fequity.png", "\udcc0\udcae", "a\ud800.csv"],
)
def test_malformed_paths_are_refused_as_job_errors(run: Path, relpath: str) -> None:
    """Not the OS's ValueError (NUL) or UnicodeEncodeError (a lone surrogate): a JobError."""
    with pytest.raises(JobError, match="artifact path"):
        resolve(RUN, relpath)
    with pytest.raises(JobError):
        read_artifact(RUN, relpath)
