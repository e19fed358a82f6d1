"""`reflect serve` over Socket Mode: one WebSocket connection to Slack, kept open, and a clean stop.

Slack hands out a connection URL (apps.connections.open), says ``hello`` on it, then sends
envelopes (events, slash commands, interactions) that the app acknowledges by ``envelope_id``
within three seconds, after storing what they carry (store, then acknowledge).

- A connection that drops is replaced at once; one that goes silent is found by its pings
  going unanswered within a few seconds (PING_INTERVAL + PING_TIMEOUT) and replaced.
- Slack's ``disconnect`` notice (refresh_requested, warning) comes a few seconds before Slack
  closes the connection: the new connection is opened first, and the old one is read until
  Slack closes it, so acknowledgements never wait for a connection.
- On SIGTERM or SIGINT: no new envelopes are taken (Slack sends them again, to this process's
  successor), those in hand are handled and acknowledged, the connection is closed, the
  background work is finished or released (Background.stop()), and what is due to be sent is
  sent, within a few seconds; then the process exits 0.

Built on the ``websockets`` package's threading client: it answers pings and times out on
unanswered ones on its own threads, whatever the app's threads are doing, and sends are safe
from any thread. benchmarks/socket_mode_recovery.py compares it with slack_sdk's clients.
"""

from __future__ import annotations

import copy
import json
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from slack_bolt import App, BoltResponse
from slack_bolt.adapter.socket_mode.internals import run_bolt_app
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.web import WebClient
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from bot.messaging.delivery import Delivery
from bot.reflection.service import utcnow
from bot.slack.frontend import SlackFrontEnd
from storage.db import SessionFactory

if TYPE_CHECKING:
    from bot.bootstrap import Database
    from bot.settings import Settings

log = logging.getLogger(__name__)

