"""What every clock job is given, what it decides, and the one way a decision is recorded: the
clock-prompt row and its message in the outbox, in the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session

from bot.config.clock import ClockConfig
from bot.config.retention import RetentionPolicy
from bot.identity import Directory
from bot.messaging import outbox
from bot.messaging.message import Message
from bot.working_hours import WorkingHours
from storage import clock as queries
from storage.db import SessionFactory


@dataclass
class ClockContext:
    new_session: SessionFactory
    config: ClockConfig
    hours: WorkingHours
    now: datetime
    # Where a case's practitioner given by e-mail address is looked up; None without one
    # (those cases wait until one is configured).
    directory: Directory | None = None
    # Set when the directory asks to be left alone: the rest wait for the next run.
    directory_resting: bool = False
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)
    # The partnership report's small-number threshold, for the monthly send.
    report_small_number: int = 5
    _emails: dict[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Prompt:
    job: str
    key: str
    subject_id: int | None
    recipient: str
    # None records the decision without sending anything (e.g. an empty digest).
    message: Message | None


@dataclass
class TickReport:
    decided: dict[str, int] = field(default_factory=dict)
    failed_jobs: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.decided.values())


def record(context: ClockContext, session: Session, prompts: list[Prompt]) -> None:
    """Record the decisions and queue their messages, in the caller's transaction."""
    queries.record_prompts(
        session=session,
        prompts=[(p.job, p.key, p.subject_id, p.recipient) for p in prompts],
        now=context.now,
    )
    outbox.record_batch(
        session,
        messages=[(p.key, p.recipient, p.message) for p in prompts if p.message is not None],
        now=context.now,
        not_before=context.hours.next_slot(context.now),
    )
