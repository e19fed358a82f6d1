"""A fake Slack Web API served over real HTTP on 127.0.0.1 (after bolt-python's
tests/mock_web_api_server): the one stand-in for Slack that the tests, the benchmarks and a person
trying Reflect by hand all use. It records every call, looks people up by email from
``users_by_email``, and can be told to fail the next few calls (a 5xx, a 429 with Retry-After, or
one of Slack's error codes) and to take a while over each call (``call_delay``, as a far-away
Slack does).

It runs in a thread of the caller (``FakeSlack().start()``, ``fake_slack()``), in a process of its
own (``start_in_process``: the benchmarks, so that it does not share the driver's interpreter
lock), or by hand::

    python -m tools.fake_slack --port 8090

Like Slack, it keeps what is posted, with its metadata, in each conversation (a post to a
person's user id lands in the app's DM with them, D... for U...), and answers
conversations.open and conversations.history from that. It can also post a message and then
answer late (after the client has given up) or with a 5xx, so the sender cannot tell, or hold a
post for a while before it appears in the history and is answered.

Like Slack, it refuses a message or view too long for it (see ``refused``): a section over
3,000 characters or too many blocks (``invalid_blocks``), blocks holding more than 12,000
characters of text in all (``msg_blocks_too_long``), a ``text`` over 40,000 (``msg_too_long``)."""

from __future__ import annotations

import argparse
import json
import multiprocessing
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

BOT_USER_ID = "U0TESTBOT"
# What Slack refuses in a message (chat.postMessage and its kind) or a view, as it answers it.
MESSAGE_METHODS = frozenset({"chat.postMessage", "chat.postEphemeral", "chat.update"})
VIEW_METHODS = frozenset({"views.open", "views.publish", "views.update", "views.push"})
BLOCK_TEXT_LIMIT = 12_000  # undocumented; reported in Slack's SDK trackers
MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100
SECTION_TEXT = 3000
TEXT_LIMIT = 40_000


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


@dataclass
class AfterPosting:
    """A post that is kept, then answered ``delay`` seconds late, with HTTP ``status``."""

    delay: float = 0.0
    status: int = 200


def dm_of(user: str) -> str:
    """The id of the app's DM with ``user`` (a conversation id as it is: a post to it)."""
    return "D" + user[1:] if user.startswith(("U", "W")) else user


class _Server(ThreadingHTTPServer):
    # Slack takes a team's burst of messages; the default backlog of 5 resets connections.
    request_queue_size = 1024


