"""Keys of events, clicks and submissions already handled (the handled_key table)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from storage.db import execute, insert_if_new
from storage.models import HandledKey

KEY_LIMIT = 64


# RETURNING says whether the row went in: psycopg reports no row count for this INSERT.
_RECORD = insert_if_new(HandledKey, returning=HandledKey.event_id)


def record(*, session: Session, key: str, now: datetime) -> bool:
    """Take ``key`` in the caller's transaction: False when it was taken before."""
    result = execute(session, _RECORD, {"event_id": key[:KEY_LIMIT], "received_at": now})
    return result.scalar_one_or_none() is not None


def is_recorded(*, session: Session, key: str) -> bool:
    return session.get(HandledKey, key[:KEY_LIMIT]) is not None
