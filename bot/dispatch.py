"""Sending at once what a request has just recorded, without waiting for the delivery worker.

A message recorded in a session that has a Dispatcher attached is recorded already claimed by
this process (when nothing to its recipient is still ahead of it) and handed to a sender as soon
as the transaction commits: no scan of the outbox and no separate claim on the way to Slack.
Sent messages are marked in batches. What cannot go straight out (something to the recipient is
still ahead of it, or a send fails) is left to the delivery worker, which retries in order.

Durability is unchanged: the message is in the outbox before anything is sent, and a claim is a
lease, so if this process dies the message falls due again when the lease runs out, or at once
when another process finds this one dead (the claims name their ``owner``). Such a message may
have been sent: it is looked for in the conversation before it is sent again (bot/delivery.py).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slack_sdk.web import WebClient
from sqlmodel import Session

from bot.delivery import LEASE, longest_call, send, sending_client, settle
from bot.inorder import InOrder
from bot.reflection.service import utcnow
from storage import outbox
from storage.db import SessionFactory, after_commit, transaction

log = logging.getLogger(__name__)

# session.info keys: the Dispatcher a session records for, and what it has claimed so far.
DISPATCHER = "reflect.dispatcher"
CLAIMED = "reflect.claimed"
MARK_BATCH = 500
MARK_RETRY_SECONDS = 0.25
# How long the marker waits for more sent messages before marking them in one write (a write
# per message costs more than the sending: at 0, a burst of fifty took 37 to 49 writes, at
# 0.02 s about four). A crash between a send and its mark leaves a message that may have
# been sent: it is looked for before it is sent again, and the shorter this moment, the fewer
# such looks; a fiftieth of a second keeps both small.
MARK_GATHER_SECONDS = 0.02


@dataclass(frozen=True)
class Outgoing:
    id: int
    method: str
    recipient: str
    payload: dict[str, Any]
    lease_end: datetime


def record(
    *,
    session: Session,
    key: str,
    method: str,
    recipient: str,
    payload: dict[str, Any],
    now: datetime,
) -> bool:
    """Record a message in the outbox; False if ``key`` was recorded before. Sent at once after
    commit when the session has a Dispatcher and nothing to ``recipient`` is ahead of it."""
    dispatcher: Dispatcher | None = session.info.get(DISPATCHER)
    lease_end = dispatcher.lease_end(session, recipient, now) if dispatcher else None
    message_id = outbox.enqueue(
        session=session,
        dedupe_key=key,
        method=method,
        recipient=recipient,
        payload=payload,
        now=now,
        claimed_until=lease_end,
        owner=dispatcher.owner if dispatcher else None,
    )
    if message_id is None:
        return False
    if dispatcher is not None:
        if lease_end is not None:
            dispatcher.hold(session, Outgoing(message_id, method, recipient, payload, lease_end))
        else:
            after_commit(session, dispatcher.wake_worker)
    return True


class Dispatcher:
    def __init__(
        self,
        new_session: SessionFactory,
        client: WebClient,
        *,
        senders: int = 4,
        wake_worker: Callable[[], None] = lambda: None,
        pace: Callable[[], None] = lambda: None,
        now: Callable[[], datetime] = utcnow,
        mark_retry_seconds: float = MARK_RETRY_SECONDS,
        mark_gather_seconds: float = MARK_GATHER_SECONDS,
        owner: str | None = None,
    ) -> None:
        """``owner``: this process's id in the process table, recorded on its claims."""
        self.new_session = new_session
        self.client = sending_client(client)
        self.owner = owner
        self.mark_retry_seconds = mark_retry_seconds
        self.mark_gather_seconds = mark_gather_seconds
        self.now = now
        self.wake_worker = wake_worker
        # Each person's messages go out one at a time, in order; different people's in parallel.
        self._senders: InOrder[Outgoing] = InOrder(
            self._send, self._give_back_all, threads=senders, name="reflect-send", pace=pace
        )
        # (outbox id, Slack's ts) of each message sent, to be marked; None: stop.
        self._sent: queue.SimpleQueue[tuple[int, str | None] | None] = queue.SimpleQueue()
        # Slack's ts of each message sent and not yet marked, for sent_not_marked().
        self._unmarked: dict[int, str] = {}
        self._unmarked_lock = threading.Lock()
        self._marker = threading.Thread(target=self._mark_sent, name="reflect-mark", daemon=True)
        self._marker.start()

    def attach(self, new_session: SessionFactory) -> SessionFactory:
        """A session factory whose sessions record for this dispatcher."""

        def attached() -> Session:
            session = new_session()
            session.info[DISPATCHER] = self
            return session

        return attached

    # ----------------------------------------------------------- in the request's transaction

    def lease_end(self, session: Session, recipient: str, now: datetime) -> datetime | None:
        """When a claim taken now would run out, if the message may go to ``recipient``
        straight away; None when an earlier one is waiting to be retried or sent."""
        if outbox.waiting_for(session=session, recipient=recipient, now=now):
            return None
        return now + LEASE

    def hold(self, session: Session, message: Outgoing) -> None:
        claimed: list[Outgoing] | None = session.info.get(CLAIMED)
        if claimed is None:
            claimed = session.info[CLAIMED] = []
            after_commit(session, lambda: self.submit(claimed))
        claimed.append(message)

    # ----------------------------------------------------------- after commit

    def submit(self, messages: list[Outgoing]) -> None:
        by_recipient: dict[str, list[Outgoing]] = {}
        for message in messages:
            by_recipient.setdefault(message.recipient, []).append(message)
        for recipient, theirs in by_recipient.items():
            self._senders.submit(recipient, theirs)

    def _send(self, message: Outgoing) -> bool:
        if self.now() + longest_call(self.client) >= message.lease_end:
            # Queued so long that the claim could run out mid-send, and another process send
            # it as well: given back to the delivery worker, with what is queued behind it.
            log.warning("outbox message %s waited too long to be sent here", message.id)
            self._release([message.id])
            return False
        outcome = send(self.client, message.method, message.payload, message_id=message.id)
        if outcome.ok:
            if outcome.ts:
                with self._unmarked_lock:
                    self._unmarked[message.id] = outcome.ts
            self._sent.put((message.id, outcome.ts))
            return True
        # What is queued behind a failed message waits for its retry: it is given back to
        # the delivery worker, which keeps each person's messages in order.
        try:
            with transaction(self.new_session) as session:
                settle(
                    session,
                    message_id=message.id,
                    method=message.method,
                    attempts=1,
                    outcome=outcome,
                    now=self.now(),
                )
        except Exception as exc:  # the database is down: the claim runs out and is retried
            log.warning("could not record a failed send: %s", type(exc).__name__)
        self.wake_worker()
        return False

    def _give_back_all(self, messages: list[Outgoing]) -> None:
        self._release([m.id for m in messages])

    def _release(self, message_ids: list[int]) -> None:
        if not message_ids:
            return
        try:
            with transaction(self.new_session) as session:
                outbox.release(session=session, message_ids=message_ids, now=self.now())
        except Exception as exc:  # the claims run out and are retried
            log.warning("could not give back unsent messages: %s", type(exc).__name__)
        self.wake_worker()

    # ----------------------------------------------------------- marking sent, in batches

    def _mark_sent(self) -> None:
        done = False
        while not done:
            first = self._sent.get()
            batch = [] if first is None else [first]
            done = first is None
            if not done and self.mark_gather_seconds:
                time.sleep(self.mark_gather_seconds)
            while not done and len(batch) < MARK_BATCH:
                try:
                    more = self._sent.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    done = True
                else:
                    batch.append(more)
            if batch:
                self._write_sent(batch)

    def sent_not_marked(self, message_id: int) -> str | None:
        """Slack's ts for a message this process has sent and not yet marked sent: an answer
        typed straight after it can be filed without waiting for the mark."""
        with self._unmarked_lock:
            return self._unmarked.get(message_id)

    def _write_sent(self, sent: list[tuple[int, str | None]]) -> None:
        try:
            self._write_sent_now(sent)
        finally:
            with self._unmarked_lock:
                for message_id, _ts in sent:
                    self._unmarked.pop(message_id, None)

    def _write_sent_now(self, sent: list[tuple[int, str | None]]) -> None:
        """Mark sent, trying again while the database is away: a message still unmarked when its
        claim runs out must be looked for before it is sent again."""
        give_up = time.monotonic() + LEASE.total_seconds() - 5
        wait = self.mark_retry_seconds
        while True:
            try:
                with transaction(self.new_session) as session:
                    outbox.mark_all_sent(session=session, sent=sent, now=self.now())
                return
            except Exception as exc:
                if time.monotonic() + wait > give_up:
                    log.error(
                        "could not mark %s sent messages: %s; they will be looked for",
                        len(sent),
                        type(exc).__name__,
                    )
                    return
                log.warning("could not mark messages sent yet: %s", type(exc).__name__)
                time.sleep(wait)
                wait = min(wait * 2, 20 * self.mark_retry_seconds)

    def stop(self) -> None:
        """Finish what is being sent, give back what is queued, mark what was sent."""
        self._senders.stop()
        self._sent.put(None)
        self._marker.join(10)
