"""How long each kind of record is kept; bot/retention.py deletes what is past it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RetentionPolicy:
    """Days each kind of record is kept (REFLECT_RETENTION_DAYS and friends, in bot/settings.py)."""

    completed_days: int = 365
    unfinished_days: int = 90
    outbox_days: int = 30
    handled_key_days: int = 7
    audit_days: int = 6 * 365
