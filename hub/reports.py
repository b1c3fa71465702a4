"""A run's executed notebook as a read-only HTML report (nbconvert), served by the API.

Charts in executed notebooks load BokehJS and Panel from public CDNs. The served report points
those addresses at the service's own copy (``hub.static``), so it draws on a machine without
internet; a downloaded report (``?download=1``, and ``report.html`` in the run's zip) carries the
libraries inline instead, so it works anywhere without the service, at the cost of a few megabytes
that are made on request and never stored with the run.
"""

from __future__ import annotations

import base64
import io
import logging
import mimetypes
import os
import re
import threading
import zipfile
from pathlib import Path

from hub.base import APIHandler
from hub.identity import public_prefix
from hub.static import CDN_URL, Library, library_path, local_url
from stockbot.jobs import artifacts
from stockbot.jobs.kinds import run_dir
from stockbot.paths import stockbot_home
from stockbot.store.runs import TERMINAL, RunStatus

log = logging.getLogger(__name__)

# nbconvert's lab template without the page-level scripts it takes from cdnjs: require.js (Panel and
# Bokeh load without it), MathJax (job notebooks have no formulas; no local copy is installed) and
# Mermaid (no diagrams). Bump the version when the template changes, so cached reports are redone.
_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""
_TEMPLATE_VERSION = 2
# url(...) inside a stylesheet, for inlining what a library's CSS file refers to
_CSS_URL = re.compile(r"""url\(\s*(['"]?)(?P<ref>[^'")]+)\1\s*\)""")


class NotebookHandler(APIHandler):
    """The executed notebook of a run as HTML (nbconvert), read-only: it is never executed again.

    ``?download=1`` answers the report as an attachment with its libraries inline."""

    async def get(self, run_id: str) -> None:
        doc = await self.visible_run(run_id)
        path = run_dir(run_id) / "notebook.ipynb"
        if not path.is_file():
            self.fail(404, f"run {run_id} has no executed notebook (yet)")
        final = RunStatus(doc["status"]) in TERMINAL
        download = self.get_query_argument("download", None) is not None
        try:
            html = await self.call(download_html if download else served_html, path, final)
        except Exception as e:  # a notebook Papermill is still writing may not parse yet
            self.fail(503, f"the notebook of run {run_id} cannot be shown yet: {type(e).__name__}")
        self.set_header("Content-Type", "text/html; charset=utf-8")
        # the notebook's outputs run in a sandbox of their own origin: they cannot act as the viewer
        self.set_header("Content-Security-Policy", "sandbox allow-scripts")
        if download:
            self.set_header("Content-Disposition", f'attachment; filename="{run_id}.html"')
        self.finish(html)


def forget_report(run_id: str) -> None:
    """Remove the cached reports of a run (every template version): a deleted run leaves none."""
    for cached in (stockbot_home() / "cache" / "notebooks").glob(f"{run_id}.*html"):
        cached.unlink(missing_ok=True)


def notebook_html(path: Path, cache: bool) -> str:
    """nbconvert's HTML of ``path``, library addresses as the notebook has them. A finished run's
    is cached outside the run folder (the run's files stay what the job wrote), written whole
    before it is visible."""
    name = f"{path.parent.name}.v{_TEMPLATE_VERSION}.html"
    cached = stockbot_home() / "cache" / "notebooks" / name
    if cache and cached.is_file() and cached.stat().st_mtime >= path.stat().st_mtime:
        return cached.read_text()
    import nbformat
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    book = nbformat.read(path, as_version=4)
    for cell in book.cells:
        # a display without data (an emptied Panel output) renders nothing; nbconvert warns on it
        cell["outputs"] = [
            o
            for o in cell.get("outputs", [])
            if o.get("output_type") not in ("display_data", "execute_result") or o.get("data")
        ]
    exporter = HTMLExporter(
        template_name="lab",
        extra_loaders=[DictLoader({"stockbot_report.html.j2": _TEMPLATE})],
        template_file="stockbot_report.html.j2",
    )
    html, _ = exporter.from_notebook_node(book)
    if cache:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(html)
        tmp.replace(cached)
    return html


