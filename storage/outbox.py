"""The outbox's queries: what is to be said, recorded in the same transaction as its cause, and
how its sending stands (bot/messaging/delivery.py sends it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy import and_, bindparam, exists, func, insert, or_, update
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from storage.db import execute, insert_if_new
from storage.models import OutboxMessage
from storage.statuses import UNSENT, OutboxStatus
from storage.types import UTCDateTime

_ENQUEUE = insert_if_new(OutboxMessage, returning=OutboxMessage.id)


def enqueue(
    *,
    session: Session,
    dedupe_key: str,
    surface: str,
    recipient: str,
    payload: dict[str, Any],
    now: datetime,
    not_before: datetime | None = None,
    claimed_until: datetime | None = None,
    owner: str | None = None,
    prompt: str | None = None,
) -> int | None:
    """Record a message to send and return its id; None (and nothing recorded) if the key is
    already there. ``claimed_until`` records it already claimed by the caller (the process
    ``owner``), who sends it once the transaction commits; if the caller never does, it falls
    due at that time, or as soon as ``owner`` is found dead. ``prompt``: the question it asks."""
    claimed = claimed_until is not None
    values: dict[str, Any] = {
        "dedupe_key": dedupe_key,
        "surface": surface,
        "recipient": recipient,
        "payload": payload,
        "status": OutboxStatus.SENDING if claimed else OutboxStatus.PENDING,
        "attempts": 1 if claimed else 0,
        "next_attempt_at": claimed_until or not_before or now,
        "created_at": now,
        "owner": owner if claimed else None,
        "prompt": None if prompt is None else prompt[:80],
        "claim_epoch": 1 if claimed else 0,
    }
    return execute(session, _ENQUEUE, values).scalar_one_or_none()


def enqueue_many(
    *,
    session: Session,
    surface: str,
    messages: Sequence[tuple[str, str, dict[str, Any]]],
    now: datetime,
    not_before: datetime | None = None,
) -> int:
    """Record several new messages, given as (dedupe_key, recipient, payload), in one statement.

    For callers that know their keys are new (the clock records each under its own unique key
    in the same transaction): a repeated key raises IntegrityError and the transaction rolls back.
    """
    if not messages:
        return 0
    session.execute(
        insert(OutboxMessage),
        [
            {
                "dedupe_key": key,
                "surface": surface,
                "recipient": recipient,
                "payload": payload,
                "status": OutboxStatus.PENDING,
                "attempts": 0,
                "next_attempt_at": not_before or now,
                "created_at": now,
            }
            for key, recipient, payload in messages
        ],
    )
    return len(messages)


def _holds_up_later(message: Any, now: datetime | sa.BindParameter[datetime]) -> Any:
    """An unsent message that later ones to its recipient must wait for. One scheduled for
    later and not yet tried (a clock prompt held for working hours) does not hold up the
    conversation behind it; one being sent or retried does."""
    return and_(
        col(message.status).in_(UNSENT),
        or_(col(message.attempts) > 0, col(message.next_attempt_at) <= now),
    )


def _due() -> sa.Select[Any]:
    now = bindparam("now", type_=UTCDateTime)
    earlier = aliased(OutboxMessage)
    blocked = exists().where(
        col(earlier.recipient) == col(OutboxMessage.recipient),
        col(earlier.id) < col(OutboxMessage.id),
        _holds_up_later(earlier, now),
    )
    return (
        sa.select(col(OutboxMessage.id))
        .where(
            col(OutboxMessage.status).in_(UNSENT),
            col(OutboxMessage.next_attempt_at) <= now,
            ~blocked,
        )
        .order_by(col(OutboxMessage.id))
        .limit(bindparam("limit"))
    )


# The delivery loop looks after every request that records a message: built once.
_DUE = _due()


def due_ids(*, session: Session, now: datetime, limit: int) -> list[int]:
    """Messages ready to send, oldest first, none behind an earlier unsent one to its recipient."""
    rows = execute(session, _DUE, {"now": now, "limit": limit})
    return [r for (r,) in rows if r is not None]


_WAITING_FOR = (
    select(OutboxMessage.id)
    .where(
        OutboxMessage.recipient == bindparam("recipient"),
        OutboxMessage.status == OutboxStatus.PENDING,
        or_(
            col(OutboxMessage.attempts) > 0,
            col(OutboxMessage.next_attempt_at) <= bindparam("now", type_=UTCDateTime),
        ),
    )
    .limit(1)
)


def waiting_for(*, session: Session, recipient: str, now: datetime) -> bool:
    """Whether a message to ``recipient`` is waiting to be retried or sent, so a new one must
    queue behind it. One being sent now does not hold a new one up: sends that overlap can
    arrive in either order however they are made. One scheduled for later and not yet tried
    (a clock prompt held for working hours) does not either."""
    found = execute(session, _WAITING_FOR, {"recipient": recipient, "now": now}).first()
    return found is not None


def claim(
    *,
    session: Session,
    message_id: int,
    now: datetime,
    lease: timedelta,
    owner: str | None = None,
) -> OutboxMessage | None:
    """Take a message for sending; only one process wins, on SQLite and PostgreSQL alike.

    A claim is a lease: if the process dies while sending, the message is due again when
    the lease runs out (or at once, when ``owner`` is found dead). Taking over a claim that
    ran out makes the message uncertain: it may have been sent. Each claim raises the
    message's ``claim_epoch``, which its sends are fenced by (``start_send``). Returns the
    claimed message, or None if another took it, or another session holds its row (PostgreSQL:
    a session cut off mid-transaction is stepped over, not waited for; SQLite has no row locks).
    """
    unlocked = (
        select(OutboxMessage.id)
        .where(col(OutboxMessage.id) == message_id)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    claimed = session.execute(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.id) == unlocked,
            col(OutboxMessage.status).in_(UNSENT),
            col(OutboxMessage.next_attempt_at) <= now,
        )
        .values(
            status=OutboxStatus.SENDING,
            next_attempt_at=now + lease,
            attempts=OutboxMessage.attempts + 1,
            owner=owner,
            claim_epoch=OutboxMessage.claim_epoch + 1,
            # SET reads the row as it was: "sending" here is the claim that ran out.
            uncertain=or_(
                col(OutboxMessage.uncertain), col(OutboxMessage.status) == OutboxStatus.SENDING
            ),
        )
        .returning(OutboxMessage)
    ).scalar_one_or_none()
    return claimed


def _held(message_id: int, epoch: int) -> tuple[sa.ColumnElement[bool], ...]:
    """The message is still being sent under the claim numbered ``epoch``."""
    return (
        col(OutboxMessage.id) == message_id,
        col(OutboxMessage.claim_epoch) == epoch,
        col(OutboxMessage.status) == OutboxStatus.SENDING,
    )


def start_send(*, session: Session, message_id: int, epoch: int, now: datetime) -> bool:
    """Record that a send starts now under the claim numbered ``epoch``, in the one statement
    that checks the claim is still the latest: False (nothing recorded) if it was taken over,
    put back or settled meanwhile, and the caller must not send."""
    result = session.exec(
        update(OutboxMessage).where(*_held(message_id, epoch)).values(send_started_at=now)
    )
    return bool(result.rowcount)


def defer(*, session: Session, message_id: int, epoch: int, until: datetime) -> None:
    """Give a claim back untried, due again at ``until`` (a send whose outcome is unknown may
    still be posted until then); the try it was claimed for is not counted."""
    session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.id) == message_id, col(OutboxMessage.claim_epoch) == epoch)
        .values(
            status=OutboxStatus.PENDING,
            next_attempt_at=until,
            owner=None,
            attempts=sa.case(
                (col(OutboxMessage.attempts) > 0, OutboxMessage.attempts - 1), else_=0
            ),
        )
    )


def renew(*, session: Session, message_id: int, epoch: int, now: datetime, until: datetime) -> bool:
    """Make the claim numbered ``epoch``, if it still holds, last until ``until``; False if it
    has run out or was taken over, so the message is no longer the caller's."""
    result = session.exec(
        update(OutboxMessage)
        .where(*_held(message_id, epoch), col(OutboxMessage.next_attempt_at) > now)
        .values(next_attempt_at=until)
    )
    return bool(result.rowcount)


