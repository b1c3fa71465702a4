"""A run's artifacts: list, read one file, zip the folder; nothing outside the run folder."""

from __future__ import annotations

import io
import shutil
import uuid
import zipfile
from pathlib import Path
from typing import Any

from stockbot.errors import JobError
from stockbot.jobs.kinds import run_dir
from stockbot.safepath import path_text_problem


def _inside(root: Path, candidate: Path) -> bool:
    return candidate == root or root in candidate.parents


def resolve(run_id: str, relpath: str) -> Path:
    """The file ``relpath`` of a run; refuses absolute paths, ``..`` and symlinks that lead out."""
    problem = path_text_problem(relpath)
    if problem:
        raise JobError(f"artifact path {relpath!r} {problem}")
    root = run_dir(run_id).resolve()
    rel = Path(relpath)
    if rel.is_absolute() or ".." in rel.parts or not relpath.strip():
        raise JobError(f"artifact path {relpath!r} must be relative to the run folder, without '..'")
    target = (root / rel).resolve()  # follows symlinks: a link out of the folder resolves outside
    if not _inside(root, target):
        raise JobError(f"artifact path {relpath!r} leads outside the run folder")
    if not target.is_file():
        raise JobError(f"run {run_id} has no artifact {relpath!r}")
    return target


def list_artifacts(run_id: str) -> list[dict[str, Any]]:
    root = run_dir(run_id).resolve()
    if not root.is_dir():
        raise JobError(f"no run folder for {run_id}")
    out = []
    for p in sorted(root.rglob("*")):
        if p.is_symlink() or not p.is_file() or not _inside(root, p.resolve()):
            continue
        out.append({"path": p.relative_to(root).as_posix(), "size": p.stat().st_size})
    return out


def read_artifact(run_id: str, relpath: str) -> bytes:
    return resolve(run_id, relpath).read_bytes()


def zip_run(run_id: str) -> bytes:
    """The run folder as a zip (only regular files inside it)."""
    root = run_dir(run_id).resolve()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for item in list_artifacts(run_id):
            zf.write(root / item["path"], arcname=f"{run_id}/{item['path']}")
    return buf.getvalue()


def delete_run_folder(run_id: str) -> None:
    """Remove the run folder ``runs/<id>/`` and everything in it; no error if it is already gone.

    The folder is first renamed into ``runs/.deleting/`` (one atomic step), so the run's files are
    never seen half-removed under its own name, and a removal cut short by a crash is finished by
    the next call for the same run. A link in place of the folder is removed, never followed."""
    folder = run_dir(run_id)
    trash = folder.parent / ".deleting"
    if folder.is_symlink():
        folder.unlink()
    elif folder.exists():
        trash.mkdir(mode=0o700, exist_ok=True)
        folder.rename(trash / f"{run_id}.{uuid.uuid4().hex[:8]}")
    for leftover in trash.glob(f"{run_id}.*") if trash.is_dir() else ():
        shutil.rmtree(leftover)
