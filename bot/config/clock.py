"""The clock's settings: deployment-wide from the environment (bot/settings.py reads them),
overridable per agency under ``clock:`` in the organisation file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import time
from typing import Any


@dataclass(frozen=True)
class Thresholds:
    """When a practitioner is prompted. Each can be set per agency."""

    # A case open this many days...
    long_open_days: int = 90
    # ...with no completed reflection for this many days is prompted, at most once in this many.
    long_open_repeat_days: int = 28
    # A reflection paused or untouched this many hours gets one nudge.
    unfinished_hours: int = 24
    # Safeguarding-lead contact not confirmed this many working days after completion.
    lead_followup_working_days: int = 2

    def merged(self, overrides: Mapping[str, Any]) -> Thresholds:
        known = {f.name for f in fields(self)}
        return replace(self, **{k: int(v) for k, v in overrides.items() if k in known})


# The limits a threshold must lie within, deployment-wide or an agency's own.
LIMITS = {
    "long_open_days": (1, 3650),
    "long_open_repeat_days": (1, 365),
    "unfinished_hours": (1, 24 * 90),
    "lead_followup_working_days": (1, 30),
}


@dataclass(frozen=True)
class ClockConfig:
    thresholds: Thresholds = Thresholds()
    workday_start: time = time(9, 0)
    workday_end: time = time(17, 0)
    # How often the scheduler decides what is due, and how often it delivers the outbox.
    every_minutes: int = 5
    deliver_every_seconds: int = 30
    # How long a waiting clock sleeps between tries for the lock.
    lock_retry_seconds: float = 5.0
    # Prompts recorded per transaction.
    batch_size: int = 500
