"""Recording what is to be said: the one way anything is put in the outbox.

A message is recorded in the caller's transaction, beside the change that caused it, under a
dedupe key derived from that cause (an event ID, a button's prompt stamp, a reflection ID), so
a retried event or a second click records nothing new and nobody receives anything twice.

Given a ``delivery`` that sends straight after commit (the web process's), a message to a
person with nothing of theirs still ahead of it is recorded already claimed by this process
and handed to that delivery once the transaction commits: no scan of the outbox and no
separate claim on the way out. Durability is unchanged: the message is in the outbox before
anything is sent, and a claim is a lease (see bot/messaging/delivery.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session

from bot.messaging.delivery import Claimed, Delivery
from bot.messaging.message import CONVERSATION, Message
from storage import outbox
from storage.db import after_commit


def record(
    session: Session,
    *,
    key: str,
    recipient: str,
    message: Message,
    now: datetime,
    delivery: Delivery | None = None,
    surface: str = CONVERSATION,
    asks: str | None = None,
) -> bool:
    """Record ``message`` to ``recipient``; False if ``key`` was recorded before. ``asks``:
    the question it asks (a position key), so a reply can be filed under what was on screen."""
    payload = message.to_json()
    lease_end = delivery.claim_on_record(session, recipient, now) if delivery else None
    message_id = outbox.enqueue(
        session=session,
        dedupe_key=key,
        surface=surface,
        recipient=recipient,
        payload=payload,
        now=now,
        claimed_until=lease_end,
        owner=delivery.owner if delivery else None,
        prompt=asks,
    )
    if message_id is None:
        return False
    if delivery is not None:
        if lease_end is not None:
            claimed = Claimed(message_id, surface, recipient, payload, lease_end, now, epoch=1)
            after_commit(session, lambda: delivery.hand_over([claimed]))
        else:
            after_commit(session, delivery.wake)
    return True


def record_batch(
    session: Session,
    *,
    messages: Sequence[tuple[str, str, Message]],
    now: datetime,
    not_before: datetime | None = None,
) -> int:
    """Record several new messages, given as (key, recipient, message), in one statement,
    due at ``not_before`` (default now); for callers that record many and know their keys are
    new (the clock): a repeated key raises IntegrityError and the transaction rolls back."""
    return outbox.enqueue_many(
        session=session,
        surface=CONVERSATION,
        messages=[(key, recipient, message.to_json()) for key, recipient, message in messages],
        now=now,
        not_before=not_before,
    )
