"""Set-based deletes for retention and erasure, a bounded batch at a time.

Each function deletes at most ``limit`` rows (or the rows belonging to the given reflections)
and returns how many it removed, so callers commit between batches and a long purge never
holds one huge transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, delete, func, or_, update
from sqlmodel import Session, col, select

from storage.models import (
    Action,
    Answer,
    AuditEntry,
    Case,
    ClockPrompt,
    HandledKey,
    InboxItem,
    OutboxMessage,
    Reflection,
    SupervisorDecision,
    SupervisorNote,
)
from storage.statuses import OPEN_STATUSES, OutboxStatus, ReflectionStatus

FINISHED_OUTBOX = (OutboxStatus.SENT, OutboxStatus.FAILED)
UNFINISHED = (*OPEN_STATUSES, ReflectionStatus.CANCELLED)
# The clock's prompts (storage/clock.py) by what they are about. Those about a reflection, or
# one of its actions, are only asked about while it exists, so they go with it; the others are
# only looked back at for a bounded time (a case's quiet period, the week of a digest, the
# first working day of a month for the partnership report).
REFLECTION_PROMPTS = ("unfinished", "lead_followup")
ACTION_PROMPTS = ("action_due",)
DATED_PROMPTS = ("long_open", "digest", "monthly_report")


def _rowcount(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def expired_reflection_ids(
    *,
    session: Session,
    completed_before: datetime,
    unfinished_before: datetime,
    limit: int,
) -> list[int]:
    """Completed reflections older than their retention, and unfinished ones left untouched."""
    rows = session.exec(
        select(Reflection.id)
        .where(
            or_(
                and_(
                    col(Reflection.status) == ReflectionStatus.COMPLETED,
                    col(Reflection.completed_at) < completed_before,
                ),
                and_(
                    col(Reflection.status).in_(UNFINISHED),
                    col(Reflection.updated_at) < unfinished_before,
                ),
            )
        )
        .order_by(col(Reflection.id))
        .limit(limit)
    )
    return [r for r in rows if r is not None]


def reflection_ids_for_case(*, session: Session, case_id: int) -> list[int]:
    rows = session.exec(select(Reflection.id).where(Reflection.case_id == case_id))
    return [r for r in rows if r is not None]


def reflection_ids_of_practitioner(*, session: Session, practitioner_id: str) -> list[int]:
    rows = session.exec(select(Reflection.id).where(Reflection.practitioner_id == practitioner_id))
    return [r for r in rows if r is not None]


def delete_reflections(*, session: Session, ids: Sequence[int]) -> dict[str, int]:
    """Delete reflections with everything hanging off them: notes, decisions, actions, answers,
    and the clock's prompts about them and their actions."""
    if not ids:
        return {
            "reflections": 0,
            "answers": 0,
            "actions": 0,
            "notes": 0,
            "decisions": 0,
            "clock_prompts": 0,
        }
    their_actions = select(Action.id).where(col(Action.reflection_id).in_(ids))
    about_them = or_(
        and_(col(ClockPrompt.job).in_(REFLECTION_PROMPTS), col(ClockPrompt.subject_id).in_(ids)),
        and_(
            col(ClockPrompt.job).in_(ACTION_PROMPTS),
            col(ClockPrompt.subject_id).in_(their_actions),
        ),
    )
    counts = {
        "clock_prompts": _rowcount(session.execute(delete(ClockPrompt).where(about_them))),
        "notes": _rowcount(
            session.execute(
                delete(SupervisorNote).where(col(SupervisorNote.reflection_id).in_(ids))
            )
        ),
        "decisions": _rowcount(
            session.execute(
                delete(SupervisorDecision).where(col(SupervisorDecision.reflection_id).in_(ids))
            )
        ),
        "actions": _rowcount(
            session.execute(delete(Action).where(col(Action.reflection_id).in_(ids)))
        ),
        "answers": _rowcount(
            session.execute(delete(Answer).where(col(Answer.reflection_id).in_(ids)))
        ),
    }
    counts["reflections"] = _rowcount(
        session.execute(delete(Reflection).where(col(Reflection.id).in_(ids)))
    )
    return counts


# The searches of the purges that run on every clock tick, each answered from an index
# (migration 0004) rather than by reading the table. PostgreSQL chooses those indexes from the
# statistics its autovacuum keeps; SQLite keeps none unless ANALYZE runs, and may read all of a
# trial's sent messages instead, a few milliseconds at a team's scale.


def finished_outbox_batch(before: datetime, limit: int) -> Select[Any]:
    """Sent and failed messages that finished before ``before``; pending ones never match."""
    finished_at = func.coalesce(OutboxMessage.sent_at, OutboxMessage.created_at)
    return (
        select(OutboxMessage.id)
        .where(finished_at < before, col(OutboxMessage.status).in_(FINISHED_OUTBOX))
        .limit(limit)
    )


def old_handled_keys_batch(before: datetime, limit: int) -> Select[Any]:
    return select(HandledKey.event_id).where(col(HandledKey.received_at) < before).limit(limit)


