"""A run's executed notebook as a read-only HTML report (nbconvert), served by the API."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from hub.api import APIHandler
from stockbot.jobs.kinds import run_dir
from stockbot.paths import stockbot_home
from stockbot.store.runs import TERMINAL, RunStatus


class NotebookHandler(APIHandler):
    """The executed notebook of a run as HTML (nbconvert), read-only: it is never executed again."""

    async def get(self, run_id: str) -> None:
        doc = await self.visible_run(run_id)
        path = run_dir(run_id) / "notebook.ipynb"
        if not path.is_file():
            self.fail(404, f"run {run_id} has no executed notebook (yet)")
        final = RunStatus(doc["status"]) in TERMINAL
        try:
            html = await self.call(notebook_html, path, final)
        except Exception as e:  # a notebook Papermill is still writing may not parse yet
            self.fail(503, f"the notebook of run {run_id} cannot be shown yet: {type(e).__name__}")
        self.set_header("Content-Type", "text/html; charset=utf-8")
        # the notebook's outputs run in a sandbox of their own origin: they cannot act as the viewer
        self.set_header("Content-Security-Policy", "sandbox allow-scripts")
        self.finish(html)


def notebook_html(path: Path, cache: bool) -> str:
    """nbconvert's HTML of ``path``. A finished run's is cached outside the run folder (the run's
    files stay what the job wrote), written whole before it is visible."""
    cached = stockbot_home() / "cache" / "notebooks" / f"{path.parent.name}.html"
    if cache and cached.is_file() and cached.stat().st_mtime >= path.stat().st_mtime:
        return cached.read_text()
    import nbformat
    from nbconvert import HTMLExporter

    html, _ = HTMLExporter().from_notebook_node(nbformat.read(path, as_version=4))
    if cache:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(html)
        tmp.replace(cached)
    return html