def served_html(path: Path, cache: bool) -> str:
    """The report as the service serves it: library addresses on the service's own route."""
    return localize(notebook_html(path, cache), public_prefix())


def download_html(path: Path, cache: bool) -> str:
    """The report as a self-contained file: libraries inline."""
    return inline(notebook_html(path, cache))


def localize(html: str, prefix: str) -> str:
    """``html`` with every CDN address of BokehJS and Panel replaced by the service's route under
    ``prefix`` (the service's public path). An address of a version not installed here is left as
    it is (and logged): no local file could stand in for it."""

    def swap(m: re.Match[str]) -> str:
        url = m.group(0)
        base, sep, rest = _split_query(url)
        local = local_url(base, prefix)
        if local is None:
            log.warning("report: no local copy of %s", url)
            return url
        return local + sep + rest

    return CDN_URL.sub(swap, html)


def inline(html: str) -> str:
    """``html`` with every CDN address of BokehJS and Panel replaced by a ``data:`` URL of the
    installed file (stylesheets with what they refer to inlined too), so the page loads nothing.
    Each library appears once: the loader's list of scripts holds it as a data URL."""
    cache: dict[str, str] = {}

    def swap(m: re.Match[str]) -> str:
        url = m.group(0)
        base, _, _ = _split_query(url)
        if base not in cache:
            found = library_path(base)
            if found is None:
                log.warning("report download: no local copy of %s", url)
                cache[base] = url
            else:
                cache[base] = _data_url(*found)
        return cache[base]

    return CDN_URL.sub(swap, html)


def cdn_urls(html: str) -> list[str]:
    """The CDN addresses left in ``html`` (for checks and tests)."""
    return CDN_URL.findall(html)


def _split_query(url: str) -> tuple[str, str, str]:
    for sep in ("?", "#"):
        if sep in url:
            base, rest = url.split(sep, 1)
            return base, sep, rest
    return url, "", ""


def _mime(path: Path) -> str:
    if path.suffix == ".js":
        return "text/javascript"
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def _data_url(lib: Library, rel: str) -> str:
    path = lib.root / rel
    data = path.read_bytes()
    if path.suffix == ".css":
        data = _inline_css_refs(lib, rel, data.decode("utf-8")).encode("utf-8")
    return f"data:{_mime(path)};base64,{base64.b64encode(data).decode('ascii')}"


def _inline_css_refs(lib: Library, rel: str, css: str) -> str:
    """A library stylesheet's relative ``url(...)`` references as data URLs: inside a data URL
    they would have no base to resolve against."""
    root = lib.root.resolve()
    folder = (root / rel).parent

    def swap(m: re.Match[str]) -> str:
        ref = m["ref"].strip()
        if re.match(r"^(?:data:|[a-z][a-z0-9+.-]*:|/|#)", ref, re.IGNORECASE):
            return m.group(0)
        target = (folder / _split_query(ref)[0]).resolve()
        if root not in target.parents or not target.is_file():
            log.warning("report download: %s refers to %s, which is not installed", rel, ref)
            return m.group(0)
        data = base64.b64encode(target.read_bytes()).decode("ascii")
        return f"url('data:{_mime(target)};base64,{data}')"

    return _CSS_URL.sub(swap, css)


def run_zip(run_id: str) -> bytes:
    """The run folder as a zip (``stockbot.jobs.artifacts.zip_run``) plus ``report.html``, the
    executed notebook as a self-contained report, made now: the run folder itself is unchanged."""
    data = artifacts.zip_run(run_id)
    notebook = run_dir(run_id) / "notebook.ipynb"
    if not notebook.is_file():
        return data
    try:
        report = download_html(notebook, cache=False)
    except Exception as e:  # a notebook still being written: the zip holds the run's files anyway
        log.warning("zip of %s without report.html: %s: %s", run_id, type(e).__name__, e)
        return data
    buf = io.BytesIO(data)
    with zipfile.ZipFile(buf, "a", zipfile.ZIP_DEFLATED) as zf:
        if f"{run_id}/report.html" in zf.namelist():  # the run's own file wins
            log.warning("zip of %s: the run has a report.html of its own; not replaced", run_id)
        else:
            zf.writestr(f"{run_id}/report.html", report)
    return buf.getvalue()
