"""Which question was on a person's screen: each sent message that asks a question carries the
question's position (``prompt``) and, once sent, when its last post was made (``posted_at``,
as the front end's platform said)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col

from storage.db import execute
from storage.models import OutboxMessage
from storage.statuses import OutboxStatus

# How far back to look: a reply is rarely more than a couple of questions behind.
LOOK_BACK = 5


@dataclass(frozen=True)
class OnScreen:
    prompt: str | None  # None: no question is known to have reached them
    settled: bool = True  # False: a question's send is in flight or its outcome unknown


# Asked on every answer typed in a chat: built once.
_SHOWN = (
    sa.select(
        col(OutboxMessage.id),
        col(OutboxMessage.prompt),
        col(OutboxMessage.status),
        col(OutboxMessage.posted_at),
        col(OutboxMessage.uncertain),
    )
    .where(
        col(OutboxMessage.recipient) == sa.bindparam("recipient"),
        col(OutboxMessage.prompt).is_not(None),
    )
    .order_by(col(OutboxMessage.id).desc())
    .limit(LOOK_BACK)
)


def _not_known(_message_id: int) -> datetime | None:
    return None


def on_screen_at(
    *,
    session: Session,
    recipient: str,
    typed_at: datetime,
    sent_not_marked: Callable[[int], datetime | None] = _not_known,
) -> OnScreen:
    """The newest question that had reached ``recipient`` when they typed at ``typed_at`` (the
    platform's time for their message); not settled while a newer question's send is still in
    flight.

    ``sent_not_marked``: when a message this process has sent and not yet marked sent (it
    marks them in batches) was posted, or None."""
    rows = execute(session, _SHOWN, {"recipient": recipient})
    for message_id, prompt, status, posted_at, uncertain in rows:
        if status == OutboxStatus.FAILED:
            continue  # never reached them, and never will unless an operator retries it
        if status == OutboxStatus.SENDING and not uncertain:
            known = sent_not_marked(message_id or 0)
            if known is not None:
                status, posted_at = OutboxStatus.SENT, known
        if status == OutboxStatus.SENT:
            # Sent with no time known (a platform that gives none): taken as seen.
            if posted_at is None or posted_at <= typed_at:
                return OnScreen(prompt)
        elif status == OutboxStatus.SENDING or uncertain:
            return OnScreen(None, settled=False)
        # pending and never tried, or retrying after a known failure: not seen
    return OnScreen(None)
