"""A local imitation of Slack's Socket Mode, on 127.0.0.1, in a thread of its own.

``apps.connections.open`` (a Web API method: tools/fake_slack.py answers it through
``FakeSocketMode.connections_open``) hands out a ``ws://127.0.0.1:PORT/link/?ticket=N`` URL. On
each connection the imitation says ``hello``, sends envelopes (``events_api``,
``slash_commands``, ``interactive``), and records each acknowledgement by ``envelope_id`` and
when it came. Like Slack, it sends an envelope on the newest connection that is open, and keeps
one sent while no connection is open for the next connection to say hello.

What a network or Slack can do to a connection, on request:

- ``drop()``: the connection is gone at once, without a close frame;
- ``silence()``: the connection stays open but nothing comes back, not even a pong;
- ``refresh(close_after)``: Slack's routine ``disconnect`` (reason ``refresh_requested``),
  then a proper close ``close_after`` seconds later.

It is bounded (a few connections at a time, small messages) and stops itself after
``lifetime`` seconds if nobody stopped it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve

MAX_CONNECTIONS = 16
MAX_MESSAGE_BYTES = 64 * 1024
LIFETIME_SECONDS = 600.0


@dataclass
class Link:
    """One WebSocket connection from the app."""

    number: int
    websocket: ServerConnection
    opened_at: float = field(default_factory=time.monotonic)
    greeted: bool = False
    draining: bool = False  # told to reconnect (disconnect sent); Slack closes it soon
    silent: bool = False  # nothing goes either way any more
    closed: bool = False


@dataclass
class Envelope:
    envelope_id: str
    kind: str
    message: dict[str, Any]  # as it goes over the wire
    sent_at: float | None = None  # None: waiting for a connection
    link: int | None = None
    acked_at: float | None = None
    ack_link: int | None = None
    response: dict[str, Any] | None = None  # the payload sent back with the acknowledgement

    @property
    def latency(self) -> float | None:
        """Seconds from being sent to being acknowledged."""
        if self.sent_at is None or self.acked_at is None:
            return None
        return self.acked_at - self.sent_at


class FakeSocketMode:
    """Start with ``start()`` (or ``running_socket_mode()``), stop with ``stop()``."""

    def __init__(self, lifetime: float = LIFETIME_SECONDS) -> None:
        self.lifetime = lifetime
        self.links: list[Link] = []
        self.envelopes: dict[str, Envelope] = {}
        self.waiting: list[Envelope] = []
        self.tickets_issued = 0
        self.port = 0
        self._changed = threading.Condition()
        self._ids = itertools.count(1)
        self._loop = asyncio.new_event_loop()
        self._server: Server | None = None
        self._stopping: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="fake-socket-mode", daemon=True)
        self._ready = threading.Event()

    # ------------------------------------------------------------------ control

    def start(self) -> FakeSocketMode:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the Socket Mode imitation did not start")
        return self

    def stop(self) -> None:
        if self._thread.is_alive() and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(10)

    def connections_open(self, _body: dict[str, Any]) -> dict[str, Any]:
        """The Web API's apps.connections.open: a new URL for each connection."""
        with self._changed:
            self.tickets_issued += 1
            ticket = self.tickets_issued
        return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}"}

    def send(
        self, kind: str, payload: dict[str, Any], *, accepts_response_payload: bool = False
    ) -> str:
        """Send an envelope on the newest open connection (or the next one); its id."""
        envelope_id = f"env-{next(self._ids):05d}"
        message = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
            "retry_attempt": 0,
            "retry_reason": "",
        }
        envelope = Envelope(envelope_id, kind, message)
        with self._changed:
            self.envelopes[envelope_id] = envelope
        self._call(self._deliver(envelope))
        return envelope_id

    def drop(self) -> None:
        """Every open connection is cut: no close frame, the socket just goes."""
        self._call(self._drop())

    def silence(self) -> None:
        """Every open connection goes quiet: still open, but it neither reads nor answers."""
        self._call(self._silence())

    def refresh(self, close_after: float, reason: str = "refresh_requested") -> None:
        """Slack's disconnect notice on every open connection, then a close after a while."""
        self._call(self._refresh(close_after, reason))

    # ------------------------------------------------------------------ inspection

    def wait_for_ack(self, envelope_id: str, timeout: float) -> Envelope | None:
        """The envelope once acknowledged, or None after ``timeout`` seconds."""
        if self._wait(lambda: self.envelopes[envelope_id].acked_at is not None, timeout):
            return self.envelopes[envelope_id]
        return None

    def wait_for_connections(self, count: int, timeout: float = 10.0) -> bool:
        """True once ``count`` connections in all have said hello."""
        return self._wait(lambda: sum(link.greeted for link in self.links) >= count, timeout)

    def open_links(self) -> list[Link]:
        with self._changed:
            return [link for link in self.links if not link.closed]

    def _wait(self, condition: Any, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not condition():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
        return True

    # ------------------------------------------------------------------ the server

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve())
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        async with serve(
            self._connection,
            "127.0.0.1",
            0,
            ping_interval=None,  # the app pings; Slack does not need to
            max_size=MAX_MESSAGE_BYTES,
            close_timeout=1,
        ) as server:
            self._server = server
            self.port = next(iter(server.sockets)).getsockname()[1]
            self._ready.set()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.lifetime)
            for link in self.links:
                link.websocket.transport.abort()

    def _call(self, coroutine: Any) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    async def _connection(self, websocket: ServerConnection) -> None:
        if len([link for link in self.links if not link.closed]) >= MAX_CONNECTIONS:
            await websocket.close(1013, "too many connections")
            return
        with self._changed:
            link = Link(len(self.links) + 1, websocket)
            self.links.append(link)
        try:
            await websocket.send(json.dumps(_hello(len(self.open_links()))))
            with self._changed:
                link.greeted = True
                self._changed.notify_all()
            for envelope in self._take_waiting():
                await self._send_on(link, envelope)
            async for raw in websocket:
                self._record_ack(link, raw)
        except Exception:  # dropped, silenced or closed: the link just ends
            pass
        finally:
            with self._changed:
                link.closed = True
                self._changed.notify_all()

    def _take_waiting(self) -> list[Envelope]:
        with self._changed:
            waiting, self.waiting = self.waiting, []
        return waiting

    def _record_ack(self, link: Link, raw: str | bytes) -> None:
        if link.silent:
            return
        try:
            ack = json.loads(raw)
        except ValueError:
            return
        with self._changed:
            envelope = self.envelopes.get(str(ack.get("envelope_id")))
            if envelope is not None and envelope.acked_at is None:
                envelope.acked_at = time.monotonic()
                envelope.ack_link = link.number
                envelope.response = ack.get("payload")
                self._changed.notify_all()

    async def _deliver(self, envelope: Envelope) -> None:
        link = self._newest_open()
        if link is None:
            with self._changed:
                self.waiting.append(envelope)
            return
        await self._send_on(link, envelope)

    async def _send_on(self, link: Link, envelope: Envelope) -> None:
        try:
            await link.websocket.send(json.dumps(envelope.message))
        except Exception:  # the link closed as it went: the next connection gets it
            with self._changed:
                self.waiting.append(envelope)
            return
        with self._changed:
            envelope.sent_at = time.monotonic()
            envelope.link = link.number

    def _newest_open(self) -> Link | None:
        """The newest connection that is open and says hello; one told to reconnect only when
        there is no other, as Slack sends on it until it closes."""
        with self._changed:
            usable = [
                link for link in self.links if link.greeted and not link.closed and not link.silent
            ]
        fresh = [link for link in usable if not link.draining]
        return (fresh or usable or [None])[-1]

    async def _drop(self) -> None:
        for link in self.open_links():
            link.websocket.transport.abort()

    async def _silence(self) -> None:
        for link in self.open_links():
            link.silent = True
            link.websocket.transport.pause_reading()

    async def _refresh(self, close_after: float, reason: str) -> None:
        notice = json.dumps({"type": "disconnect", "reason": reason, "debug_info": {"host": "x"}})
        for link in self.open_links():
            if link.silent or link.draining:
                continue
            link.draining = True
            await link.websocket.send(notice)
            self._loop.call_later(close_after, self._close_soon, link)

    def _close_soon(self, link: Link) -> None:
        self._loop.create_task(link.websocket.close(1001, "refresh"))


