"""A fake Slack Web API served over real HTTP on 127.0.0.1, in a thread (after bolt-python's
tests/mock_web_api_server). It records every call, looks people up by email from
``users_by_email``, and can be told to fail the next few calls."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

BOT_USER_ID = "U0TESTBOT"


@dataclass
class Call:
    method: str
    body: dict[str, Any]
    status: int
    at: float = field(default_factory=time.monotonic)
    ok: bool = True  # False: Slack's answer was {"ok": false, "error": ...}


@dataclass
class Failure:
    status: int
    retry_after: int | None = None
    method: str | None = None  # only calls to this method fail; None: any
    error: str | None = None  # Slack's error code (a 200 with "ok": false, as Slack answers)
    channel: str | None = None  # only messages to this channel (a user's ID: their DM) fail


class FakeSlack:
    def __init__(self, port: int = 0) -> None:
        self.calls: list[Call] = []
        self.failures: list[Failure] = []
        self.users_by_email: dict[str, str] = {}
        # Seconds each chat.postMessage takes to answer, as a real server far away does.
        self.post_delay = 0.0
        self._lock = threading.Condition()
        self._ts = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # slack_sdk reads some methods (users.lookupByEmail) so
                url = urlsplit(self.path)
                self._reply(url.path, dict(parse_qsl(url.query)))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8")
                if "json" in (self.headers.get("Content-Type") or ""):
                    body = json.loads(raw or "{}")
                else:
                    body = dict(parse_qsl(raw))
                self._reply(urlsplit(self.path).path, body)

            def _reply(self, path: str, body: dict[str, Any]) -> None:
                method = path.rsplit("/", 1)[-1]
                if method == "chat.postMessage" and fake.post_delay:
                    time.sleep(fake.post_delay)
                status, headers, answer = fake._answer(method, body)
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # ------------------------------------------------------------------ control

    def start(self) -> FakeSlack:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.failures.clear()
            self.post_delay = 0.0

    def fail_next(
        self,
        count: int,
        *,
        status: int = 200,
        retry_after: int | None = None,
        method: str | None = None,
        error: str | None = None,
        channel: str | None = None,
    ) -> None:
        """The next ``count`` calls fail: with an HTTP ``status``, or (status 200) with Slack's
        ``error`` code, such as user_not_found for a person removed from the workspace."""
        with self._lock:
            self.failures += [
                Failure(status, retry_after, method, error, channel) for _ in range(count)
            ]

    # ------------------------------------------------------------------ inspection

    def successful(self, method: str | None = None) -> list[Call]:
        with self._lock:
            return [
                c
                for c in self.calls
                if c.status == 200 and c.ok and (method is None or c.method == method)
            ]

    def posted(self) -> list[dict[str, Any]]:
        """Messages Slack accepted (failed attempts are not in here)."""
        return [c.body for c in self.successful("chat.postMessage")]

    def messages_to(self, user: str) -> list[dict[str, Any]]:
        return [
            c.body for c in self.successful("chat.postMessage") if c.body.get("channel") == user
        ]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._lock:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(remaining)
        return True

    # ------------------------------------------------------------------ answers

    def _answer(self, method: str, body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        with self._lock:
            failure = next(
                (
                    f
                    for f in self.failures
                    if f.method in (None, method) and f.channel in (None, body.get("channel"))
                ),
                None,
            )
            if failure is not None:
                self.failures.remove(failure)
                self.calls.append(Call(method, body, failure.status, ok=False))
                self._lock.notify_all()
                headers = {}
                if failure.retry_after is not None:
                    headers["Retry-After"] = str(failure.retry_after)
                error = failure.error or ("ratelimited" if failure.status == 429 else "fatal_error")
                return failure.status, headers, {"ok": False, "error": error}
            self._ts += 1
            self.calls.append(Call(method, body, 200))
            self._lock.notify_all()
            ts = f"1700000000.{self._ts:06d}"
        if method == "auth.test":
            return (
                200,
                {},
                {
                    "ok": True,
                    "url": "https://reflect-test.slack.com/",
                    "team": "Test",
                    "user": "reflect",
                    "team_id": "T0TEST",
                    "user_id": BOT_USER_ID,
                    "bot_id": "B0TESTBOT",
                },
            )
        if method == "chat.postMessage":
            return 200, {}, {"ok": True, "channel": body.get("channel"), "ts": ts}
        if method == "users.lookupByEmail":
            user = self.users_by_email.get(str(body.get("email", "")))
            if user is None:
                return 200, {}, {"ok": False, "error": "users_not_found"}
            return 200, {}, {"ok": True, "user": {"id": user, "deleted": False}}
        if method in {"views.open", "views.publish", "views.update"}:
            return 200, {}, {"ok": True, "view": {"id": f"V{self._ts:06d}"}}
        return 200, {}, {"ok": True}


@contextmanager
def fake_slack() -> Iterator[FakeSlack]:
    """A started fake, stopped afterwards."""
    fake = FakeSlack().start()
    try:
        yield fake
    finally:
        fake.stop()


def main() -> None:
    """Serve the fake on a fixed port and print each call, for trying `reflect serve` by hand:
    python -m tests.fake_slack --port 8999, then SLACK_API_URL=http://127.0.0.1:8999/api/."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=8999)
    args = parser.parse_args()
    fake = FakeSlack(port=args.port).start()
    print(f"fake Slack Web API at {fake.url}", flush=True)
    seen = 0
    try:
        while True:
            fake.wait_for(lambda seen=seen: len(fake.calls) > seen, timeout=3600)
            for call in fake.calls[seen:]:
                print(f"{call.status} {call.method} {json.dumps(call.body)[:400]}", flush=True)
            seen = len(fake.calls)
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
