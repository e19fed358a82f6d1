"""The audit trail: every view, export, note and deletion of reflective material."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from storage.models import AuditEntry


def record(
    *,
    session: Session,
    actor: str,
    action: str,
    subject: str,
    now: datetime,
    detail: dict[str, Any] | None = None,
) -> None:
    """Add an audit row in the caller's transaction. Never put answer text in ``detail``."""
    session.add(
        AuditEntry(at=now, actor=actor, action=action, subject=subject, detail=detail or {})
    )


def entries(
    *, session: Session, since: datetime | None = None, limit: int = 1000
) -> list[AuditEntry]:
    query = select(AuditEntry).order_by(col(AuditEntry.at).desc(), col(AuditEntry.id).desc())
    if since is not None:
        query = query.where(col(AuditEntry.at) >= since)
    return list(session.exec(query.limit(limit)))
