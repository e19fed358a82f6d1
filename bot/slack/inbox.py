"""Store, acknowledge, then handle: what practitioners send is stored in the inbox, in the same
transaction as its handled-once key, before Slack gets its 200, and handled straight after.

Slack wants a 200 within three seconds and a team may all answer at once, so the request does
only the storing. Handling (the reflection service, and the messages it records) happens on a
few threads, in order for each person, and removes the item in its own transaction. If the
process dies in between, or handling fails, the item's claim runs out and it is handled again,
in order; nothing a practitioner typed is lost. Tests handle each item at once, in the request.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from bot.inorder import InOrder
from bot.reflection.service import utcnow
from bot.slack import claims
from storage import inbox
from storage.db import SessionFactory, after_commit, transaction

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
RETRY_AFTER = timedelta(seconds=5)
MAX_TRIES = 5
POLL_SECONDS = 2.0


@dataclass(frozen=True)
class Received:
    id: int
    kind: str
    user_id: str
    payload: dict[str, Any]
    attempts: int = 0  # times taken again after its claim ran out


Handler = Callable[[Received], None]


class Inbox:
    """Handlers are registered per kind; ``threads=0`` handles each item in the request."""

    def __init__(
        self,
        new_session: SessionFactory,
        *,
        threads: int = 0,
        pace: Callable[[], None] = lambda: None,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.new_session = new_session
        self.now = now
        self._handlers: dict[str, Handler] = {}
        self._pool: InOrder[Received] | None = None
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        if threads:
            self._pool = InOrder(
                self._handle, self._give_back, threads=threads, name="reflect-inbox", pace=pace
            )

    def on(self, kind: str, handler: Handler) -> None:
        self._handlers[kind] = handler

    def accept(self, *, kind: str, user_id: str, payload: dict[str, Any], claim: str) -> bool:
        """Store an item with its handled-once key ``claim`` in a transaction of its own;
        False (nothing stored) when that key was handled before."""
        try:
            with transaction(self.new_session) as session:
                claims.claim(session=session, key=claim, now=self.now())
                self.receive(session, kind=kind, user_id=user_id, payload=payload)
        except claims.AlreadyHandled:
            return False
        return True

    def receive(
        self, session: Session, *, kind: str, user_id: str, payload: dict[str, Any]
    ) -> None:
        """Store an item in the caller's transaction; it is handled once that commits."""
        now = self.now()
        item_id = inbox.add(
            session=session,
            kind=kind,
            user_id=user_id,
            payload=payload,
            now=now,
            claimed_until=now + LEASE,
        )
        item = Received(item_id, kind, user_id, payload)
        after_commit(session, lambda: self._submit([item]))

    def _submit(self, items: list[Received]) -> None:
        if self._pool is None:
            for item in items:
                self._handle(item)
            return
        for item in items:
            self._pool.submit(item.user_id, [item])

    def _handle(self, item: Received) -> bool:
        handler = self._handlers.get(item.kind)
        try:
            if handler is None:
                raise LookupError(f"no handler for {item.kind!r}")
            handler(item)
            return True
        except Exception as exc:  # the type only: the message may carry what was typed
            last = item.attempts + 1 >= MAX_TRIES
            log.error(
                "could not handle a %s (inbox item %s): %s; %s",
                item.kind,
                item.id,
                type(exc).__name__,
                "kept for an operator" if last else "retrying",
            )
            self._give_back([item])
            return False

    def _give_back(self, items: list[Received]) -> None:
        """Make items due again shortly, for recover() to take in order."""
        try:
            with transaction(self.new_session) as session:
                inbox.release(
                    session=session,
                    item_ids=[i.id for i in items],
                    now=self.now() + RETRY_AFTER,
                )
        except Exception as exc:  # the claims run out anyway
            log.warning("could not give back inbox items: %s", type(exc).__name__)

    def recover(self, limit: int = 100) -> int:
        """Handle items whose claim ran out; returns how many were taken."""
        now = self.now()
        with self.new_session() as session:
            overdue = inbox.overdue(
                session=session, now=now, limit=limit, max_retries=MAX_TRIES - 1
            )
        taken: list[Received] = []
        for item in overdue:
            with transaction(self.new_session) as session:
                if not inbox.reclaim(
                    session=session, item_id=item.id or 0, now=now, until=now + LEASE
                ):
                    continue
            taken.append(
                Received(item.id or 0, item.kind, item.user_id, item.payload, item.attempts + 1)
            )
        self._submit(taken)
        return len(taken)

    def start(self) -> None:
        """Look for overdue items every few seconds (after a crash, or a failure)."""
        if self._poller is None:
            self._poller = threading.Thread(
                target=self._poll, name="reflect-inbox-poll", daemon=True
            )
            self._poller.start()

    def _poll(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            try:
                self.recover()
            except Exception as exc:
                log.warning("inbox poll failed: %s", type(exc).__name__)

    def stop(self) -> None:
        self._stop.set()
        if self._pool is not None:
            self._pool.stop()
        if self._poller is not None:
            self._poller.join(5)
