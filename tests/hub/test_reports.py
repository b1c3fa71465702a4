"""The report of a real executed job notebook: served with every library address on the service's
own route, downloaded with the libraries inline, and zipped with the run as ``report.html``; the
run folder is never touched."""

from __future__ import annotations

import base64
import importlib.metadata
import importlib.util
import io
import re
import zipfile
from pathlib import Path

import pytest
import requests
from bokeh.util.paths import bokehjs_path

from hub.reports import download_html, inline, localize, notebook_html, run_zip, served_html
from tests.hub.conftest import RUN_ID

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]

BOKEH = importlib.metadata.version("bokeh")
PANEL = importlib.metadata.version("panel")
PANEL_DIST = Path(importlib.util.find_spec("panel").origin).parent / "dist"  # type: ignore[arg-type, union-attr]
BOKEH_JS = Path(bokehjs_path()) / "js"
# what the executed notebooks load (found by grepping a real train run's notebook.ipynb), and the
# installed file that stands for each
LIBRARIES = {
    f"https://cdn.bokeh.org/bokeh/release/bokeh-{BOKEH}.min.js": BOKEH_JS / "bokeh.min.js",
    f"https://cdn.bokeh.org/bokeh/release/bokeh-gl-{BOKEH}.min.js": BOKEH_JS / "bokeh-gl.min.js",
    f"https://cdn.bokeh.org/bokeh/release/bokeh-widgets-{BOKEH}.min.js": BOKEH_JS / "bokeh-widgets.min.js",
    f"https://cdn.bokeh.org/bokeh/release/bokeh-tables-{BOKEH}.min.js": BOKEH_JS / "bokeh-tables.min.js",
    f"https://cdn.holoviz.org/panel/{PANEL}/dist/panel.min.js": PANEL_DIST / "panel.min.js",
    f"https://cdn.holoviz.org/panel/{PANEL}/dist/css/loading.css": PANEL_DIST / "css" / "loading.css",
}
# any address on a CDN, written plainly or JSON-escaped (https:\/\/...)
ANY_CDN = re.compile(
    r"(?:cdn\.bokeh\.org|cdn\.holoviz\.org|cdn\.jsdelivr\.net|unpkg\.com|cdnjs\.cloudflare\.com)"
)
PREFIX = "/services/stockbot/"


@pytest.fixture(scope="module")
def raw(executed_notebook: Path) -> str:
    return notebook_html(executed_notebook, cache=False)


def test_the_executed_notebook_loads_its_charts_from_cdns(executed_notebook: Path) -> None:
    """The premise (and what makes the other tests able to fail): as the job wrote it, the
    notebook's chart outputs name BokehJS and Panel on public CDNs."""
    text = executed_notebook.read_text()
    for url in LIBRARIES:
        assert url in text, url
    assert "application/vnd.holoviews_exec.v0+json" in text  # a chart, not just the loader


def test_the_served_report_names_no_cdn_and_its_libraries_load_from_the_service(
    raw: str, library_server: str
) -> None:
    html = localize(raw, PREFIX)
    assert not ANY_CDN.findall(html), sorted(set(ANY_CDN.findall(html)))
    local = sorted(set(re.findall(r"/services/stockbot/libs/[^\"'\s\\)]+", html)))
    # one local address per library address the notebook had, each serving the installed file
    assert len(local) == len(set(re.findall(r"https://cdn\.(?:bokeh|holoviz)\.org/[^\"'\s\\)]+", raw)))
    for url, file in LIBRARIES.items():
        assert url not in html
        matching = [p for p in local if p.split("?")[0].endswith("/" + file.name)]
        assert matching, (url, local)
        r = requests.get(library_server + matching[0], timeout=10)
        assert r.status_code == 200 and r.content == file.read_bytes(), matching[0]
    # nbconvert's own page scripts from cdnjs are gone too (require.js, MathJax, Mermaid)
    assert not re.search(r"<script[^>]+src=\"https?://", html)


def test_served_html_uses_the_service_prefix(
    executed_notebook: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/services/other/")
    html = served_html(executed_notebook, cache=False)
    assert f"/services/other/libs/bokeh/{BOKEH}/js/bokeh.min.js" in html
    assert "/services/stockbot/libs/" not in html


def test_the_download_carries_every_library_inline(raw: str) -> None:
    html = inline(raw)
    assert not ANY_CDN.findall(html), sorted(set(ANY_CDN.findall(html)))
    assert "/libs/" not in html
    data_urls = re.findall(r"data:([a-z/]+);base64,([A-Za-z0-9+/=]+)", html)
    decoded = [base64.b64decode(d) for _, d in data_urls]
    for url, file in LIBRARIES.items():
        if file.suffix == ".js":
            assert file.read_bytes() in decoded, url
    assert decoded.count((BOKEH_JS / "bokeh.min.js").read_bytes()) == 1  # each library once
    # a stylesheet's own references (Panel's spinners, ../assets/*.svg) are inlined as well
    loading = next(
        base64.b64decode(d).decode()
        for kind, d in data_urls
        if kind == "text/css" and b"pn-loading" in base64.b64decode(d)
    )
    assert "../assets/" not in loading
    spinner = (PANEL_DIST / "assets" / "arc_spinner.svg").read_bytes()
    assert base64.b64encode(spinner).decode() in loading
    # a few megabytes: the libraries, not a copy per output
    total = sum(f.stat().st_size for f in LIBRARIES.values())
    assert total < len(html) < 2 * total + len(raw)


def test_a_library_version_that_is_not_installed_is_left_as_it_is() -> None:
    page = '<script src="https://cdn.bokeh.org/bokeh/release/bokeh-0.0.1.min.js"></script>'
    assert localize(page, PREFIX) == page
    assert inline(page) == page


def test_the_zip_adds_a_self_contained_report_and_leaves_the_run_folder_alone(
    executed_notebook: Path,
) -> None:
    folder = executed_notebook.parent
    before = {p.relative_to(folder): p.stat().st_mtime_ns for p in folder.rglob("*")}
    data = run_zip(RUN_ID)
    after = {p.relative_to(folder): p.stat().st_mtime_ns for p in folder.rglob("*")}
    assert before == after and not (folder / "report.html").exists()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = set(zf.namelist())
        assert {f"{RUN_ID}/{p.as_posix()}" for p, _ in before.items() if (folder / p).is_file()} <= names
        report = zf.read(f"{RUN_ID}/report.html").decode()
    assert not ANY_CDN.findall(report)
    assert base64.b64encode((BOKEH_JS / "bokeh.min.js").read_bytes()).decode() in report
    assert "Bokeh.embed.embed_items_notebook" in report  # the chart itself
    # the same report as a download (nbconvert gives each output a fresh element id)
    ids = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
    assert ids.sub("", report) == ids.sub("", download_html(executed_notebook, cache=False))


def test_a_finished_runs_report_is_cached_outside_the_run_folder(
    executed_notebook: Path, report_home: Path
) -> None:
    first = notebook_html(executed_notebook, cache=True)
    cached = list((report_home / "cache" / "notebooks").glob(f"{RUN_ID}*.html"))
    assert len(cached) == 1 and cached[0].read_text() == first
    assert notebook_html(executed_notebook, cache=True) == first
