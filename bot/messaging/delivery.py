"""The delivery loop: sends the outbox through a front end, in order per recipient, with
retries, never twice. The web process, the clock and the tests all deliver with it.

Every process that records messages also delivers; claims are leases in the database
(bot/messaging/lease.py), so several processes can deliver at once without sending anything
twice. A process with senders (the web process) also sends what its own requests record
straight after their transaction commits, already claimed, without waiting for a pass
(``outbox.record`` hands such messages over); what cannot go straight out is left to the
passes, which retry in order.

A send whose outcome is unknown (the process died mid-send, the platform answered too late or
failed) leaves the message uncertain: before it is sent again, the front end looks for it by
the stamp each post carries (outbox id and part). A message the front end splits into several
posts records how many have gone, so each post goes once across crashes.

No one message holds up a person's later ones for long: one the platform refuses for good, or
one still failing after SET_ASIDE_AFTER while the platform takes other people's messages, is
set aside for an operator (`reflect outbox list`, `reflect outbox retry`), and the person's
later messages go on. While the platform fails everyone (an outage), nothing is set aside.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlmodel import Session

from bot.messaging.frontend import CannotReach, FrontEnd, Outcome, Stamp
from bot.messaging.inorder import InOrder
from bot.messaging.lease import LEASE
from bot.messaging.message import CONVERSATION, Message
from bot.reflection.service import utcnow
from storage import outbox
from storage.db import SessionFactory, transaction
from storage.models import OutboxMessage

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 40
# No message holds up its recipient's later ones for longer than this while the platform
# takes other people's messages: one still failing after it is set aside (see settle).
SET_ASIDE_AFTER = timedelta(minutes=5)
# How often the background thread looks for messages due a retry when nothing wakes it sooner.
INTERVAL = 1.5
# Passes of deliver_all: each sends up to PAGE messages that are due.
PAGE = 100
MAX_PASSES = 50
MARK_BATCH = 500
MARK_RETRY_SECONDS = 0.25
# How long the marker waits for more sent messages before marking them in one write (a write
# per message costs more than the sending). A crash between a send and its mark leaves a
# message that may have been sent: it is looked for before it is sent again, and the shorter
# this moment, the fewer such looks; a fiftieth of a second keeps both small.
MARK_GATHER_SECONDS = 0.02
# A send goes ahead only this soon after its claim was found still to be the latest.
FENCE_FRESH = 0.5
# The template of the note to a person whose question was set aside.
SET_ASIDE_NOTE = "notices/message_set_aside"


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0

    def add(self, other: DeliveryReport) -> None:
        self.sent += other.sent
        self.retrying += other.retrying
        self.failed += other.failed


@dataclass(frozen=True)
class Claimed:
    """An outbox message claimed for sending by this process until ``lease_end``."""

    id: int
    surface: str
    recipient: str
    payload: dict[str, Any]
    lease_end: datetime
    created_at: datetime
    attempts: int = 1
    parts_sent: int = 0
    uncertain: bool = False
    # The claim's number: a send starts only while it is still the latest (outbox.start_send).
    epoch: int = 0
    # When the latest send of its next post started, under any claim.
    send_started_at: datetime | None = None

    @classmethod
    def of(cls, row: OutboxMessage) -> Claimed:
        assert row.id is not None
        return cls(
            row.id,
            row.surface,
            row.recipient,
            row.payload,
            row.next_attempt_at,
            row.created_at,
            row.attempts,
            row.parts_sent,
            row.uncertain,
            row.claim_epoch,
            row.send_started_at,
        )


class Delivery:
    """The one delivery loop.

    ``deliver_due`` is one pass over what is due; ``deliver_all`` passes until nothing more
    goes (the clock, the tests); ``start`` runs passes on a thread of its own, woken by
    ``wake`` (the web process). With ``senders`` > 0, messages recorded with this Delivery
    (``outbox.record(..., delivery=...)``) are sent straight after commit on that many
    threads, each person's in order.

    ``owner``: this process's id in the process table, recorded on its claims.
    """

    def __init__(
        self,
        new_session: SessionFactory,
        front_end: FrontEnd,
        *,
        now: Callable[[], datetime] = utcnow,
        owner: str | None = None,
        senders: int = 0,
        pace: Callable[[], None] = lambda: None,
        interval: float = INTERVAL,
        mark_retry_seconds: float = MARK_RETRY_SECONDS,
        mark_gather_seconds: float = MARK_GATHER_SECONDS,
    ) -> None:
        self.new_session = new_session
        self.front_end = front_end
        self.now = now
        self.owner = owner
        self.interval = interval
        self.mark_retry_seconds = mark_retry_seconds
        self.mark_gather_seconds = mark_gather_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._senders: InOrder[Claimed] | None = None
        self._marker: threading.Thread | None = None
        # Each message sent straight after commit, to be marked; None: stop.
        self._sent: queue.SimpleQueue[outbox.Posted | None] = queue.SimpleQueue()
        # When each message sent and not yet marked was posted, for sent_not_marked().
        self._unmarked: dict[int, datetime] = {}
        self._unmarked_lock = threading.Lock()
        if senders:
            self._senders = InOrder(
                self._send_now, self._give_back, threads=senders, name="reflect-send", pace=pace
            )
            self._marker = threading.Thread(
                target=self._mark_sent, name="reflect-mark", daemon=True
            )
            self._marker.start()

    # ----------------------------------------------------------- passes

    def deliver_due(self, limit: int = PAGE) -> DeliveryReport:
        """Send what is due now. Returns counts; never raises for the platform's or the
        network's errors. At most one message per recipient is due at a time (the oldest
        unsent), so each person's messages stay in order."""
        with self.new_session() as session:
            ids = outbox.due_ids(session=session, now=self.now(), limit=limit)
        report = DeliveryReport()
        for message_id in ids:
            try:
                outcome = self._deliver_one(message_id)
            except Exception as exc:  # the database failed this one: the rest still go
                log.warning("outbox message %s not sent now: %s", message_id, type(exc).__name__)
                continue
            report.sent += outcome == "sent"
            report.retrying += outcome == "retrying"
            report.failed += outcome == "failed"
        return report

    def deliver_all(self, within: float | None = None) -> DeliveryReport:
        """Send everything due now, a page at a time, until a pass sends nothing more (what
        it sent may have let a person's next message fall due), or ``within`` seconds pass."""
        deadline = None if within is None else time.monotonic() + within
        total = DeliveryReport()
        for _ in range(MAX_PASSES):
            if deadline is not None and time.monotonic() >= deadline:
                break
            report = self.deliver_due()
            total.add(report)
            if report.sent == 0:
                break
        return total

    def _deliver_one(self, message_id: int) -> str | None:
        with transaction(self.new_session) as session:
            row = outbox.claim(
                session=session,
                message_id=message_id,
                now=self.now(),
                lease=LEASE,
                owner=self.owner,
            )
            message = None if row is None else Claimed.of(row)
        if message is None:
            return None  # another process or thread took it
        outcome = self._send_posts(message)
        if outcome is None:
            return None  # the claim ran out while looking: whoever holds it now sends it
        with transaction(self.new_session) as session:
            return self.settle(session, message, outcome)

    # ----------------------------------------------------------- sending one message

    def _send_posts(self, message: Claimed) -> Outcome | None:
        """Send the posts of ``message`` not yet sent, each looked for first if its send had
        an unknown outcome; the outcome of the last post tried. None: the claim ran out."""
        try:
            posts = self._posts(message)
        except CannotReach as exc:
            return Outcome(ok=False, error=f"cannot reach: {exc}", permanent=True)
        except (ValueError, LookupError) as exc:
            return Outcome(ok=False, error=f"unrenderable: {type(exc).__name__}", permanent=True)
        outcome = Outcome(ok=True)
        for part in range(min(message.parts_sent, len(posts)), len(posts)):
            stamp = Stamp(message.id, part)
            found = None
            if message.uncertain and part == message.parts_sent:
                if self._too_soon_to_look(message):
                    return None
                found = self._look(message, posts[part], stamp)
                if found is None and not self._claim_lasts_a_send(message):
                    return None
            sent = found or self._fenced_send(message, posts[part], stamp)
            if sent is None:
                return None
            outcome = sent
            if not outcome.ok:
                return outcome
            if part + 1 < len(posts):
                self._record_part(message, part + 1)
        return outcome

    def _posts(self, message: Claimed) -> Sequence[Any]:
        stored = message.payload
        # "slack:chat.postMessage": recorded as the call itself, before templates were stored.
        legacy = ":" in message.surface
        said = Message((), legacy=stored) if legacy else Message.from_json(stored)
        return self.front_end.render(message.surface, message.recipient, said)

    def _too_soon_to_look(self, message: Claimed) -> bool:
        """Whether the last send of the uncertain post may still be posted by the platform
        (it has taken it and not yet shown it): then not finding it would prove nothing, and
        sending it again would post it twice, and after the posts that follow it. The claim is
        given back, due when that send's deadline has passed; the person's later messages wait
        behind it, so their order holds."""
        if message.send_started_at is None:
            return False
        until = message.send_started_at + self.front_end.send_deadline()
        if self.now() >= until:
            return False
        log.info(
            "outbox message %s: its last send may still arrive; looking at %s", message.id, until
        )
        try:
            with transaction(self.new_session) as session:
                outbox.defer(
                    session=session, message_id=message.id, epoch=message.epoch, until=until
                )
        except Exception as exc:  # the claim runs out, and the next one defers it again
            log.warning("could not put back outbox message %s: %s", message.id, type(exc).__name__)
        return True

    def _fenced_send(self, message: Claimed, post: Any, stamp: Stamp) -> Outcome | None:
        """Send ``post`` if this process's claim is still the latest, recording that its send
        starts now; None, without sending, if it was taken over (this process was stalled, or
        taken for dead). The check comes straight before the send: a process stopped between
        the two finds, when it runs again, that it must check again."""
        for _ in range(3):
            checked = self._start_send(message)
            if checked is None:
                return None
            if time.monotonic() - checked < FENCE_FRESH:
                return self.front_end.send(post, stamp=stamp)
        return None

    def _start_send(self, message: Claimed) -> float | None:
        """When (monotonic) the claim was found still the latest and the send recorded as
        starting; None if it was not, or the database could not say."""
        try:
            with transaction(self.new_session) as session:
                ours = outbox.start_send(
                    session=session, message_id=message.id, epoch=message.epoch, now=self.now()
                )
        except Exception as exc:  # the claim runs out and whoever takes it sends
            log.warning(
                "outbox message %s: could not record its send: %s", message.id, type(exc).__name__
            )
            return None
        if not ours:
            log.warning(
                "outbox message %s: its claim was taken over (this process was stalled or "
                "taken for dead); not sending it from here",
                message.id,
            )
            return None
        return time.monotonic()

    def _look(self, message: Claimed, post: Any, stamp: Stamp) -> Outcome | None:
        found = self.front_end.find(post, stamp=stamp, since=message.created_at)
        if found is not None and not found.ok:
            return replace(found, uncertain=True, error=f"looking: {found.error}")
        log.info(
            "outbox message %s part %s (uncertain) had %sarrived: %s",
            message.id,
            stamp.part,
            "" if found else "not ",
            "not sending it again" if found else "sending it",
        )
        return found

    def _record_part(self, message: Claimed, parts_sent: int) -> None:
        with transaction(self.new_session) as session:
            outbox.mark_part_sent(session=session, message_id=message.id, parts_sent=parts_sent)

    def _claim_lasts_a_send(self, message: Claimed) -> bool:
        """Whether the claim holds for as long as a send can take, renewed if looking took
        long; False if it ran out meanwhile and another process may hold it."""
        current = self.now()
        if current + self.front_end.longest_send() < message.lease_end:
            return True
        with transaction(self.new_session) as session:
            return outbox.renew(
                session=session,
                message_id=message.id,
                epoch=message.epoch,
                now=current,
                until=current + LEASE,
            )

    # ----------------------------------------------------------- settling

    def settle(self, session: Session, message: Claimed, outcome: Outcome) -> str:
        """Record how sending a claimed message went: "sent", "retrying" or "failed" (set
        aside for an operator: it no longer holds up its recipient's later messages)."""
        now = self.now()
        if outcome.ok:
            posted = outbox.Posted(message.id, outcome.ref, outcome.posted_at)
            outbox.mark_sent(session=session, posted=posted, now=now)
            return "sent"
        attempts = message.attempts
        reason = _set_aside_because(session, message.id, attempts, outcome, now)
        if reason is not None:
            self._set_aside(session, message, outcome, now)
            log.error(
                "set aside outbox message %s (%s) after %s tr%s: %s (%s); `reflect outbox list` "
                "shows it, `reflect outbox retry %s` sends it again",
                message.id,
                message.surface,
                attempts,
                "y" if attempts == 1 else "ies",
                outcome.error,
                reason,
                message.id,
            )
            return "failed"
        wait = outcome.retry_after or retry_wait(attempts)
        outbox.mark_retry(
            session=session,
            message_id=message.id,
            at=now + wait,
            error=outcome.error,
            uncertain=outcome.uncertain,
            epoch=message.epoch,
        )
        (log.error if outcome.app_fault else log.warning)(
            "outbox message %s: %s%s; retrying in %ss",
            message.id,
            outcome.error,
            " (may have arrived: looked for first)" if outcome.uncertain else "",
            int(wait.total_seconds()),
        )
        return "retrying"

    def _set_aside(
        self, session: Session, message: Claimed, outcome: Outcome, now: datetime
    ) -> None:
        """Set a message aside for an operator. A question set aside leaves its practitioner
        waiting for something that will not come, so they get a short plain note saying so,
        unless they cannot be written to (the note asks nothing: if it is set aside in turn,
        nothing more is sent)."""
        left_waiting = outbox.set_aside(
            session=session, message_id=message.id, error=outcome.error, epoch=message.epoch
        )
        if left_waiting is None or outcome.recipient_gone:
            return
        outbox.enqueue(
            session=session,
            dedupe_key=f"outbox-set-aside:{message.id}",
            surface=CONVERSATION,
            recipient=left_waiting,
            payload=Message.of(SET_ASIDE_NOTE).to_json(),
            now=now,
        )

    # ----------------------------------------------------------- straight after commit

    def claim_on_record(self, session: Session, recipient: str, now: datetime) -> datetime | None:
        """When a claim taken now on a message being recorded would run out, if this process
        sends straight after commit and the message may go to ``recipient`` at once; None
        when an earlier one is waiting to be retried or sent."""
        if self._senders is None:
            return None
        if outbox.waiting_for(session=session, recipient=recipient, now=now):
            return None
        return now + LEASE

    def hand_over(self, messages: list[Claimed]) -> None:
        """Send messages claimed as they were recorded (their transaction has committed)."""
        if self._senders is None:
            self._give_back(messages)
            return
        by_recipient: dict[str, list[Claimed]] = {}
        for message in messages:
            by_recipient.setdefault(message.recipient, []).append(message)
        for recipient, theirs in by_recipient.items():
            self._senders.submit(recipient, theirs)

    def _send_now(self, message: Claimed) -> bool:
        if self.now() + self.front_end.longest_send() >= message.lease_end:
            # Queued so long that the claim could run out mid-send, and another process send
            # it as well: given back to the passes, with what is queued behind it.
            log.warning("outbox message %s waited too long to be sent here", message.id)
            self._give_back([message])
            return False
        outcome = self._send_posts(message)
        if outcome is not None and outcome.ok:
            if outcome.posted_at is not None:
                with self._unmarked_lock:
                    self._unmarked[message.id] = outcome.posted_at
            self._sent.put(outbox.Posted(message.id, outcome.ref, outcome.posted_at))
            return True
        # What is queued behind a failed message waits for its retry: it is given back to
        # the passes, which keep each person's messages in order.
        if outcome is not None:
            try:
                with transaction(self.new_session) as session:
                    self.settle(session, message, outcome)
            except Exception as exc:  # the database is down: the claim runs out and is retried
                log.warning("could not record a failed send: %s", type(exc).__name__)
        self.wake()
        return False

    def _give_back(self, messages: list[Claimed]) -> None:
        """Claimed messages never tried go back to whoever delivers next."""
        if not messages:
            return
        try:
            with transaction(self.new_session) as session:
                outbox.release(
                    session=session, message_ids=[m.id for m in messages], now=self.now()
                )
        except Exception as exc:  # the claims run out and are retried
            log.warning("could not give back unsent messages: %s", type(exc).__name__)
        self.wake()

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

    def sent_not_marked(self, message_id: int) -> datetime | None:
        """When a message this process has sent and not yet marked sent was posted: an answer
        typed straight after it can be filed without waiting for the mark."""
        with self._unmarked_lock:
            return self._unmarked.get(message_id)

    def _write_sent(self, sent: list[outbox.Posted]) -> None:
        try:
            self._write_sent_now(sent)
        finally:
            with self._unmarked_lock:
                for posted in sent:
                    self._unmarked.pop(posted.message_id, None)

    def _write_sent_now(self, sent: list[outbox.Posted]) -> None:
        """Mark sent, trying again while the database is away: a message still unmarked when
        its claim runs out is looked for before it is sent again."""
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

    # ----------------------------------------------------------- the background thread

    def wake(self) -> None:
        self._wake.set()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="reflect-delivery", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Finish what is being sent, give back what is queued, mark what was sent, and end
        the passes."""
        if self._senders is not None:
            self._senders.stop()
        if self._marker is not None:
            self._sent.put(None)
            self._marker.join(10)
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()  # before sending, so a wake during this pass means another pass
            try:
                report = self.deliver_due()
            except Exception as exc:  # the database is down: try again next time round
                log.warning("delivery pass failed: %s", type(exc).__name__)
            else:
                if report.sent:
                    continue  # what was just sent may have unblocked later messages
            self._wake.wait(self.interval)


# ----------------------------------------------------------- when to retry, when to set aside


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(5 * 2 ** max(attempts - 1, 0), 3600))


@cache
def failing_for(attempts: int) -> timedelta:
    """How long a message has been failing when its try number ``attempts`` fails: the waits
    between its tries, 0, 5, 15, 35, 75, 155, then 300 s (SET_ASIDE_AFTER), 620 s, ...
    At least that long, as a try can start late but never early (a rate limit's shorter wait
    aside, which settle allows for)."""
    return sum((retry_wait(n) for n in range(1, attempts)), timedelta())


def retry_wait(attempts: int) -> timedelta:
    """The wait after the failed try number ``attempts``: backoff, except that the try which
    would pass SET_ASIDE_AFTER comes at it exactly, so a message is set aside on time."""
    before = failing_for(attempts)
    wait = backoff(attempts)
    if before < SET_ASIDE_AFTER < before + wait:
        return SET_ASIDE_AFTER - before
    return wait


def _set_aside_because(
    session: Session, message_id: int, attempts: int, outcome: Outcome, now: datetime
) -> str | None:
    """Why a failed message is to be set aside now, or None to retry it.

    At once when the platform refuses it for good. After SET_ASIDE_AFTER of failing when the
    platform has taken someone else's message since it started failing: the fault is this
    message's. While the platform fails everyone (an outage: 5xx and timeouts everywhere, a
    revoked token), nothing is set aside for SET_ASIDE_AFTER; only after MAX_ATTEMPTS (about
    31 hours of back-off)."""
    if outcome.permanent:
        return "refused for good"
    if attempts >= MAX_ATTEMPTS:
        return "every try failed"
    failing = failing_for(attempts)
    if outcome.busy or failing < SET_ASIDE_AFTER:
        return None
    message = outbox.failing_message(session=session, message_id=message_id)
    # A try may follow a rate limit's shorter wait: never sooner than SET_ASIDE_AFTER from
    # when the message was recorded.
    if message is None or now - message.created_at < SET_ASIDE_AFTER:
        return None
    since = max(now - failing, message.created_at)
    if not outbox.sent_to_others_since(session=session, recipient=message.recipient, since=since):
        return None
    return f"failing for {int(failing.total_seconds())} s while others' messages went"
