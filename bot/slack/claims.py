"""Handled-once records in the slack_event table: event IDs, button clicks, modal submissions.

A claim is inserted in the same transaction as the work it guards, so a Slack retry, a second
process or a double click that races the first finds the key taken and changes nothing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from storage.db import SessionFactory
from storage.models import SlackEvent

KEY_LIMIT = 64


class AlreadyHandled(Exception):
    """This event, click or submission was handled before; the transaction must roll back."""


def claim(*, session: Session, key: str, now: datetime) -> None:
    """Take ``key`` in the caller's transaction, or raise AlreadyHandled."""
    if session.get(SlackEvent, key[:KEY_LIMIT]) is not None:
        raise AlreadyHandled(key)
    session.add(SlackEvent(event_id=key[:KEY_LIMIT], received_at=now))
    try:
        session.flush()
    except IntegrityError:
        raise AlreadyHandled(key) from None


def is_claimed(new_session: SessionFactory, key: str) -> bool:
    with new_session() as session:
        return session.get(SlackEvent, key[:KEY_LIMIT]) is not None
