"""The inbox: what practitioners send, stored before Slack is answered, handled straight after."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, insert, update
from sqlmodel import Session, col, select

from storage.db import execute
from storage.models import InboxItem
from storage.types import UTCDateTime

_ADD = insert(InboxItem).returning(InboxItem.id)
_TAKE = delete(InboxItem).where(col(InboxItem.id) == bindparam("item_id"))
_RECLAIM = (
    update(InboxItem)
    .where(
        col(InboxItem.id) == bindparam("item_id"),
        col(InboxItem.claimed_until) <= bindparam("now", type_=UTCDateTime),
    )
    .values(claimed_until=bindparam("until", type_=UTCDateTime), attempts=InboxItem.attempts + 1)
)


def add(
    *,
    session: Session,
    kind: str,
    user_id: str,
    payload: dict[str, Any],
    now: datetime,
    claimed_until: datetime,
) -> int:
    """Store an item claimed by the caller until ``claimed_until``; returns its id."""
    values = {
        "kind": kind,
        "user_id": user_id,
        "payload": payload,
        "received_at": now,
        "claimed_until": claimed_until,
        "attempts": 0,
    }
    return int(execute(session, _ADD, values).scalar_one())


def take(*, session: Session, item_id: int) -> bool:
    """Remove an item in the transaction that handles it; False if it was handled already."""
    return bool(execute(session, _TAKE, {"item_id": item_id}).rowcount)


def overdue(*, session: Session, now: datetime, limit: int, max_retries: int) -> list[InboxItem]:
    """Items whose claim ran out (their process died, or handling failed), oldest first;
    not those taken again ``max_retries`` times already, which are kept for an operator."""
    return list(
        session.exec(
            select(InboxItem)
            .where(col(InboxItem.claimed_until) <= now, col(InboxItem.attempts) < max_retries)
            .order_by(col(InboxItem.id))
            .limit(limit)
        )
    )


def reclaim(*, session: Session, item_id: int, now: datetime, until: datetime) -> bool:
    """Claim an overdue item; False if another process claimed or handled it first."""
    params = {"item_id": item_id, "now": now, "until": until}
    return bool(execute(session, _RECLAIM, params).rowcount)


def release(*, session: Session, item_ids: list[int], now: datetime) -> None:
    """Make claimed items overdue at once, for whoever looks next."""
    session.execute(
        update(InboxItem).where(col(InboxItem.id).in_(item_ids)).values(claimed_until=now)
    )