# A ping every PING_INTERVAL seconds; no pong within PING_TIMEOUT and the connection is given
# up. slack_sdk's built-in client, as Bolt runs it, pings every 10 s and gives up after 40 s: a
# silent or dropped connection went unnoticed for most of a minute. Slack answers a ping in
# well under a second.
PING_INTERVAL = 2.0
PING_TIMEOUT = 2.0
# For the handshake, and Slack's hello after it.
OPEN_TIMEOUT = 5.0
# For the closing handshake: a connection we close (or that stopped answering) is gone within
# this.
CLOSE_TIMEOUT = 0.5
# How long Slack may take to close a connection it told us to leave, before we close it.
DRAIN_SECONDS = 30.0
# Waits between tries while Slack cannot be reached: the first try again is at once.
RETRY_DELAYS = (0.0, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
# Envelopes are a few kilobytes; a view submission with long answers is the largest.
MAX_MESSAGE_BYTES = 1024 * 1024
# At a stop: how long envelopes in hand may take to be handled and acknowledged, and how long
# sending what is due may take.
FINISH_SECONDS = 5.0
FLUSH_SECONDS = 5.0
FLUSH_CALL_TIMEOUT = 2

Connector = Callable[[str], ClientConnection]


# The websockets package logs a connection given up for unanswered pings as an error with a
# traceback; what happened is logged here once, in an operator's words.
websocket_log = logging.getLogger(f"{__name__}.websocket")
websocket_log.setLevel(logging.CRITICAL)


def open_websocket(url: str) -> ClientConnection:
    return connect(
        url,
        open_timeout=OPEN_TIMEOUT,
        ping_interval=PING_INTERVAL,
        ping_timeout=PING_TIMEOUT,
        close_timeout=CLOSE_TIMEOUT,
        max_size=MAX_MESSAGE_BYTES,
        logger=websocket_log,
    )


@dataclass(eq=False)
class Link:
    """One WebSocket connection to Slack, numbered in the order opened."""

    number: int
    websocket: ClientConnection
    opened_at: float = field(default_factory=time.monotonic)
    # Slack asked for a new connection (or this one ended): the supervisor opens one.
    replace: bool = False
    ended: bool = False
    why: str = ""  # how it ended, in the websockets package's words (no content in them)
    drain_until: float | None = None  # replaced while open: closed by then if Slack has not

    def close(self) -> None:
        with suppress(Exception):  # already gone
            self.websocket.close()


class SocketModeConnection:
    """Keeps a Socket Mode connection open for ``app`` and hands it each envelope.

    ``threads``: how many envelopes are handled at once (each is stored, then acknowledged).
    """

    def __init__(
        self,
        app: App,
        app_token: str,
        *,
        threads: int = 8,
        open_websocket: Connector = open_websocket,
    ) -> None:
        self.app = app
        self.app_token = app_token
        self.open_websocket = open_websocket
        self._handlers = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="reflect-sm")
        self._changed = threading.Condition()
        self._links: list[Link] = []
        self._current: Link | None = None
        self._opened = 0
        self._in_hand = 0
        self._stopping = False
        self._supervisor = threading.Thread(
            target=self._supervise, name="reflect-socket-mode", daemon=True
        )

    # ------------------------------------------------------------------ control

    def start(self) -> None:
        self._supervisor.start()

    def stop(self, finish_within: float = FINISH_SECONDS) -> None:
        """Take no more envelopes, handle and acknowledge those in hand, then close."""
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
            deadline = time.monotonic() + finish_within
            while self._in_hand and time.monotonic() < deadline:
                self._changed.wait(deadline - time.monotonic())
            left = self._in_hand
            links = list(self._links)
        if left:
            log.warning("stopping with %s Slack envelopes still being handled", left)
        for link in links:
            link.close()
        self._supervisor.join(CLOSE_TIMEOUT + 1)
        self._handlers.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------ connecting

    def _supervise(self) -> None:
        failures = 0
        lost_at: float | None = None
        while not self._stopped():
            try:
                link = self._open_link()
            except Exception as exc:
                delay = self._retry_delay(exc, failures)
                failures += 1
                log.warning(
                    "could not connect to Slack (%s); trying again in %.1f s",
                    type(exc).__name__,
                    delay,
                )
                self._wait(delay)
                continue
            failures = 0
            self._take_over(link, lost_at)
            lost_at = self._wait_until_replaced(link)

    def _open_link(self) -> Link:
        url = self.app.client.apps_connections_open(app_token=self.app_token)["url"]
        websocket = self.open_websocket(str(url))
        try:
            hello = json.loads(websocket.recv(timeout=OPEN_TIMEOUT))
        except Exception:
            websocket.close()
            raise
        with self._changed:
            self._opened += 1
            link = Link(self._opened, websocket)
            self._links.append(link)
        if hello.get("type") != "hello":  # not seen from Slack; handled all the same
            self._on_message(link, hello)
        threading.Thread(
            target=self._read, args=(link,), name=f"reflect-sm-read-{link.number}", daemon=True
        ).start()
        return link

    def _take_over(self, link: Link, lost_at: float | None) -> None:
        with self._changed:
            previous, self._current = self._current, link
            if previous is not None and not previous.ended:
                previous.drain_until = time.monotonic() + DRAIN_SECONDS
            stopping = self._stopping
        if lost_at is not None:
            log.warning(
                "reconnected to Slack %.2f s after the connection was lost (connection %s)",
                time.monotonic() - lost_at,
                link.number,
            )
        else:
            log.info("connected to Slack (connection %s)", link.number)
        if stopping:
            link.close()

    def _wait_until_replaced(self, link: Link) -> float | None:
        """Wait until ``link`` needs a successor; when it was lost (not refreshed), when."""
        with self._changed:
            while not (link.replace or self._stopping):
                self._changed.wait(self._until_next_drain())
                self._close_drained()
            lost = link.ended
        if lost and not self._stopped():
            log.warning(
                "connection to Slack lost (connection %s: %s); reconnecting",
                link.number,
                link.why or "closed",
            )
            return time.monotonic()
        return None

    def _until_next_drain(self) -> float:
        ends = [link.drain_until for link in self._links if link.drain_until and not link.ended]
        return max(0.05, min(ends) - time.monotonic()) if ends else 1.0

    def _close_drained(self) -> None:
        now = time.monotonic()
        for link in self._links:
            if link.drain_until is not None and link.drain_until <= now and not link.ended:
                link.drain_until = None
                threading.Thread(target=link.close, daemon=True).start()

    def _retry_delay(self, error: Exception, failures: int) -> float:
        if isinstance(error, SlackApiError) and error.response.get("error") == "ratelimited":
            return float(error.response.headers.get("Retry-After", "30"))
        return RETRY_DELAYS[min(failures, len(RETRY_DELAYS) - 1)]

    def _wait(self, seconds: float) -> None:
        with self._changed:
            if not self._stopping:
                self._changed.wait(seconds)

    def _stopped(self) -> bool:
        with self._changed:
            return self._stopping

    # ------------------------------------------------------------------ reading

    def _read(self, link: Link) -> None:
        try:
            for raw in link.websocket:
                try:
                    message = json.loads(raw)
                except ValueError:
                    log.warning("ignored a message from Slack that is not JSON")
                    continue
                self._on_message(link, message)
        except ConnectionClosed as closed:  # dropped, or pings unanswered
            link.why = str(closed)
        except Exception as exc:
            log.error("reading from Slack failed: %s", type(exc).__name__)
        finally:
            with self._changed:
                link.ended = True
                link.replace = True
                self._links.remove(link)
                self._changed.notify_all()

    def _on_message(self, link: Link, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "disconnect":
            log.info(
                "Slack asked for a new connection (%s); opening it before this one closes",
                message.get("reason"),
            )
            with self._changed:
                link.replace = True
                self._changed.notify_all()
            return
        if kind == "hello" or not message.get("envelope_id"):
            return
        with self._changed:
            if self._stopping:
                return  # not acknowledged: Slack sends it again, to whoever is connected
            self._in_hand += 1
        try:
            self._handlers.submit(self._handle, link, message)
        except RuntimeError:  # the pool has shut down
            self._done()

    # ------------------------------------------------------------------ handling

    def _handle(self, link: Link, message: dict[str, Any]) -> None:
        try:
            request = SocketModeRequest.from_dict(message)
            if request is None:
                return
            response = run_bolt_app(self.app, request)
            ack = acknowledgement(request.envelope_id, response)
            if ack is not None:
                self._send(link, json.dumps(ack))
        except Exception as exc:
            log.error(
                "handling a Slack %s envelope failed: %s", message.get("type"), type(exc).__name__
            )
        finally:
            self._done()

    def _send(self, link: Link, text: str) -> None:
        """On the connection the envelope came on; on the newest one if that has gone."""
        with self._changed:
            current = self._current
        for candidate in (link, current):
            if candidate is None:
                continue
            try:
                candidate.websocket.send(text)
                return
            except ConnectionClosed:
                continue
        log.warning("could not acknowledge a Slack envelope: no connection; Slack sends it again")

    def _done(self) -> None:
        with self._changed:
            self._in_hand -= 1
            self._changed.notify_all()


def acknowledgement(envelope_id: str, response: BoltResponse) -> dict[str, Any] | None:
    """What goes back to Slack for Bolt's ``response``: the envelope id, with the body as its
    payload (a slash command's ephemeral reply); None when Bolt did not acknowledge (Slack
    retries, as for an HTTP error)."""
    if response.status != 200:
        return None
    if not response.body:
        return {"envelope_id": envelope_id}
    content_type = (response.headers.get("content-type") or [""])[0]
    if content_type.startswith("application/json"):
        return {"envelope_id": envelope_id, "payload": json.loads(response.body)}
    return {"envelope_id": envelope_id, "payload": {"text": response.body}}


# ---------------------------------------------------------------------- the process


def flush_outbox(
    new_session: SessionFactory,
    client: WebClient,
    within: float = FLUSH_SECONDS,
    now: Callable[[], datetime] = utcnow,
) -> int:
    """Send what is due now, pass after pass (each person's next message is due only once the
    one before is sent), for at most ``within`` seconds; how many were sent."""
    sending = copy.copy(client)
    sending.timeout = FLUSH_CALL_TIMEOUT  # a slow Slack must not hold the stop up
    delivery = Delivery(new_session, SlackFrontEnd(sending), now=now)
    return delivery.deliver_all(within=within).sent


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM (how platforms stop a process) and SIGINT set ``stop``; a second one ends the
    process at once. Outside the main thread, signals are left as they are."""

    def request_stop(number: int, _frame: Any) -> None:
        log.warning("received %s: stopping", signal.Signals(number).name)
        stop.set()
        for kind in (signal.SIGTERM, signal.SIGINT):
            signal.signal(kind, signal.SIG_DFL)

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {kind: signal.signal(kind, request_stop) for kind in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for kind, handler in previous.items():
            signal.signal(kind, handler)


class Stoppable(Protocol):
    def stop(self) -> None: ...


@dataclass(frozen=True)
class Running:
    """What `reflect serve` built: the Bolt app, the process's background work, its database."""

    app: App
    background: Stoppable
    database: Database


def serve(settings: Settings, *, threads: int, build: Callable[[], Running]) -> None:
    """`reflect serve` with SLACK_APP_TOKEN: until SIGTERM or SIGINT, then a clean stop."""
    if log.level == logging.NOTSET:
        log.setLevel(logging.INFO)  # connections and reconnections are for the operator's log
    stop = threading.Event()
    with stop_on_signals(stop):
        running = build()
        app, background, database = running.app, running.background, running.database
        assert settings.slack_app_token is not None  # Socket Mode is chosen only when it is set
        connection = SocketModeConnection(app, settings.slack_app_token, threads=threads)
        connection.start()
        try:
            while not stop.wait(1.0):
                pass
        finally:
            started = time.monotonic()
            connection.stop()
            background.stop()
            flushed = flush_outbox(database.new_session, app.client)
            log.info(
                "stopped in %.1f s (%s messages sent while stopping)",
                time.monotonic() - started,
                flushed,
            )
