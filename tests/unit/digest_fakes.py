"""Local stand-ins for the digests' channels: an SMTP server (aiosmtpd), a Telegram Bot API and a webhook
receiver (tiny HTTP servers in a thread)."""

from __future__ import annotations

import json
import threading
import time
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpFake:
    """aiosmtpd on 127.0.0.1, a free port; `messages` holds every message received (email.message)."""

    def __init__(self, *, login: tuple[str, str] | None = None):
        from aiosmtpd.controller import Controller

        self.messages: list[Any] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.logins: list[str] = []
        fake = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
                fake.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
                fake.messages.append(message_from_bytes(envelope.original_content or envelope.content, policy=policy.default))
                return "250 OK"

        kwargs: dict[str, Any] = {}
        if login is not None:
            from aiosmtpd.smtp import AuthResult, LoginPassword

            def authenticator(server, session, envelope, mechanism, auth_data):
                ok = isinstance(auth_data, LoginPassword) and (auth_data.login.decode(), auth_data.password.decode()) == login
                if ok:
                    fake.logins.append(auth_data.login.decode())
                return AuthResult(success=ok)

            kwargs = {"authenticator": authenticator, "auth_require_tls": False}
        self.port = _free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, **kwargs)

    def __enter__(self) -> "SmtpFake":
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


class HttpFake:
    """An HTTP server in a thread. `answer(path, body) -> (status, json)` decides each reply; `requests` holds
    (monotonic time, path, parsed JSON body)."""

    def __init__(self, answer: Callable[[str, Any], tuple[int, Any]]):
        self.requests: list[tuple[float, str, Any]] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's hook name
                size = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(size)
                try:
                    body = json.loads(raw.decode("utf-8"))
                except ValueError:
                    body = raw
                with fake.lock:
                    fake.requests.append((time.monotonic(), self.path, body))
                    status, reply = answer(self.path, body)
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "HttpFake":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def telegram_fake(token: str, *, busy_once: int = 0) -> HttpFake:
    """A Bot API that knows one token; answers 429 with retry_after=`busy_once` to the first sendMessage."""
    state = {"busy": busy_once}

    def answer(path: str, body: Any) -> tuple[int, Any]:
        if path != f"/bot{token}/sendMessage":
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        if state["busy"]:
            after, state["busy"] = state["busy"], 0
            return 429, {"ok": False, "error_code": 429, "description": f"Too Many Requests: retry after {after}",
                         "parameters": {"retry_after": after}}
        if not str(body.get("chat_id")).lstrip("-").isdigit():
            return 400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}
        return 200, {"ok": True, "result": {"message_id": 1, "chat": {"id": body.get("chat_id")}, "text": body.get("text")}}

    return HttpFake(answer)
