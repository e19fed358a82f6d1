"""The outbox: what the bot must send, recorded in the same transaction as its cause."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, exists, func, insert, or_, update
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from storage.db import execute, insert_if_new
from storage.models import OutboxMessage
from storage.types import UTCDateTime

ACTIVE = ("pending", "sending")


_ENQUEUE = insert_if_new(OutboxMessage, returning=OutboxMessage.id)


def enqueue(
    *,
    session: Session,
    dedupe_key: str,
    method: str,
    recipient: str,
    payload: dict[str, Any],
    now: datetime,
    not_before: datetime | None = None,
    claimed_until: datetime | None = None,
    owner: str | None = None,
) -> int | None:
    """Record a message to send and return its id; None (and nothing recorded) if the key is
    already there. ``claimed_until`` records it already claimed by the caller (the process
    ``owner``), who sends it once the transaction commits; if the caller never does, it falls
    due at that time, or as soon as ``owner`` is found dead."""
    claimed = claimed_until is not None
    values: dict[str, Any] = {
        "dedupe_key": dedupe_key,
        "method": method,
        "recipient": recipient,
        "payload": payload,
        "status": "sending" if claimed else "pending",
        "attempts": 1 if claimed else 0,
        "next_attempt_at": claimed_until or not_before or now,
        "created_at": now,
        "owner": owner if claimed else None,
    }
    return execute(session, _ENQUEUE, values).scalar_one_or_none()


def enqueue_many(
    *,
    session: Session,
    method: str,
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
                "method": method,
                "recipient": recipient,
                "payload": payload,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": not_before or now,
                "created_at": now,
            }
            for key, recipient, payload in messages
        ],
    )
    return len(messages)


def _holds_up_later(message: Any, now: datetime) -> Any:
    """An unsent message that later ones to its recipient must wait for. One scheduled for
    later and not yet tried (a clock prompt held for working hours) does not hold up the
    conversation behind it; one being sent or retried does."""
    return and_(
        col(message.status).in_(ACTIVE),
        or_(col(message.attempts) > 0, col(message.next_attempt_at) <= now),
    )


def due_ids(*, session: Session, now: datetime, limit: int) -> list[int]:
    """Messages ready to send, oldest first, none behind an earlier unsent one to its recipient."""
    earlier = aliased(OutboxMessage)
    blocked = exists().where(
        earlier.recipient == OutboxMessage.recipient,
        col(earlier.id) < col(OutboxMessage.id),
        _holds_up_later(earlier, now),
    )
    rows = session.exec(
        select(OutboxMessage.id)
        .where(
            col(OutboxMessage.status).in_(ACTIVE),
            col(OutboxMessage.next_attempt_at) <= now,
            ~blocked,
        )
        .order_by(col(OutboxMessage.id))
        .limit(limit)
    )
    return [r for r in rows if r is not None]


_WAITING_FOR = (
    select(OutboxMessage.id)
    .where(
        OutboxMessage.recipient == bindparam("recipient"),
        OutboxMessage.status == "pending",
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
    ran out makes the message uncertain: it may have been sent. Returns the claimed message,
    or None if another took it.
    """
    claimed = session.execute(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.id) == message_id,
            col(OutboxMessage.status).in_(ACTIVE),
            col(OutboxMessage.next_attempt_at) <= now,
        )
        .values(
            status="sending",
            next_attempt_at=now + lease,
            attempts=OutboxMessage.attempts + 1,
            owner=owner,
            # SET reads the row as it was: "sending" here is the claim that ran out.
            uncertain=or_(col(OutboxMessage.uncertain), OutboxMessage.status == "sending"),
        )
        .returning(OutboxMessage)
    ).scalar_one_or_none()
    return claimed


def renew(*, session: Session, message_id: int, now: datetime, until: datetime) -> bool:
    """Make a claim that still holds last until ``until``; False if it has run out or was
    taken over (its process was found dead), so the message is no longer the caller's."""
    result = session.execute(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.id) == message_id,
            OutboxMessage.status == "sending",
            col(OutboxMessage.next_attempt_at) > now,
        )
        .values(next_attempt_at=until)
    )
    return bool(result.rowcount)


def mark_sent(*, session: Session, message_id: int, slack_ts: str | None, now: datetime) -> None:
    mark_all_sent(session=session, sent=[(message_id, slack_ts)], now=now)


_MARK_SENT = (
    update(OutboxMessage)
    .where(col(OutboxMessage.id) == bindparam("message_id"))
    .values(
        status="sent",
        sent_at=bindparam("now", type_=UTCDateTime),
        slack_ts=bindparam("ts"),
        last_error=None,
    )
)


def mark_all_sent(
    *, session: Session, sent: Sequence[tuple[int, str | None]], now: datetime
) -> None:
    """Mark messages sent, each with Slack's ts for it, given as (id, ts): one statement, its
    parameters sent together (executemany)."""
    if not sent:
        return
    rows = [{"message_id": message_id, "ts": ts, "now": now} for message_id, ts in sent]
    execute(session, _MARK_SENT, rows)


def release(*, session: Session, message_ids: Sequence[int], now: datetime) -> None:
    """Give claimed messages that were never tried back to whoever delivers next. Only claims
    that still hold: one that ran out may be another process's by now."""
    session.execute(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.id).in_(message_ids),
            OutboxMessage.status == "sending",
            col(OutboxMessage.next_attempt_at) > now,
        )
        .values(status="pending", attempts=0, next_attempt_at=now)
    )


def mark_retry(
    *, session: Session, message_id: int, at: datetime, error: str, uncertain: bool = False
) -> None:
    """Due again at ``at``. ``uncertain``: the send may have arrived, so look before sending
    again; a message once uncertain stays so until it is sent."""
    values: dict[str, Any] = {"status": "pending", "next_attempt_at": at, "last_error": error[:200]}
    if uncertain:
        values["uncertain"] = True
    session.execute(update(OutboxMessage).where(col(OutboxMessage.id) == message_id).values(values))


def mark_failed(*, session: Session, message_id: int, error: str) -> None:
    session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.id) == message_id)
        .values(status="failed", last_error=error[:200])
    )


def pending_count(*, session: Session) -> int:
    return session.exec(
        select(func.count()).select_from(OutboxMessage).where(col(OutboxMessage.status).in_(ACTIVE))
    ).one()