class FakeSlack:
    def __init__(self, port: int = 0) -> None:
        self.calls: list[Call] = []
        self.failures: list[Failure] = []
        self.after_posting: list[AfterPosting] = []
        # What Slack holds: each conversation's messages, oldest first.
        self.conversations: dict[str, list[dict[str, Any]]] = {}
        self.users_by_email: dict[str, str] = {}
        # Further methods, each answered by its function from the call's body (Socket Mode's
        # apps.connections.open, for one: tests/fake_socket_mode.py).
        self.methods: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {}
        # Seconds each chat.postMessage takes to answer, as a real server far away does.
        self.post_delay = 0.0
        # Seconds every call takes to answer (Slack's own time and the way there and back).
        self.call_delay = 0.0
        # Seconds each of the next posts is held before it is posted and answered (hold_posts),
        # and how many are being held now.
        self.holds: list[float] = []
        self.holding = 0
        # Seconds each of the next conversations.history calls takes (slow_history).
        self.history_delays: list[float] = []
        # Told of each message Slack accepted: its recipient and time.monotonic() on arrival.
        self.on_posted: Callable[[str, float], None] | None = None
        self._lock = threading.Condition()
        self._ts = 0
        self._last_ts = 0.0
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
                fake._wait_before(method)
                time.sleep(fake.call_delay)
                status, headers, answer, delay = fake._answer(method, body)
                time.sleep(delay)
                payload = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # a late answer: the client gave up and hung up

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = _Server(("127.0.0.1", port), Handler)
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
            self.after_posting.clear()
            self.conversations.clear()
            self.methods.clear()
            self.post_delay = 0.0
            self.call_delay = 0.0
            self.holds.clear()
            self.history_delays.clear()

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

    def answer_late(self, count: int, delay: float) -> None:
        """The next ``count`` posts are kept (the message is in the conversation) but answered
        only after ``delay`` seconds: longer than the client's timeout, it sees a timeout."""
        with self._lock:
            self.after_posting += [AfterPosting(delay=delay) for _ in range(count)]

    def hold_posts(self, count: int, seconds: float) -> None:
        """The next ``count`` posts are taken and held for ``seconds`` before they are posted
        (in the conversation's history) and answered, as Slack sometimes does: a sender that
        dies meanwhile cannot tell, and a look in the history meanwhile does not find them."""
        with self._lock:
            self.holds += [seconds] * count

    def slow_history(self, count: int, seconds: float) -> None:
        """The next ``count`` conversations.history calls take ``seconds`` to answer."""
        with self._lock:
            self.history_delays += [seconds] * count

    def _wait_before(self, method: str) -> None:
        with self._lock:
            if method == "chat.postMessage" and self.holds:
                seconds = self.holds.pop(0)
                self.holding += 1
            elif method == "conversations.history" and self.history_delays:
                seconds = self.history_delays.pop(0)
            else:
                return
            self._lock.notify_all()
        time.sleep(seconds)
        if method == "chat.postMessage":
            with self._lock:
                self.holding -= 1

    def fail_after_posting(self, count: int, status: int = 500) -> None:
        """The next ``count`` posts are kept, then answered with HTTP ``status`` all the same."""
        with self._lock:
            self.after_posting += [AfterPosting(status=status) for _ in range(count)]

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

    def held(self, user: str) -> list[dict[str, Any]]:
        """What the DM with ``user`` holds, oldest first: each kept post however it was
        answered, with its ``ts`` and ``metadata``."""
        with self._lock:
            return list(self.conversations.get(dm_of(user), []))

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

    def _answer(self, method: str, body: dict[str, Any]) -> tuple[int, dict[str, str], Any, float]:
        """Status, headers and body of the answer, and how long to wait before giving it."""
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
                return failure.status, headers, {"ok": False, "error": error}, 0.0
            refusal = refused(method, body)
            if refusal is not None:
                self.calls.append(Call(method, body, 200, ok=False))
                self._lock.notify_all()
                return 200, {}, {"ok": False, "error": refusal}, 0.0
            later = None
            if method == "chat.postMessage" and self.after_posting:
                later = self.after_posting.pop(0)
            self._ts += 1
            status = later.status if later else 200
            self.calls.append(Call(method, body, status, ok=status == 200))
            ts = self._next_ts()
            if method == "chat.postMessage":
                self._keep(body, ts)
                if self.on_posted is not None and status == 200:
                    self.on_posted(str(body.get("channel")), time.monotonic())
            self._lock.notify_all()
            if method == "conversations.history":
                return 200, {}, self._history(body), 0.0
        delay = later.delay if later else 0.0
        if status != 200:
            return status, {}, {"ok": False, "error": "fatal_error"}, delay
        return 200, {}, self._ok(method, body, ts), delay

    def _ok(self, method: str, body: dict[str, Any], ts: str) -> dict[str, Any]:
        if method in self.methods:
            return self.methods[method](body)
        if method == "auth.test":
            return {
                "ok": True,
                "url": "https://reflect-test.slack.com/",
                "team": "Test",
                "user": "reflect",
                "team_id": "T0TEST",
                "user_id": BOT_USER_ID,
                "bot_id": "B0TESTBOT",
            }
        if method == "chat.postMessage":
            return {"ok": True, "channel": dm_of(str(body.get("channel"))), "ts": ts}
        if method == "conversations.open":
            return {"ok": True, "channel": {"id": dm_of(str(body.get("users", "")))}}
        if method == "users.lookupByEmail":
            user = self.users_by_email.get(str(body.get("email", "")))
            if user is None:
                return {"ok": False, "error": "users_not_found"}
            return {"ok": True, "user": {"id": user, "deleted": False}}
        if method in {"views.open", "views.publish", "views.update"}:
            return {"ok": True, "view": {"id": f"V{self._ts:06d}"}}
        return {"ok": True}

    def _next_ts(self) -> str:
        """Slack's message timestamps: the time, unique and increasing."""
        self._last_ts = max(time.time(), self._last_ts + 0.000001)
        return f"{self._last_ts:.6f}"

    def _keep(self, body: dict[str, Any], ts: str) -> None:
        metadata = body.get("metadata")
        if isinstance(metadata, str):  # a form-encoded post carries it as JSON
            metadata = json.loads(metadata)
        message = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": "B0TESTBOT",
            "text": body.get("text", ""),
            "ts": ts,
        }
        if metadata:
            message["metadata"] = metadata
        channel = dm_of(str(body.get("channel")))
        self.conversations.setdefault(channel, []).append(message)

    def _history(self, body: dict[str, Any]) -> dict[str, Any]:
        """conversations.history: newest first, after ``oldest``, ``limit`` a page, metadata
        only with include_all_metadata, the next page's cursor an offset."""
        channel = str(body.get("channel", ""))
        if channel not in self.conversations and not channel.startswith("D"):
            return {"ok": False, "error": "channel_not_found"}
        oldest = float(body.get("oldest") or 0)
        limit = int(body.get("limit") or 100)
        start = int(body.get("cursor") or 0)
        with_metadata = str(body.get("include_all_metadata", "")).lower() in {"1", "true"}
        newer = [
            m for m in reversed(self.conversations.get(channel, [])) if float(m["ts"]) > oldest
        ]
        page = newer[start : start + limit]
        if not with_metadata:
            page = [{k: v for k, v in m.items() if k != "metadata"} for m in page]
        more = start + limit < len(newer)
        return {
            "ok": True,
            "messages": page,
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }


