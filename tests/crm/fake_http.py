"""A small real HTTP server for the CRM fakes: http.server in a thread on 127.0.0.1.

It gives the fakes what a real API does to a client: a clock (the `Date` header follows the fake's
simulated `now`), a rate limit measured on arrivals (`max_rate`: the most requests seen in any
window), and failures now and then - 503 with Retry-After, a dropped connection before any answer,
an answer cut off mid-body - on a fixed schedule, or an outage (`down`) that drops every request.
"""

from __future__ import annotations

import email.utils
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qsl, urlsplit

Handler = Callable[["Request"], "Reply"]


class Request:
    def __init__(self, method: str, path: str, query: list[tuple[str, str]], headers: dict[str, str], body: bytes,
                 arrived: float = 0.0):
        self.arrived = arrived  # time.monotonic() when it came in
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body

    def params(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for k, v in self.query:
            out.setdefault(k, []).append(v)
        return out

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class Reply:
    def __init__(self, status: int = 200, body: Any = None, headers: dict[str, str] | None = None):
        self.status = status
        self.body = body
        self.headers = headers or {}


class FakeServer:
    """Serve `handle(Request) -> Reply` on 127.0.0.1; count, limit and break requests."""

    def __init__(self, handle: Handler, *, now: float | None = None):
        self.handle = handle
        self.now = now if now is not None else time.time()  # the fake's clock (unix seconds), for Date headers
        self.arrivals: list[float] = []  # monotonic arrival times of every request
        self.paths: list[str] = []
        self.failures: dict[int, str] = {}  # request number (1-based) -> "503", "429", "drop", "cut"
        self.fail_every: dict[str, int] = {}  # "503": 9 -> every 9th request answers 503
        self.down = False  # drop every request (an outage)
        self.down_after: int | None = None  # go down after this many requests
        self.served = 0
        self.injected = 0
        self.rejected = 0  # requests refused for going over the rate limit
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- rate measurement ------------------------------------------------------------------
    def max_rate(self, window: float = 1.0) -> int:
        """The most arrivals in any `window` seconds."""
        times = sorted(self.arrivals)
        best, j = 0, 0
        for i, t in enumerate(times):
            while t - times[j] >= window:
                j += 1
            best = max(best, i - j + 1)
        return best

    def recent(self, window: float = 1.0) -> int:
        now = time.monotonic()
        return sum(1 for t in self.arrivals if now - t < window)

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> "FakeServer":
        fake = self

        class _H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def date_time_string(self, timestamp: float | None = None) -> str:
                return email.utils.formatdate(fake.now, usegmt=True)

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                arrived = time.monotonic()
                with fake.lock:
                    fake.arrivals.append(arrived)
                    n = len(fake.arrivals)
                    fake.paths.append(self.path)
                    if fake.down_after is not None and n > fake.down_after:
                        fake.down = True
                    mode = "drop" if fake.down else fake.failures.get(n)
                    if mode is None:
                        for kind, every in fake.fail_every.items():
                            if every and n % every == 0:
                                mode = kind
                                break
                    if mode is not None:
                        fake.injected += 1
                if mode == "drop":
                    self.close_connection = True
                    try:
                        self.connection.shutdown(2)
                    except OSError:
                        pass
                    return
                if mode == "cut":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", "1000")
                    self.end_headers()
                    self.wfile.write(b'{"_page": 1, "_embedded": {"le')
                    self.wfile.flush()
                    self.close_connection = True
                    try:
                        self.connection.shutdown(2)
                    except OSError:
                        pass
                    return
                if mode in ("503", "429"):
                    reply = Reply(int(mode), {"error": "SERVICE_UNAVAILABLE" if mode == "503" else "TOO_MANY_REQUESTS"},
                                  {"Retry-After": "0"})
                else:
                    parts = urlsplit(self.path)
                    req = Request(self.command, parts.path, parse_qsl(parts.query, keep_blank_values=True),
                                  {k.lower(): v for k, v in self.headers.items()}, body, arrived)
                    try:
                        reply = fake.handle(req)
                    except Exception as exc:  # a bug in the fake shows as a 500 the test will see
                        reply = Reply(500, {"error": "FAKE_BUG", "error_description": repr(exc)})
                    with fake.lock:
                        fake.served += 1
                self._send(reply)

            def _send(self, reply: Reply) -> None:
                data = b"" if reply.body is None else json.dumps(reply.body, ensure_ascii=False).encode()
                self.send_response(reply.status)
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                if data:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if data:
                    self.wfile.write(data)

            do_GET = _serve
            do_POST = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _H)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

