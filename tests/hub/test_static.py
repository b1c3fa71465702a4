"""The service's route for BokehJS and Panel: the installed files, for any origin, without login,
and nothing outside the libraries' folders."""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

import pytest
import requests
from bokeh.util.paths import bokehjs_path

from hub.static import local_url

pytestmark = [pytest.mark.timeout(60)]

BOKEH = importlib.metadata.version("bokeh")
PANEL = importlib.metadata.version("panel")
PANEL_DIST = Path(importlib.util.find_spec("panel").origin).parent / "dist"  # type: ignore[arg-type, union-attr]
BASE = "/services/stockbot/libs"


def test_the_installed_files_answer_for_any_origin_without_a_login(library_server: str) -> None:
    cases = {
        f"{BASE}/bokeh/{BOKEH}/js/bokeh.min.js": Path(bokehjs_path()) / "js" / "bokeh.min.js",
        f"{BASE}/panel/{PANEL}/panel.min.js": PANEL_DIST / "panel.min.js",
        f"{BASE}/panel/{PANEL}/css/loading.css": PANEL_DIST / "css" / "loading.css",
    }
    for path, file in cases.items():
        # a sandboxed report's requests come from an opaque origin, with no cookie
        r = requests.get(library_server + path, headers={"Origin": "null"}, timeout=10)
        assert r.status_code == 200, (path, r.status_code)
        assert r.content == file.read_bytes(), path
        assert r.headers["Access-Control-Allow-Origin"] == "*"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert "max-age=" in r.headers["Cache-Control"]
        assert "Set-Cookie" not in r.headers
    js = requests.get(library_server + next(iter(cases)), timeout=10)
    assert js.headers["Content-Type"].split(";")[0] in ("application/javascript", "text/javascript")
    head = requests.head(library_server + next(iter(cases)), timeout=10)
    assert head.status_code == 200 and head.content == b""


@pytest.mark.parametrize(
    "path",
    [
        f"{BASE}/bokeh/0.0.1/js/bokeh.min.js",  # a version that is not installed
        f"{BASE}/bokeh/{BOKEH}/js/no-such-file.js",
        f"{BASE}/panel/{PANEL}/../__init__.py",
        f"{BASE}/panel/{PANEL}/%2e%2e/__init__.py",
        f"{BASE}/panel/{PANEL}/..%2f..%2fconfig.py",
        f"{BASE}/panel/{PANEL}/css/loading.css%00.png",
        f"{BASE}/panel/{PANEL}/%c0%ae%c0%ae/__init__.py",
        f"{BASE}/panel/{PANEL}/css",  # a folder is not listed
        f"{BASE}/numpy/{PANEL}/__init__.py",
    ],
)
def test_nothing_else_is_served(library_server: str, path: str) -> None:
    r = requests.get(library_server + path, timeout=10)
    assert r.status_code in (400, 403, 404), (path, r.status_code, r.text[:200])


def test_cdn_addresses_map_to_the_route_only_for_installed_versions() -> None:
    prefix = "/services/stockbot/"
    assert (
        local_url(f"https://cdn.bokeh.org/bokeh/release/bokeh-widgets-{BOKEH}.min.js", prefix)
        == f"{BASE}/bokeh/{BOKEH}/js/bokeh-widgets.min.js"
    )
    assert (
        local_url(f"https://cdn.holoviz.org/panel/{PANEL}/dist/bundled/theme/default.css", prefix)
        == f"{BASE}/panel/{PANEL}/bundled/theme/default.css"
    )
    # Panel bundles the npm files of its components under bundled/<component>/<package>@<version>/
    bundled = sorted(p for p in (PANEL_DIST / "bundled").glob("*/*@*/**/*.js") if p.is_file())
    assert bundled, "Panel's dist folder has no bundled npm files to test with"
    npm_path = Path(*bundled[0].relative_to(PANEL_DIST / "bundled").parts[1:]).as_posix()
    assert local_url(f"https://cdn.jsdelivr.net/npm/{npm_path}", prefix) == (
        f"{BASE}/panel/{PANEL}/{bundled[0].relative_to(PANEL_DIST).as_posix()}"
    )
    for url in (
        "https://cdn.bokeh.org/bokeh/release/bokeh-0.0.1.min.js",
        "https://cdn.holoviz.org/panel/0.0.1/dist/panel.min.js",
        f"https://cdn.holoviz.org/panel/{PANEL}/dist/no-such-file.js",
        f"https://cdn.holoviz.org/panel/{PANEL}/dist/../__init__.py",
        "https://cdn.jsdelivr.net/npm/left-pad@1.3.0/index.js",
    ):
        assert local_url(url, prefix) is None, url
