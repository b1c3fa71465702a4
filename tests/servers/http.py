"""A small threaded HTTP server on 127.0.0.1 with scripted routes, for vendor stand-ins in tests.

A :class:`ScriptedServer` answers each request with, in order of precedence:

1. the next *scripted* answer queued for its ``(method, path)`` with :meth:`ScriptedServer.script`
   (a one-off such as "the next request to /v2/stocks/bars gets a 429", or ``times=None`` for
   "every request from now on");
2. the *route* registered for it with :meth:`ScriptedServer.route` (the fake service's normal
   behaviour), or else the first *pattern route* (:meth:`ScriptedServer.route_match`, a regular
   expression for paths with ids in them) that matches the whole path;
3. a 404.

Every request is logged (:attr:`ScriptedServer.requests`) with its path, query parameters, headers
and body, so tests can assert what the client sent. :meth:`ScriptedServer.reset` drops the scripted
answers and the log but keeps the routes, so one server can live for the whole session and each
test starts clean::

    @pytest.fixture(scope="session")
    def server() -> Iterator[ScriptedServer]:
        with ScriptedServer() as s:
            s.route("GET", "/ping", lambda req: Response.json({"ok": True}))
            yield s

    @pytest.fixture
    def fresh(server: ScriptedServer) -> ScriptedServer:
        server.reset()
        return server
"""

from __future__ import annotations

import json
import re
import threading
import traceback
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["Handler", "Request", "Response", "ScriptedServer"]


@dataclass(frozen=True)
class Request:
    """One request as the server received it. Header names are lower-case."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes = b""

    def param(self, name: str, default: str | None = None) -> str | None:
        """The first value of query parameter ``name``."""
        values = self.query.get(name)
        return values[0] if values else default

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass(frozen=True)
class Response:
    """What to answer. ``body`` is sent as is (str is UTF-8 encoded)."""

    status: int = 200
    body: bytes | str = b""
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
        return cls(
            status,
            json.dumps(payload),
            {"Content-Type": "application/json", **(headers or {})},
        )

    @classmethod
    def text(cls, text: str, status: int = 200, content_type: str = "text/plain") -> Response:
        return cls(status, text, {"Content-Type": content_type})


Handler = Callable[[Request], Response]
Answer = Response | Handler


@dataclass
class _Script:
    answer: Answer
    remaining: int | None  # None: until reset


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class ScriptedServer:
    """A threaded HTTP/1.1 server on ``127.0.0.1`` and a free port; start/stop or use ``with``."""

    def __init__(self) -> None:
        self._routes: dict[tuple[str, str], Handler] = {}
        self._patterns: list[tuple[str, re.Pattern[str], Handler]] = []
        self._scripts: dict[tuple[str, str], deque[_Script]] = {}
        self._log: list[Request] = []
        self._errors: list[str] = []
        self._lock = threading.Lock()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> ScriptedServer:
        if self._httpd is not None:
            raise RuntimeError("server already started")
        self._httpd = _HTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        return f"http://127.0.0.1:{self.port}"

    # ------------------------------------------------------------------ behaviour

    def route(self, method: str, path: str, handler: Handler) -> None:
        """The normal answer to ``method path`` (kept across :meth:`reset`)."""
        self._routes[(method.upper(), path)] = handler

    def route_match(self, method: str, pattern: str, handler: Handler) -> None:
        """The normal answer to ``method`` on paths matching ``pattern`` whole (kept across
        :meth:`reset`); the handler reads the ids from ``req.path``."""
        self._patterns.append((method.upper(), re.compile(pattern), handler))

    def script(self, method: str, path: str, answer: Answer, *, times: int | None = 1) -> None:
        """Answer the next ``times`` requests to ``method path`` with ``answer`` (a response or a
        handler) before the route; ``times=None`` answers every request until :meth:`reset`.
        Several scripts for the same path are used in the order they were added."""
        if times is not None and times < 1:
            raise ValueError("times must be >= 1 or None")
        with self._lock:
            self._scripts.setdefault((method.upper(), path), deque()).append(_Script(answer, times))

    def reset(self) -> None:
        """Forget scripted answers, the request log and handler errors; keep the routes."""
        with self._lock:
            self._scripts.clear()
            self._log.clear()
            self._errors.clear()

    # ------------------------------------------------------------------ inspection

    @property
    def requests(self) -> list[Request]:
        """Every request received since the last reset, in arrival order (a copy)."""
        with self._lock:
            return list(self._log)

    def requests_to(self, path: str, method: str | None = None) -> list[Request]:
        return [r for r in self.requests if r.path == path and (method is None or r.method == method.upper())]

    @property
    def errors(self) -> list[str]:
        """Tracebacks of handlers that raised (each was answered with a 500)."""
        with self._lock:
            return list(self._errors)

    # ------------------------------------------------------------------ internals

    def _answer_for(self, req: Request) -> Answer | None:
        key = (req.method, req.path)
        with self._lock:
            self._log.append(req)
            queue = self._scripts.get(key)
            if queue:
                script = queue[0]
                if script.remaining is not None:
                    script.remaining -= 1
                    if script.remaining == 0:
                        queue.popleft()
                return script.answer
        route = self._routes.get(key)
        if route is not None:
            return route
        return next((h for m, rx, h in self._patterns if m == req.method and rx.fullmatch(req.path)), None)

    def _dispatch(self, req: Request) -> Response:
        answer = self._answer_for(req)
        if answer is None:
            return Response.json({"message": f"no route for {req.method} {req.path}"}, status=404)
        if isinstance(answer, Response):
            return answer
        try:
            return answer(req)
        except Exception:
            tb = traceback.format_exc()
            with self._lock:
                self._errors.append(tb)
            return Response.text(tb, status=500)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 10  # idle keep-alive connections give up instead of lingering

            def _handle(self) -> None:
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                req = Request(
                    method=self.command.upper(),
                    path=split.path,
                    query=parse_qs(split.query, keep_blank_values=True),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                resp = server._dispatch(req)
                payload = resp.body.encode() if isinstance(resp.body, str) else resp.body
                self.send_response(resp.status)
                for name, value in resp.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return _Handler
