"""Which question was on a person's screen: each sent message that asks a question carries the
question's position (``prompt``) and, once sent, the front end's reference for its last post
(``posted_ref``; for Slack, its ts)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa
from sqlmodel import Session, col

from storage.models import OutboxMessage
from storage.statuses import OutboxStatus

# How far back to look: a reply is rarely more than a couple of questions behind.
LOOK_BACK = 5


@dataclass(frozen=True)
class OnScreen:
    prompt: str | None  # None: no question is known to have reached them
    settled: bool = True  # False: a question's send is in flight or its outcome unknown


def _not_known(_message_id: int) -> str | None:
    return None


def on_screen_at(
    *,
    session: Session,
    recipient: str,
    ts: str,
    sent_not_marked: Callable[[int], str | None] = _not_known,
) -> OnScreen:
    """The newest question that had reached ``recipient`` when they posted at Slack time
    ``ts``; not settled while a newer question's send is still in flight.

    ``sent_not_marked``: Slack's timestamp for a message this process has sent and not yet
    marked sent (it marks them in batches), or None."""
    rows = session.execute(
        sa.select(
            col(OutboxMessage.id),
            col(OutboxMessage.prompt),
            col(OutboxMessage.status),
            col(OutboxMessage.posted_ref),
            col(OutboxMessage.uncertain),
        )
        .where(col(OutboxMessage.recipient) == recipient, col(OutboxMessage.prompt).is_not(None))
        .order_by(col(OutboxMessage.id).desc())
        .limit(LOOK_BACK)
    )
    posted_at = _slack_time(ts)
    for message_id, prompt, status, posted_ref, uncertain in rows:
        if status == OutboxStatus.FAILED:
            continue  # never reached them, and never will unless an operator retries it
        if status == OutboxStatus.SENDING and not uncertain:
            known_ts = sent_not_marked(message_id or 0)
            if known_ts is not None:
                status, posted_ref = OutboxStatus.SENT, known_ts
        if status == OutboxStatus.SENT:
            sent_at = _slack_time(posted_ref)
            if sent_at is None or posted_at is None or sent_at <= posted_at:
                return OnScreen(prompt)
        elif status == OutboxStatus.SENDING or uncertain:
            return OnScreen(None, settled=False)
        # pending and never tried, or retrying after a known failure: not seen
    return OnScreen(None)


def _slack_time(ts: str | None) -> Decimal | None:
    try:
        return Decimal(ts) if ts else None
    except InvalidOperation:
        return None