def _hello(connections: int) -> dict[str, Any]:
    return {
        "type": "hello",
        "num_connections": connections,
        "debug_info": {"host": "fake-socket-mode", "approximate_connection_time": 18060},
        "connection_info": {"app_id": "A0TESTAPP"},
    }


def slash_command(user: str, text: str, trigger_id: str) -> dict[str, Any]:
    """A slash_commands envelope's payload: the command's fields, as over HTTP."""
    return {
        "token": "legacy",
        "team_id": "T0TEST",
        "channel_id": "D0TESTDM",
        "user_id": user,
        "command": "/reflect",
        "text": text,
        "api_app_id": "A0TEST",
        "response_url": "https://hooks.slack.invalid/commands/T0TEST/1/x",
        "trigger_id": trigger_id,
    }


def event_callback(event: dict[str, Any], event_id: str) -> dict[str, Any]:
    """An events_api envelope's payload: the event callback, as over HTTP."""
    return {
        "token": "legacy",
        "team_id": "T0TEST",
        "api_app_id": "A0TEST",
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()),
        "authorizations": [{"team_id": "T0TEST", "user_id": "U0TESTBOT", "is_bot": True}],
        "event": event,
    }


@contextmanager
def running_socket_mode(lifetime: float = LIFETIME_SECONDS) -> Iterator[FakeSocketMode]:
    fake = FakeSocketMode(lifetime).start()
    try:
        yield fake
    finally:
        fake.stop()
