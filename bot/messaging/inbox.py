"""Store, acknowledge, then handle: what practitioners send is stored in the inbox, in the same
transaction as its handled-once key, before the platform gets its answer (Slack's 200), and
handled straight after (queries: storage/inbox.py).

Slack wants a 200 within three seconds and a team may all answer at once, so the request does
only the storing. Handling (the reflection service, and the messages it records) happens on a
few threads and removes the item in its own transaction. Each person's items are handled one
at a time, oldest first, whichever process stored them: a process claims only a person's
oldest waiting item (storage/inbox.py), and after handling it looks for their next.

If a process dies with items in hand, the process table (bot/liveness.py) finds it dead and its
claims fall due at once; if handling fails, the item waits a little and is tried again, still
ahead of the person's later messages. An item that fails every try is set aside for an operator
(`reflect inbox list`, `reflect inbox retry`), logged without its content, and the person told.
Tests handle each item at once, in the request.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from bot.messaging import handled
from bot.messaging.inorder import InOrder
from bot.messaging.lease import LEASE
from bot.reflection.service import utcnow
from storage import inbox
from storage.db import SessionFactory, after_commit, transaction

log = logging.getLogger(__name__)

MAX_TRIES = 5
# After the database failed an item (a lock held elsewhere, a timeout), the wait before the next
# try: long enough that a few people's locked rows do not keep the handlers busy for others.
DATABASE_WAIT = timedelta(seconds=5)
POLL_SECONDS = 2.0
# While an item claimed here could not be set back: how often to try again.
STRANDED_POLL_SECONDS = 0.5


def retry_after(attempts: int) -> timedelta:
    """2, 4, 8, 16 s between tries: the five tries span half a minute."""
    return timedelta(seconds=min(2**attempts, 60))


@dataclass(frozen=True)
class Received:
    id: int
    kind: str
    user_id: str
    payload: dict[str, Any]
    attempts: int = 1  # this is the how-manieth try
    received_at: datetime | None = None


class NotYet(Exception):
    """The item cannot be handled yet (what it depends on is still being settled); it waits
    ``seconds`` and is tried again, without counting as a failure."""

    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.seconds = seconds


Handler = Callable[[Received], None]


@dataclass(frozen=True)
class _Stranded:
    item: Received
    error: str
    counted: bool


class Inbox:
    """Handlers are registered per kind; ``threads=0`` handles each item in the request.

    ``owner`` names this process in the claims it takes (bot/liveness.py's id when serving).
    """

    def __init__(
        self,
        new_session: SessionFactory,
        *,
        threads: int = 0,
        pace: Callable[[], None] = lambda: None,
        now: Callable[[], datetime] = utcnow,
        owner: str | None = None,
    ) -> None:
        self.new_session = new_session
        self.now = now
        self.owner = owner or uuid.uuid4().hex
        self._handlers: dict[str, Handler] = {}
        self._set_aside: dict[str, Handler] = {}
        self._pool: InOrder[str | Received] | None = None
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        # Items being handled now, and since when (monotonic), for /healthz.
        self._in_hand: dict[int, float] = {}
        self._in_hand_lock = threading.Lock()
        # Items claimed here whose setting back failed (the database was away), by id.
        self._stranded: dict[int, _Stranded] = {}
        self._stranded_lock = threading.Lock()
        if threads:
            self._pool = InOrder(
                self._work, lambda _: None, threads=threads, name="reflect-inbox", pace=pace
            )

    def on(self, kind: str, handler: Handler, *, set_aside: Handler | None = None) -> None:
        """Handle items of ``kind`` with ``handler``; ``set_aside`` is told of one that could
        not be handled after every try (to tell the person)."""
        self._handlers[kind] = handler
        if set_aside is not None:
            self._set_aside[kind] = set_aside

    # ----------------------------------------------------------- storing

    def accept(self, *, kind: str, user_id: str, payload: dict[str, Any], key: str) -> bool:
        """Store an item with its handled-once ``key`` in a transaction of its own; False
        (nothing stored) when that key was handled before."""
        try:
            with transaction(self.new_session) as session:
                handled.take(session=session, key=key, now=self.now())
                self.receive(session, kind=kind, user_id=user_id, payload=payload)
        except handled.AlreadyHandled:
            return False
        return True

    def receive(
        self, session: Session, *, kind: str, user_id: str, payload: dict[str, Any]
    ) -> None:
        """Store an item in the caller's transaction; it is handled once that commits, after
        whatever of the person's is still waiting."""
        now = self.now()
        if inbox.has_waiting(session=session, user_id=user_id):
            # Behind another of theirs: whoever handles that one takes this next.
            inbox.add(
                session=session,
                kind=kind,
                user_id=user_id,
                payload=payload,
                now=now,
                claimed_until=now,
            )
            after_commit(session, lambda: self.kick(user_id))
            return
        # Nothing of theirs ahead: claimed here and now, for its first try straight after.
        item_id = inbox.add(
            session=session,
            kind=kind,
            user_id=user_id,
            payload=payload,
            now=now,
            claimed_until=now + LEASE,
            owner=self.owner,
            attempts=1,
        )
        item = Received(item_id, kind, user_id, payload, attempts=1, received_at=now)
        after_commit(session, lambda: self.kick(user_id, item))

    # ----------------------------------------------------------- handling

    def kick(self, user_id: str, item: Received | None = None) -> None:
        """Handle what ``user_id`` has waiting, in order (on the pool, or here and now):
        ``item`` when this process claimed it already, else whatever it may claim."""
        work: str | Received = user_id if item is None else item
        if self._pool is None:
            self._work(work)
        else:
            self._pool.submit(user_id, [work])

    def _work(self, work: str | Received) -> bool:
        if isinstance(work, str):
            return self._drain(work)
        if not self._stop.is_set():
            # Anything of theirs stored meanwhile was stored behind it, and queued its own turn.
            self._handle(work)
        return True

    def _drain(self, user_id: str) -> bool:
        """Handle the person's waiting items one by one until none is left that this process
        may take, or one fails (it waits for its retry, and so do those behind it)."""
        while not self._stop.is_set():
            item = self._claim_next(user_id)
            if item is None or not self._handle(item):
                break
        return True

    def _claim_next(self, user_id: str) -> Received | None:
        while True:
            now = self.now()
            with transaction(self.new_session) as session:
                row = inbox.claim_head(
                    session=session, user_id=user_id, owner=self.owner, now=now, until=now + LEASE
                )
                if row is None:
                    return None
                item = Received(
                    row.id or 0, row.kind, row.user_id, row.payload, row.attempts, row.received_at
                )
                if item.attempts <= MAX_TRIES:
                    return item
                # Taken more often than it may be tried: its handling never finished (the
                # process died with it in hand, again and again).
                inbox.set_aside(session=session, item_id=item.id, error=row.last_error or "")
            self._report_set_aside(item)

    def longest_in_hand(self) -> float:
        """Seconds the item handled longest has been in hand (0 when none is): a handler that
        has waited far past every timeout is stuck."""
        with self._in_hand_lock:
            started = min(self._in_hand.values(), default=None)
        return 0.0 if started is None else time.monotonic() - started

    def _handle(self, item: Received) -> bool:
        with self._in_hand_lock:
            self._in_hand[item.id] = time.monotonic()
        try:
            return self._try(item)
        finally:
            with self._in_hand_lock:
                self._in_hand.pop(item.id, None)

    def _try(self, item: Received) -> bool:
        handler = self._handlers.get(item.kind)
        try:
            if handler is None:
                raise LookupError(f"no handler for {item.kind!r}")
            handler(item)
            return True
        except NotYet as wait:
            self._set_back(item, timedelta(seconds=wait.seconds), "waiting", counted=False)
            if self._pool is not None:  # look again then, rather than at the next poll
                again = threading.Timer(wait.seconds, self.kick, args=(item.user_id,))
                again.daemon = True
                again.start()
            return False
        except Exception as exc:  # the type only: the message may carry what was typed
            # The database being away is not the item's fault: it does not use up a try.
            counted = not isinstance(exc, DBAPIError | TimeoutError)
            last = counted and item.attempts >= MAX_TRIES
            log.error(
                "could not handle inbox item %s (kind %s, try %s of %s): %s; %s",
                item.id,
                item.kind,
                item.attempts,
                MAX_TRIES,
                type(exc).__name__,
                "setting it aside" if last else "trying again",
            )
            if last:
                self._put_aside(item, type(exc).__name__)
            else:
                delay = retry_after(item.attempts) if counted else DATABASE_WAIT
                self._set_back(item, delay, type(exc).__name__, counted=counted)
            return False

    def _set_back(self, item: Received, wait: timedelta, error: str, *, counted: bool) -> None:
        try:
            with transaction(self.new_session) as session:
                inbox.set_back(
                    session=session,
                    item_id=item.id,
                    at=self.now() + wait,
                    error=error,
                    counted=counted,
                    owner=self.owner,
                )
        except Exception as exc:
            # The database went away with the item claimed here: nobody else may take it until
            # the claim runs out, so this process sets it back itself as soon as it can.
            with self._stranded_lock:
                self._stranded[item.id] = _Stranded(item, error, counted)
            log.warning(
                "could not set back inbox item %s: %s; trying again as soon as the database "
                "answers",
                item.id,
                type(exc).__name__,
            )

    def _set_back_stranded(self) -> int:
        """Set back, due at once, the items whose setting back failed, and handle them; stops
        at the first failure (the database is still away). Returns how many are left."""
        with self._stranded_lock:
            stranded = list(self._stranded.values())
        for left in stranded:
            with transaction(self.new_session) as session:
                inbox.set_back(
                    session=session,
                    item_id=left.item.id,
                    at=self.now(),
                    error=left.error,
                    counted=left.counted,
                    owner=self.owner,
                )
            with self._stranded_lock:
                self._stranded.pop(left.item.id, None)
            log.warning("set back inbox item %s, to be handled again now", left.item.id)
            self.kick(left.item.user_id)
        with self._stranded_lock:
            return len(self._stranded)

    def _put_aside(self, item: Received, error: str) -> None:
        try:
            with transaction(self.new_session) as session:
                inbox.set_aside(session=session, item_id=item.id, error=error)
        except Exception as exc:  # the claim runs out, and the next claim sets it aside
            log.warning("could not set aside inbox item %s: %s", item.id, type(exc).__name__)
            return
        self._report_set_aside(item)

    def _report_set_aside(self, item: Received) -> None:
        log.error(
            "set aside inbox item %s (kind %s) after %s tries; `reflect inbox list` shows it",
            item.id,
            item.kind,
            MAX_TRIES,
        )
        tell = self._set_aside.get(item.kind)
        if tell is None:
            return
        try:
            tell(item)
        except Exception as exc:
            log.error(
                "could not tell the person about inbox item %s: %s", item.id, type(exc).__name__
            )

    # ----------------------------------------------------------- recovery

    def recover(self, limit: int = 100) -> int:
        """Handle what has fallen due: items whose try came round again, and those of a
        process that died. Returns how many people's items were due."""
        with self.new_session() as session:
            users = inbox.users_due(session=session, now=self.now(), limit=limit)
        for user_id in users:
            self.kick(user_id)
        return len(users)

    def start(self) -> None:
        """Handle what is due now (a predecessor's work), then look every few seconds."""
        if self._poller is None:
            self._poller = threading.Thread(
                target=self._poll, name="reflect-inbox-poll", daemon=True
            )
            self._poller.start()

    @property
    def running(self) -> bool:
        return self._poller is not None and self._poller.is_alive()

    def _poll(self) -> None:
        while True:
            stranded = 0
            try:
                stranded = self._set_back_stranded()
                self.recover()
            except Exception as exc:
                stranded = len(self._stranded)
                log.warning("inbox poll failed: %s", type(exc).__name__)
            if self._stop.wait(STRANDED_POLL_SECONDS if stranded else POLL_SECONDS):
                return

    def stop(self) -> None:
        """Finish the items in hand; what is waiting stays for the next process."""
        self._stop.set()
        if self._pool is not None:
            self._pool.stop()
        if self._poller is not None:
            self._poller.join(5)
