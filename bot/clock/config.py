"""The clock's settings: deployment-wide from the environment, overridable per agency under
``clock:`` in the organisation file."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import time
from typing import Any

from bot.settings import SettingsError


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


# Environment variable for each threshold, and the limits an agency's value must lie within.
ENVIRONMENT = {
    "long_open_days": "REFLECT_LONG_OPEN_DAYS",
    "long_open_repeat_days": "REFLECT_LONG_OPEN_REPEAT_DAYS",
    "unfinished_hours": "REFLECT_UNFINISHED_HOURS",
    "lead_followup_working_days": "REFLECT_LEAD_FOLLOWUP_WORKING_DAYS",
}
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

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ClockConfig:
        env = os.environ if env is None else env
        values = {
            name: _int(env, variable, *LIMITS[name], default=getattr(Thresholds, name))
            for name, variable in ENVIRONMENT.items()
        }
        start = _time(env, "REFLECT_WORKDAY_START", time(9, 0))
        end = _time(env, "REFLECT_WORKDAY_END", time(17, 0))
        if end <= start:
            raise SettingsError("REFLECT_WORKDAY_END must be later than REFLECT_WORKDAY_START.")
        return cls(
            thresholds=Thresholds(**values),
            workday_start=start,
            workday_end=end,
            every_minutes=_int(env, "REFLECT_CLOCK_EVERY_MINUTES", 1, 60, default=5),
            lock_retry_seconds=_seconds(env, "REFLECT_CLOCK_LOCK_RETRY_SECONDS", 5.0),
        )


def threshold_problems(options: Any) -> list[tuple[str, str]]:
    """Problems with an agency's ``clock:`` settings, as (field, reason) pairs."""
    if not isinstance(options, dict):
        return [("clock", "must be a mapping, e.g. long_open_days: 60")]
    problems: list[tuple[str, str]] = []
    for key, value in options.items():
        if key not in LIMITS:
            problems.append((f"clock.{key}", f"unknown setting; use {', '.join(LIMITS)}"))
            continue
        low, high = LIMITS[key]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            problems.append((f"clock.{key}", f"must be a whole number from {low} to {high}"))
    return problems


def _int(env: Mapping[str, str], name: str, low: int, high: int, *, default: int) -> int:
    text = (env.get(name) or "").strip()
    if not text:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise SettingsError(f"{name}={text!r} must be a whole number from {low} to {high}.")
    return int(text)


def _time(env: Mapping[str, str], name: str, default: time) -> time:
    text = (env.get(name) or "").strip()
    if not text:
        return default
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise SettingsError(f"{name}={text!r} must be a time like 09:00.") from None


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    text = (env.get(name) or "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.01 <= value <= 600:
        raise SettingsError(f"{name}={text!r} must be a number of seconds from 0.01 to 600.")
    return value
