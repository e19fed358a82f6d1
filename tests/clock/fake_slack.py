"""A small fake Slack Web API on loopback: a real HTTP server in a thread.

It answers chat.postMessage and users.lookupByEmail, records every call, and can be told to
answer the next calls to a method with a 429 (and Retry-After) or a 5xx first.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs


@dataclass
class FakeSlack:
    url: str = ""
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    users_by_email: dict[str, str] = field(default_factory=dict)
    # method -> queued failures: (status, headers) answered before any success
    failures: dict[str, deque[tuple[int, dict[str, str]]]] = field(
        default_factory=lambda: defaultdict(deque)
    )
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, method: str, status: int, *, retry_after: int | None = None) -> None:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        self.failures[method].append((status, headers))

    def posted(self) -> list[dict[str, Any]]:
        """Messages Slack accepted (failed attempts are not in here)."""
        return [body for method, body in self.calls if method == "chat.postMessage"]

    def answer(self, method: str, body: dict[str, Any]) -> tuple[int, dict[str, str], dict]:
        with self.lock:
            if self.failures[method]:
                status, headers = self.failures[method].popleft()
                error = "ratelimited" if status == 429 else "internal_error"
                return status, headers, {"ok": False, "error": error}
            if method == "chat.postMessage":
                self.calls.append((method, body))
                return 200, {}, {"ok": True, "channel": body.get("channel"), "ts": "1.000"}
            if method == "users.lookupByEmail":
                self.calls.append((method, body))
                user = self.users_by_email.get(str(body.get("email", "")))
                if user is None:
                    return 200, {}, {"ok": False, "error": "users_not_found"}
                return 200, {}, {"ok": True, "user": {"id": user, "deleted": False}}
            return 200, {}, {"ok": False, "error": "unknown_method"}


def _handler(fake: FakeSlack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path, _, query = self.path.partition("?")
            self._reply(path, {k: v[0] for k, v in parse_qs(query).items()})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode("utf-8")
            if "json" in (self.headers.get("Content-Type") or ""):
                body = json.loads(raw or "{}")
            else:
                body = {k: v[0] for k, v in parse_qs(raw).items()}
            self._reply(self.path.split("?")[0], body)

        def _reply(self, path: str, body: dict[str, Any]) -> None:
            method = path.rsplit("/", 1)[-1]
            status, headers, payload = fake.answer(method, body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def fake_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/api/"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