def refused(method: str, body: dict[str, Any]) -> str | None:
    """Slack's error code for a message or view it would refuse as too long; None if not."""
    if method in MESSAGE_METHODS:
        blocks, most = _decoded(body.get("blocks")), MESSAGE_BLOCKS
        if len(str(body.get("text") or "")) > TEXT_LIMIT:
            return "msg_too_long"
    elif method in VIEW_METHODS:
        blocks, most = _decoded(_decoded(body.get("view")).get("blocks")), VIEW_BLOCKS
    else:
        return None
    if len(blocks) > most or any(_section_too_long(b) for b in blocks):
        return "invalid_blocks"
    if method in MESSAGE_METHODS and _all_text(blocks) > BLOCK_TEXT_LIMIT:
        return "msg_blocks_too_long"
    return None


def _decoded(value: Any) -> Any:
    """A field as sent: form-encoded posts carry blocks and views as JSON text."""
    return json.loads(value) if isinstance(value, str) else (value or {})


def _section_too_long(block: dict[str, Any]) -> bool:
    text = block.get("text") if block.get("type") == "section" else None
    return isinstance(text, dict) and len(str(text.get("text", ""))) > SECTION_TEXT


def _all_text(value: Any) -> int:
    """Every ``text`` in the blocks, added up, as Slack appears to count toward its limit."""
    if isinstance(value, dict):
        return sum(
            len(item) if key == "text" and isinstance(item, str) else _all_text(item)
            for key, item in value.items()
        )
    if isinstance(value, list):
        return sum(_all_text(item) for item in value)
    return 0


@contextmanager
def fake_slack() -> Iterator[FakeSlack]:
    """A started fake, stopped afterwards."""
    fake = FakeSlack().start()
    try:
        yield fake
    finally:
        fake.stop()


def _serve_for_another_process(
    port_queue: multiprocessing.Queue[int],
    arrivals: multiprocessing.Queue[tuple[str, float]],
    call_delay: float,
) -> None:
    fake = FakeSlack()
    fake.call_delay = call_delay
    fake.on_posted = lambda recipient, at: arrivals.put((recipient, at))
    port_queue.put(fake.server.server_address[1])
    fake.server.serve_forever()


def start_in_process(
    call_delay: float = 0.0,
) -> tuple[multiprocessing.process.BaseProcess, int, multiprocessing.Queue[tuple[str, float]]]:
    """A fake in a process of its own (stop it with ``terminate()``), its port, and a queue of
    each accepted message's (recipient, time.monotonic() on arrival)."""
    context = multiprocessing.get_context("spawn")
    port_queue: multiprocessing.Queue[int] = context.Queue()
    arrivals: multiprocessing.Queue[tuple[str, float]] = context.Queue()
    process = context.Process(
        target=_serve_for_another_process, args=(port_queue, arrivals, call_delay), daemon=True
    )
    process.start()
    return process, port_queue.get(timeout=30), arrivals


def _more_than(fake: FakeSlack, seen: int) -> bool:
    return len(fake.calls) > seen


def main(argv: list[str] | None = None) -> None:
    """Serve the fake on 127.0.0.1 and print each call, for trying `reflect serve` by hand."""
    parser = argparse.ArgumentParser(
        prog="python -m tools.fake_slack", description="A fake Slack Web API on 127.0.0.1."
    )
    parser.add_argument("--port", type=int, default=8090, help="port to listen on (8090)")
    parser.add_argument(
        "--latency", type=float, default=0.0, help="milliseconds to take over each call (0)"
    )
    parser.add_argument(
        "--user",
        action="append",
        default=[],
        metavar="EMAIL=ID",
        help="a person users.lookupByEmail finds (repeatable), e.g. sam@example.org=U0SAM",
    )
    args = parser.parse_args(argv)
    try:
        fake = FakeSlack(port=args.port)
    except OSError as error:
        parser.exit(2, f"cannot listen on 127.0.0.1:{args.port}: {error.strerror}\n")
    fake.call_delay = args.latency / 1000
    for pair in args.user:
        email, _, user = pair.partition("=")
        if not email or not user:
            parser.exit(2, f"--user takes EMAIL=ID, not {pair!r}\n")
        fake.users_by_email[email] = user
    fake.start()
    print(f"fake Slack Web API listening on {fake.url}", flush=True)
    print(f"set SLACK_API_URL={fake.url} (any SLACK_BOT_TOKEN will do)", flush=True)
    seen = 0
    try:
        while True:
            fake.wait_for(partial(_more_than, fake, seen), timeout=3600)
            with fake._lock:
                new = fake.calls[seen:]
            for call in new:
                print(f"{call.status} {call.method} {json.dumps(call.body)[:400]}", flush=True)
            seen += len(new)
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
