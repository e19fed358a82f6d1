"""Handled-once keys: event IDs, button clicks, modal submissions (queries: storage/handled.py).

A key is taken in the same transaction as the work it guards, so a platform's retry, a second
process or a double click that races the first finds the key taken and changes nothing.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from storage import handled
from storage.db import SessionFactory


class AlreadyHandled(Exception):
    """This event, click or submission was handled before; the transaction must roll back."""


def take(*, session: Session, key: str, now: datetime) -> None:
    """Take ``key`` in the caller's transaction, or raise AlreadyHandled."""
    if not handled.record(session=session, key=key, now=now):
        raise AlreadyHandled(key)


def was_taken(new_session: SessionFactory, key: str) -> bool:
    with new_session() as session:
        return handled.is_recorded(session=session, key=key)