class Posted(NamedTuple):
    """A message sent: the front end's reference for its last post, and when it was made."""

    message_id: int
    ref: str | None = None
    at: datetime | None = None


def mark_sent(*, session: Session, posted: Posted, now: datetime) -> None:
    mark_all_sent(session=session, sent=[posted], now=now)


def mark_part_sent(*, session: Session, message_id: int, parts_sent: int) -> None:
    """Record that the first ``parts_sent`` posts of a message split at send time have gone,
    so a later try starts after them."""
    session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.id) == message_id)
        .values(parts_sent=parts_sent, uncertain=False)
    )


_MARK_SENT = (
    update(OutboxMessage)
    .where(col(OutboxMessage.id) == bindparam("message_id"))
    .values(
        status=OutboxStatus.SENT,
        sent_at=bindparam("now", type_=UTCDateTime),
        posted_ref=bindparam("ref"),
        posted_at=bindparam("posted_at", type_=UTCDateTime),
        last_error=None,
    )
)


def mark_all_sent(*, session: Session, sent: Sequence[Posted], now: datetime) -> None:
    """Mark messages sent, each with its last post's reference and time: one statement, its
    parameters sent together (executemany)."""
    if not sent:
        return
    rows = [{"message_id": p.message_id, "ref": p.ref, "posted_at": p.at, "now": now} for p in sent]
    execute(session, _MARK_SENT, rows)


def release(*, session: Session, message_ids: Sequence[int], now: datetime) -> None:
    """Give claimed messages that were never tried back to whoever delivers next. Only claims
    that still hold: one that ran out may be another process's by now."""
    session.execute(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.id).in_(message_ids),
            col(OutboxMessage.status) == OutboxStatus.SENDING,
            col(OutboxMessage.next_attempt_at) > now,
        )
        .values(status=OutboxStatus.PENDING, attempts=0, next_attempt_at=now)
    )


