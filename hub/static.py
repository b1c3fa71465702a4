"""BokehJS and Panel's JavaScript and CSS, served by the StockBot service itself.

Executed notebooks name these files by their public CDN addresses (``cdn.bokeh.org``,
``cdn.holoviz.org``, npm CDNs for Panel's bundled third-party files); a machine without internet
cannot load them, so reports point at ``{prefix}libs/<library>/<version>/<path>`` instead, served
from the installed packages' own static folders.

The route needs no login: the files are the public, unmodified files of open-source packages (the
same bytes the CDNs serve) and hold nothing of any user. It must not need one: a report page runs
sandboxed (``Content-Security-Policy: sandbox allow-scripts``), so its origin is opaque and its
requests carry no usable login cookie. For the same reason the files answer with
``Access-Control-Allow-Origin: *``: module scripts and fonts are fetched in CORS mode, and an opaque
origin only passes with ``*``. Only the installed version of each library is served; its paths
are versioned, so browsers may cache them for good.
"""

from __future__ import annotations

import functools
import importlib.metadata
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tornado.web import HTTPError, StaticFileHandler

ROUTE = "libs"  # under the service prefix


@dataclass(frozen=True)
class Library:
    name: str
    version: str
    root: Path  # the package's folder of static files, as the CDN's folder of this version


@functools.cache
def libraries() -> dict[str, Library]:
    """The libraries the route serves: the installed BokehJS and Panel."""
    from bokeh.util.paths import bokehjs_path
    from panel.io.resources import DIST_DIR

    return {
        "bokeh": Library("bokeh", importlib.metadata.version("bokeh"), Path(bokehjs_path())),
        "panel": Library("panel", importlib.metadata.version("panel"), Path(DIST_DIR)),
    }


# https://cdn.bokeh.org/bokeh/release/bokeh-widgets-3.9.2.min.js -> js/bokeh-widgets.min.js
_BOKEH_CDN = re.compile(
    r"https?://cdn\.bokeh\.org/bokeh/(?:release|dev)/"
    r"(?P<name>bokeh(?:-[a-z]+)?)-(?P<version>\d[^/]*?)(?P<min>\.min)?\.(?P<ext>js|css)"
)
# https://cdn.holoviz.org/panel/1.9.4/dist/css/loading.css -> css/loading.css
_PANEL_CDN = re.compile(r"https?://cdn\.holoviz\.org/panel/(?P<version>[^/]+)/dist/(?P<path>[^\s\"'`?#)]+)")
# https://cdn.jsdelivr.net/npm/<package>@<version>/<path>, https://unpkg.com/<package>@<version>/<path>
_NPM_CDN = re.compile(r"https?://(?:cdn\.jsdelivr\.net/npm|unpkg\.com)/(?P<path>[^\s\"'`?#)]+)")
# every CDN address of these libraries (and the npm CDNs), for rewriting and for checking that
# none is left; an address ends at a quote, whitespace, a closing parenthesis, or a backslash (of
# an escaped quote inside a JavaScript string)
CDN_URL = re.compile(
    r"https?://(?:cdn\.bokeh\.org|cdn\.holoviz\.org|cdn\.jsdelivr\.net|unpkg\.com|cdnjs\.cloudflare\.com)"
    r"/[^\s\"'`)\\<>]*"
)


def _bokeh_versions(version: str) -> set[str]:
    # Bokeh's CDN names release candidates and dev builds by the JavaScript form of the version
    return {version, version.replace("rc", "-rc.").replace(".dev", "-dev.")}


@functools.cache
def _npm_index() -> dict[str, str]:
    """``<package>@<version>/<path>`` -> its path in Panel's dist folder: Panel bundles the npm
    files its components use under ``bundled/<component>/`` with the CDN prefix stripped."""
    panel = libraries()["panel"]
    index: dict[str, str] = {}
    bundled = panel.root / "bundled"
    for f in sorted(bundled.glob("*/**/*")):
        if f.is_file():
            rel = f.relative_to(bundled)
            index.setdefault(Path(*rel.parts[1:]).as_posix(), f.relative_to(panel.root).as_posix())
    return index


def library_path(url: str) -> tuple[Library, str] | None:
    """The installed library file a CDN address names, as (library, path inside its folder), or
    None when it names no file of the installed versions."""
    libs = libraries()
    query_free = url.split("?", 1)[0].split("#", 1)[0]
    found: tuple[Library, str] | None = None
    if m := _BOKEH_CDN.fullmatch(query_free):
        if m["version"] in _bokeh_versions(libs["bokeh"].version):
            found = libs["bokeh"], f"js/{m['name']}{m['min'] or ''}.{m['ext']}"
    elif m := _PANEL_CDN.fullmatch(query_free):
        if m["version"] == libs["panel"].version:
            found = libs["panel"], m["path"]
    elif m := _NPM_CDN.fullmatch(query_free):
        rel = _npm_index().get(m["path"])
        if rel is not None:
            found = libs["panel"], rel
    if found is None:
        return None
    lib, rel = found
    target = (lib.root / rel).resolve()
    if lib.root.resolve() not in target.parents or not target.is_file():
        return None
    return lib, rel


def local_url(url: str, prefix: str) -> str | None:
    """The service's address (``prefix`` is the service's public path, e.g.
    ``/services/stockbot/``) for the CDN address ``url``, or None if the route cannot serve it."""
    found = library_path(url)
    if found is None:
        return None
    lib, rel = found
    return f"{prefix.rstrip('/')}/{ROUTE}/{lib.name}/{lib.version}/{rel}"


class LibraryHandler(StaticFileHandler):
    """One library's static folder at ``libs/<name>/<version>/<path>``, without login, for any
    origin (see the module's docstring for why)."""

    def initialize(self, library: str) -> None:  # type: ignore[override]
        self.library = libraries()[library]
        super().initialize(path=str(self.library.root))

    async def get(self, version: str, path: str, include_body: bool = True) -> None:
        if version != self.library.version:
            raise HTTPError(404, f"{self.library.name} {version} is not installed here")
        if "\x00" in path:
            raise HTTPError(400, "a file name cannot contain a NUL byte")
        await super().get(path, include_body)

    def head(self, version: str, path: str) -> Any:  # type: ignore[override]
        return self.get(version, path, include_body=False)

    def set_extra_headers(self, path: str) -> None:
        self.set_header("Access-Control-Allow-Origin", "*")
        self.set_header("Cross-Origin-Resource-Policy", "cross-origin")
        self.set_header("X-Content-Type-Options", "nosniff")

    def get_cache_time(self, path: str, modified: Any, mime_type: str) -> int:
        return self.CACHE_MAX_AGE  # the version is in the path: a file never changes under it


def routes() -> list[tuple[str, type[LibraryHandler], dict[str, Any]]]:
    """The route of each library, relative to the service prefix (Bokeh adds the prefix)."""
    return [(rf"/{ROUTE}/{name}/([^/]+)/(.+)", LibraryHandler, {"library": name}) for name in libraries()]
