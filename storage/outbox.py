"""The outbox: what the bot must send, recorded in the same transaction as its cause."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, insert, or_, update
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from storage.models import OutboxMessage

ACTIVE = ("pending", "sending")


def enqueue(
    *,
    session: Session,
    dedupe_key: str,
    method: str,
    recipient: str,
    payload: dict[str, Any],
    now: datetime,
    not_before: datetime | None = None,
) -> bool:
    """Record a message to send; False (and nothing recorded) if the key is already there."""
    existing = session.exec(
        select(OutboxMessage.id).where(OutboxMessage.dedupe_key == dedupe_key)
    ).first()
    if existing is not None:
        return False
    session.add(
        OutboxMessage(
            dedupe_key=dedupe_key,
            method=method,
            recipient=recipient,
            payload=payload,
            status="pending",
            next_attempt_at=not_before or now,
            created_at=now,
        )
    )
    session.flush()
    return True


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


def due_ids(*, session: Session, now: datetime, limit: int) -> list[int]:
    """Messages ready to send, oldest first, none behind an earlier unsent one to its recipient."""
    earlier = aliased(OutboxMessage)
    # A message scheduled for later and not yet tried (a clock prompt held for working hours)
    # does not hold up the conversation behind it; one being retried does.
    blocked = exists().where(
        and_(
            earlier.recipient == OutboxMessage.recipient,
            col(earlier.id) < col(OutboxMessage.id),
            col(earlier.status).in_(ACTIVE),
            or_(col(earlier.attempts) > 0, col(earlier.next_attempt_at) <= now),
        )
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


def claim(*, session: Session, message_id: int, now: datetime, lease: timedelta) -> bool:
    """Take a message for sending; only one process wins, on SQLite and PostgreSQL alike.

    A claim is a lease: if the process dies while sending, the message is due again when
    the lease runs out.
    """
    result = session.execute(
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
        )
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def mark_sent(*, session: Session, message_id: int, now: datetime) -> None:
    session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.id) == message_id)
        .values(status="sent", sent_at=now, last_error=None)
    )


def mark_retry(*, session: Session, message_id: int, at: datetime, error: str) -> None:
    session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.id) == message_id)
        .values(status="pending", next_attempt_at=at, last_error=error[:200])
    )


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
