"""Retention: delete what Reflect no longer needs to keep. The clock calls purge_expired daily.

Reflect is a reflection aid, not the record of truth: a summary is meant to be copied into the
case record, where the agency's own retention schedule applies. So Reflect keeps reflective
material only as long as it helps the next visit and the next supervision, and keeps the audit
trail (which holds no answer text) for as long as a complaint or review may need it. The
reasoning for each default is in SECURITY.md.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from sqlmodel import Session

from bot.config.clock import LIMITS
from bot.config.retention import RetentionPolicy
from storage import audit
from storage import retention as queries
from storage.db import SessionFactory, transaction

BATCH_SIZE = 500
# The longest the clock looks back at its own prompts: the most a long-open case's quiet period
# can be set to. Older prompts about cases, and old digests, no longer decide anything.
CLOCK_LOOK_BACK_DAYS = LIMITS["long_open_repeat_days"][1] + 1
RETENTION_ACTOR = "reflect:retention"


@dataclass
class PurgeReport:
    reflections: int = 0
    answers: int = 0
    actions: int = 0
    notes: int = 0
    decisions: int = 0
    clock_prompts: int = 0
    outbox: int = 0
    inbox: int = 0
    handled_keys: int = 0
    audit: int = 0
    batches: int = field(default=0, compare=False)

    @property
    def total(self) -> int:
        return sum(v for k, v in asdict(self).items() if k != "batches")

    def counts(self) -> dict[str, int]:
        return {k: v for k, v in asdict(self).items() if k != "batches"}


def purge_expired(
    new_session: SessionFactory,
    *,
    now: datetime,
    policy: RetentionPolicy = RetentionPolicy(),
    batch_size: int = BATCH_SIZE,
) -> PurgeReport:
    """Delete everything past its retention period, a batch per transaction, and audit the counts
    (when anything was deleted).

    Safe to run again at any time (and from any process): each batch only deletes rows that are
    still expired, so an interrupted purge simply continues next time.
    """
    report = PurgeReport()

    while True:
        with transaction(new_session) as session:
            ids = queries.expired_reflection_ids(
                session=session,
                completed_before=now - timedelta(days=policy.completed_days),
                unfinished_before=now - timedelta(days=policy.unfinished_days),
                limit=batch_size,
            )
            counts = queries.delete_reflections(session=session, ids=ids)
        for name, count in counts.items():
            setattr(report, name, getattr(report, name) + count)
        report.batches += 1
        if len(ids) < batch_size:
            break

    # Inbox items are only ever this old when kept after failing to be handled: the outbox's period.
    purges: list[tuple[str, DeleteOld, int]] = [
        ("outbox", queries.delete_finished_outbox, policy.outbox_days),
        ("inbox", queries.delete_old_inbox_items, policy.outbox_days),
        ("handled_keys", queries.delete_old_handled_keys, policy.handled_key_days),
        ("audit", queries.delete_old_audit, policy.audit_days),
    ]
    for name, delete_old, days in purges:
        deleted = _in_batches(
            new_session, delete_old, now - timedelta(days=days), batch_size, report
        )
        setattr(report, name, deleted)
    report.clock_prompts += _in_batches(
        new_session,
        queries.delete_old_clock_prompts,
        now - timedelta(days=CLOCK_LOOK_BACK_DAYS),
        batch_size,
        report,
    )
    if not report.total:
        return report  # the clock runs this every few minutes; only deletions are audited
    with transaction(new_session) as session:
        audit.record(
            session=session,
            actor=RETENTION_ACTOR,
            action="purge",
            subject="retention",
            now=now,
            detail={**report.counts(), "policy_days": asdict(policy)},
        )
    return report


class DeleteOld(Protocol):
    """Deletes up to ``limit`` rows older than ``before``; returns how many it deleted."""

    def __call__(self, *, session: Session, before: datetime, limit: int) -> int: ...


def _in_batches(
    new_session: SessionFactory,
    delete_old: DeleteOld,
    before: datetime,
    batch_size: int,
    report: PurgeReport,
) -> int:
    total = 0
    while True:
        with transaction(new_session) as session:
            deleted = delete_old(session=session, before=before, limit=batch_size)
        total += deleted
        report.batches += 1
        if deleted < batch_size:
            return total
