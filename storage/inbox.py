"""The inbox: what practitioners send, stored before Slack is answered, handled straight after.

Each person's items are handled one at a time, oldest first: only the oldest waiting item of a
person (their head) may be claimed, so a later message never overtakes an earlier unhandled
one, in any process, across restarts. Items that could not be handled after every try are set
aside (status "failed") for an operator, and no longer hold up the person's later messages.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, case, delete, func, insert, or_, update
from sqlmodel import Session, col, select

from storage.db import execute
from storage.models import InboxItem
from storage.statuses import InboxStatus
from storage.types import UTCDateTime

_ADD = insert(InboxItem).returning(col(InboxItem.id))
_TAKE = delete(InboxItem).where(col(InboxItem.id) == bindparam("item_id"))
_HAS_WAITING = (
    select(InboxItem.id)
    .where(InboxItem.user_id == bindparam("user_id"), InboxItem.status == InboxStatus.WAITING)
    .limit(1)
)
# PostgreSQL: a head whose row another session holds (one cut off mid-transaction) is not
# waited for: the claim takes nothing, and the person's items wait while the others' go on.
# Only that row is looked at, so a later item of theirs is never taken in its place.
_UNLOCKED = (
    select(InboxItem.id)
    .where(col(InboxItem.id) == bindparam("item_id"))
    .with_for_update(skip_locked=True)
    .scalar_subquery()
)
_CLAIM = (
    update(InboxItem)
    .where(
        col(InboxItem.id) == _UNLOCKED,
        col(InboxItem.status) == InboxStatus.WAITING,
        or_(
            col(InboxItem.claimed_until) <= bindparam("now", type_=UTCDateTime),
            col(InboxItem.owner) == bindparam("owner"),
        ),
    )
    .values(
        owner=bindparam("owner"),
        claimed_until=bindparam("until", type_=UTCDateTime),
        attempts=InboxItem.attempts + 1,
    )
)


def add(
    *,
    session: Session,
    kind: str,
    user_id: str,
    payload: dict[str, Any],
    now: datetime,
    claimed_until: datetime,
    owner: str | None = None,
    attempts: int = 0,
) -> int:
    """Store an item, claimed by ``owner`` until ``claimed_until`` (``attempts``: 1 when its
    first try is starting now); returns its id."""
    values = {
        "kind": kind,
        "user_id": user_id,
        "payload": payload,
        "received_at": now,
        "claimed_until": claimed_until,
        "attempts": attempts,
        "owner": owner,
        "status": InboxStatus.WAITING,
    }
    return int(execute(session, _ADD, values).scalar_one())


def has_waiting(*, session: Session, user_id: str) -> bool:
    """Whether an item of ``user_id`` is still waiting to be handled."""
    return execute(session, _HAS_WAITING, {"user_id": user_id}).first() is not None


def claim_head(
    *, session: Session, user_id: str, owner: str, now: datetime, until: datetime
) -> InboxItem | None:
    """Claim the person's oldest waiting item for ``owner`` until ``until``: if its claim has
    run out, or ``owner`` holds it already. None when there is none, or another holds it."""
    item = session.exec(
        select(InboxItem)
        .where(InboxItem.user_id == user_id, InboxItem.status == InboxStatus.WAITING)
        .order_by(col(InboxItem.id))
        .limit(1)
    ).first()
    if item is None:
        return None
    params = {"item_id": item.id, "now": now, "owner": owner, "until": until}
    if not execute(session, _CLAIM, params).rowcount:
        return None
    session.expunge(item)  # a plain record from here: nothing more to write
    item.attempts += 1
    item.owner, item.claimed_until = owner, until
    return item


def users_due(*, session: Session, now: datetime, limit: int) -> list[str]:
    """People whose oldest waiting item may be claimed now (its claim ran out, or its process
    died), those waiting longest first."""
    heads = (
        select(func.min(InboxItem.id).label("head_id"))
        .where(InboxItem.status == InboxStatus.WAITING)
        .group_by(col(InboxItem.user_id))
        .subquery()
    )
    rows = session.exec(
        select(InboxItem.user_id)
        .join(heads, and_(col(InboxItem.id) == heads.c.head_id))
        .where(col(InboxItem.claimed_until) <= now)
        .order_by(col(InboxItem.id))
        .limit(limit)
    )
    return list(rows)


def take(*, session: Session, item_id: int) -> bool:
    """Remove an item in the transaction that handles it; False if it was handled already."""
    return bool(execute(session, _TAKE, {"item_id": item_id}).rowcount)


def set_back(
    *,
    session: Session,
    item_id: int,
    at: datetime,
    error: str,
    counted: bool = True,
    owner: str | None = None,
) -> None:
    """Handling failed: the item waits until ``at``, still ahead of the person's later ones.
    A failure that was not the item's fault (the database was away) is not ``counted``. With
    ``owner``, only while that process still holds the item (a late try never undoes a claim
    another process took since)."""
    attempts = (
        InboxItem.attempts
        if counted
        else case((col(InboxItem.attempts) > 0, InboxItem.attempts - 1), else_=0)
    )
    statement = update(InboxItem).where(col(InboxItem.id) == item_id)
    if owner is not None:
        statement = statement.where(col(InboxItem.owner) == owner)
    session.execute(
        statement.values(owner=None, claimed_until=at, last_error=error[:200], attempts=attempts)
    )


def set_aside(*, session: Session, item_id: int, error: str) -> None:
    """Could not be handled after every try: kept for an operator, out of the person's way."""
    session.execute(
        update(InboxItem)
        .where(col(InboxItem.id) == item_id)
        .values(status=InboxStatus.FAILED, owner=None, last_error=error[:200])
    )


def set_aside_items(*, session: Session) -> list[InboxItem]:
    return list(
        session.exec(
            select(InboxItem)
            .where(InboxItem.status == InboxStatus.FAILED)
            .order_by(col(InboxItem.id))
        )
    )


def retry(*, session: Session, item_ids: Sequence[int] | None, now: datetime) -> list[InboxItem]:
    """Put set-aside items back to be handled (all of them when ``item_ids`` is None), as
    if newly received; returns those put back."""
    query = select(InboxItem).where(InboxItem.status == InboxStatus.FAILED)
    if item_ids is not None:
        query = query.where(col(InboxItem.id).in_(list(item_ids)))
    items = list(session.exec(query))
    if items:
        session.execute(
            update(InboxItem)
            .where(col(InboxItem.id).in_([i.id for i in items]))
            .values(
                status=InboxStatus.WAITING,
                owner=None,
                claimed_until=now,
                attempts=0,
                last_error=None,
            )
        )
    return items


def release(*, session: Session, item_ids: list[int], now: datetime) -> None:
    """Make claimed items due at once, for whoever looks next (a clean stop)."""
    session.execute(
        update(InboxItem)
        .where(col(InboxItem.id).in_(item_ids))
        .values(claimed_until=now, owner=None)
    )