def old_clock_prompts_batch(before: datetime, limit: int) -> Select[Any]:
    """Prompts about cases and digests decided before ``before``, past any look-back."""
    return (
        select(ClockPrompt.id)
        .where(col(ClockPrompt.decided_at) < before, col(ClockPrompt.job).in_(DATED_PROMPTS))
        .limit(limit)
    )


def delete_finished_outbox(*, session: Session, before: datetime, limit: int) -> int:
    batch = finished_outbox_batch(before, limit)
    return _rowcount(session.execute(delete(OutboxMessage).where(col(OutboxMessage.id).in_(batch))))


def delete_old_handled_keys(*, session: Session, before: datetime, limit: int) -> int:
    batch = old_handled_keys_batch(before, limit)
    return _rowcount(session.execute(delete(HandledKey).where(col(HandledKey.event_id).in_(batch))))


def delete_old_clock_prompts(*, session: Session, before: datetime, limit: int) -> int:
    batch = old_clock_prompts_batch(before, limit)
    return _rowcount(session.execute(delete(ClockPrompt).where(col(ClockPrompt.id).in_(batch))))


def delete_old_audit(*, session: Session, before: datetime, limit: int) -> int:
    batch = select(AuditEntry.id).where(col(AuditEntry.at) < before).limit(limit)
    return _rowcount(session.execute(delete(AuditEntry).where(col(AuditEntry.id).in_(batch))))


def outbox_rows_after(*, session: Session, after_id: int, limit: int) -> list[OutboxMessage]:
    """A page of outbox rows (payloads decrypted), for erasure's search for a case or person."""
    return list(
        session.exec(
            select(OutboxMessage)
            .where(col(OutboxMessage.id) > after_id)
            .order_by(col(OutboxMessage.id))
            .limit(limit)
        )
    )


def delete_outbox_rows(*, session: Session, ids: Sequence[int]) -> int:
    if not ids:
        return 0
    return _rowcount(session.execute(delete(OutboxMessage).where(col(OutboxMessage.id).in_(ids))))


def clock_prompts_mentioning(*, session: Session, text: str) -> list[ClockPrompt]:
    return list(session.exec(select(ClockPrompt).where(col(ClockPrompt.key).contains(text))))


def delete_clock_prompts(*, session: Session, ids: Sequence[int]) -> int:
    if not ids:
        return 0
    return _rowcount(session.execute(delete(ClockPrompt).where(col(ClockPrompt.id).in_(ids))))


def delete_clock_prompts_to(*, session: Session, recipient_id: str) -> int:
    return _rowcount(
        session.execute(delete(ClockPrompt).where(col(ClockPrompt.recipient_id) == recipient_id))
    )


def inbox_items(*, session: Session) -> list[InboxItem]:
    """Everything waiting in the inbox: a handful at any moment, so read whole (it is encrypted)."""
    return list(session.exec(select(InboxItem)))


def delete_inbox_items(*, session: Session, ids: Sequence[int]) -> int:
    return _rowcount(session.execute(delete(InboxItem).where(col(InboxItem.id).in_(ids))))


def delete_inbox_items_of(*, session: Session, user_id: str) -> int:
    """What a person sent that is still waiting to be handled (or was kept after failing)."""
    return _rowcount(session.execute(delete(InboxItem).where(col(InboxItem.user_id) == user_id)))


def delete_old_inbox_items(*, session: Session, before: datetime, limit: int) -> int:
    """Items kept after failing to be handled, once past retention."""
    batch = session.exec(
        select(InboxItem.id).where(col(InboxItem.received_at) < before).limit(limit)
    ).all()
    return _rowcount(session.execute(delete(InboxItem).where(col(InboxItem.id).in_(batch))))


def delete_notes_by(*, session: Session, author_id: str) -> int:
    return _rowcount(
        session.execute(delete(SupervisorNote).where(col(SupervisorNote.author_id) == author_id))
    )


def delete_decisions_by(*, session: Session, author_id: str) -> int:
    return _rowcount(
        session.execute(
            delete(SupervisorDecision).where(col(SupervisorDecision.author_id) == author_id)
        )
    )


def forget_supervisor(*, session: Session, supervisor_id: str) -> int:
    """Reflections the person supervised stay (they are the practitioner's), without their ID."""
    return _rowcount(
        session.execute(
            update(Reflection)
            .where(col(Reflection.supervisor_id) == supervisor_id)
            .values(supervisor_id=None)
        )
    )


def forget_action_owner(*, session: Session, owner_person_id: str) -> int:
    return _rowcount(
        session.execute(
            update(Action)
            .where(col(Action.owner_person_id) == owner_person_id)
            .values(owner_person_id=None)
        )
    )


def delete_case(*, session: Session, case_id: int) -> int:
    return _rowcount(session.execute(delete(Case).where(col(Case.id) == case_id)))


def delete_cases_of_without_reflections(*, session: Session, practitioner_id: str) -> int:
    """A person's cases that no longer have any reflection (someone else's stay)."""
    has_reflection = select(Reflection.id).where(Reflection.case_id == Case.id).exists()
    return _rowcount(
        session.execute(
            delete(Case).where(col(Case.practitioner_id) == practitioner_id, ~has_reflection)
        )
    )
