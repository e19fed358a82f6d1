"""The process table: which web and clock processes are alive, and taking over the claims of
those that are not."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from storage.models import InboxItem, OutboxMessage, Process
from storage.statuses import OutboxStatus


def register(*, session: Session, process: Process) -> None:
    session.add(process)


def seen(*, session: Session, process_id: str, now: datetime) -> bool:
    """Record that the process is alive; False if its row is gone (another process took it
    for dead, and took over its claims)."""
    result = session.exec(update(Process).where(col(Process.id) == process_id).values(seen_at=now))
    return bool(result.rowcount)


def all_processes(*, session: Session) -> list[Process]:
    return list(session.exec(select(Process)))


def forget(*, session: Session, process_ids: Sequence[str], now: datetime) -> None:
    """Remove dead processes and make their claims due at once: inbox items to be handled
    again, and messages they were sending to be checked (did it arrive?) and sent if not."""
    ids = list(process_ids)
    if not ids:
        return
    session.execute(delete(Process).where(col(Process.id).in_(ids)))
    session.execute(
        update(InboxItem).where(col(InboxItem.owner).in_(ids)).values(owner=None, claimed_until=now)
    )
    session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.owner).in_(ids), col(OutboxMessage.status) == OutboxStatus.SENDING)
        .values(owner=None, status=OutboxStatus.PENDING, next_attempt_at=now, uncertain=True)
    )