def mark_retry(
    *,
    session: Session,
    message_id: int,
    at: datetime,
    error: str,
    uncertain: bool = False,
    epoch: int | None = None,
) -> None:
    """Due again at ``at``. ``uncertain``: the send may have arrived, so look before sending
    again; a message once uncertain stays so until it is sent. ``epoch``: only while that
    claim is still the latest (one taken over meanwhile is its new holder's to settle)."""
    values: dict[str, Any] = {
        "status": OutboxStatus.PENDING,
        "next_attempt_at": at,
        "last_error": error[:200],
    }
    # The send has ended (the platform answered, or the client gave up): only a send that a
    # stalled or dead process left in flight is waited for before looking.
    values["send_started_at"] = None
    if uncertain:
        values["uncertain"] = True
    statement = update(OutboxMessage).where(col(OutboxMessage.id) == message_id)
    if epoch is not None:
        statement = statement.where(col(OutboxMessage.claim_epoch) == epoch)
    session.execute(statement.values(values))


@dataclass(frozen=True)
class Failing:
    recipient: str
    created_at: datetime


def failing_message(*, session: Session, message_id: int) -> Failing | None:
    """Whom a message is for and when it was recorded (its payload is not read)."""
    row = session.exec(
        select(OutboxMessage.recipient, OutboxMessage.created_at).where(
            col(OutboxMessage.id) == message_id
        )
    ).first()
    return None if row is None else Failing(recipient=row[0], created_at=row[1])


def sent_to_others_since(*, session: Session, recipient: str, since: datetime) -> bool:
    """Whether Slack took a message to anyone but ``recipient`` at ``since`` or later."""
    found = session.exec(
        select(OutboxMessage.id)
        .where(
            OutboxMessage.status == OutboxStatus.SENT,
            OutboxMessage.recipient != recipient,
            col(OutboxMessage.sent_at) >= since,
        )
        .limit(1)
    ).first()
    return found is not None


def set_aside(
    *, session: Session, message_id: int, error: str, epoch: int | None = None
) -> str | None:
    """Set a message aside for an operator (status "failed", its payload kept), so it no
    longer holds up its recipient's later messages. Returns its recipient if it asked them a
    question, else None.

    It is no longer taken to be in flight (``uncertain`` is cleared), so an answer typed
    meanwhile is filed under the question before it rather than waiting for it; it is looked
    for before it is sent again if an operator retries it (see ``retry``). ``epoch``: only
    while that claim is still the latest."""
    values: dict[str, Any] = {
        "status": OutboxStatus.FAILED,
        "last_error": error[:200],
        "uncertain": False,
        "owner": None,
        "send_started_at": None,
    }
    statement = update(OutboxMessage).where(col(OutboxMessage.id) == message_id)
    if epoch is not None:
        statement = statement.where(col(OutboxMessage.claim_epoch) == epoch)
    result = session.execute(
        statement.values(values).returning(col(OutboxMessage.recipient), col(OutboxMessage.prompt))
    ).first()
    if result is None or result[1] is None:
        return None
    return str(result[0])


@dataclass(frozen=True)
class SetAside:
    """A set-aside message as an operator sees it: never what it says."""

    id: int
    surface: str
    recipient: str
    created_at: datetime
    attempts: int
    last_error: str | None


_SET_ASIDE_COLUMNS = (
    col(OutboxMessage.id),
    col(OutboxMessage.surface),
    col(OutboxMessage.recipient),
    col(OutboxMessage.created_at),
    col(OutboxMessage.attempts),
    col(OutboxMessage.last_error),
)


def set_aside_messages(
    *, session: Session, message_ids: Sequence[int] | None = None
) -> list[SetAside]:
    """Messages set aside, oldest first (all of them when ``message_ids`` is None)."""
    query = sa.select(*_SET_ASIDE_COLUMNS).where(col(OutboxMessage.status) == OutboxStatus.FAILED)
    if message_ids is not None:
        query = query.where(col(OutboxMessage.id).in_(list(message_ids)))
    return [SetAside(*row) for row in session.execute(query.order_by(col(OutboxMessage.id)))]


def retry(*, session: Session, message_ids: Sequence[int] | None) -> list[SetAside]:
    """Put set-aside messages back to be sent at once, in order for each recipient, ahead of
    anything to them still unsent (all of them when ``message_ids`` is None); returns those
    put back. Due since they were recorded, so a command run on a machine whose clock is ahead
    of the app's does not hold them up. Each is looked for before it is sent again: it may
    have arrived."""
    messages = set_aside_messages(session=session, message_ids=message_ids)
    if messages:
        session.execute(
            update(OutboxMessage)
            .where(col(OutboxMessage.id).in_([m.id for m in messages]))
            .values(
                status=OutboxStatus.PENDING,
                attempts=0,
                next_attempt_at=OutboxMessage.created_at,
                owner=None,
                last_error=None,
                uncertain=True,
            )
        )
    return messages


def pending_count(*, session: Session) -> int:
    return session.exec(
        select(func.count()).select_from(OutboxMessage).where(col(OutboxMessage.status).in_(UNSENT))
    ).one()
