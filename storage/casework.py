"""Queries of casework: a supervisor's notes and decisions, a case's open reflections, and what
the App Home lists (actions due, summaries awaiting acknowledgement)."""

from __future__ import annotations

from sqlmodel import Session, col, select

from storage.models import Action, Case, Reflection, SupervisorDecision, SupervisorNote
from storage.statuses import OPEN_STATUSES, ActionStatus, ReflectionStatus

HOME_ROWS = 20


def reflection_locked(*, session: Session, reflection_id: int) -> Reflection | None:
    """A reflection, locked for this transaction (so a double click on PostgreSQL records once)."""
    return session.get(Reflection, reflection_id, with_for_update=True)


def case_of(*, session: Session, reflection: Reflection) -> Case | None:
    return session.get(Case, reflection.case_id)


def open_reflections_of_case(*, session: Session, case_id: int) -> list[Reflection]:
    return list(
        session.exec(
            select(Reflection).where(
                Reflection.case_id == case_id,
                col(Reflection.status).in_(OPEN_STATUSES),
            )
        )
    )


def add_note(*, session: Session, note: SupervisorNote | SupervisorDecision) -> int:
    """Store a note or a decision; returns its id."""
    session.add(note)
    session.flush()
    return note.id or 0


def notes_of(*, session: Session, reflection_id: int) -> list[SupervisorNote]:
    return list(
        session.exec(
            select(SupervisorNote)
            .where(SupervisorNote.reflection_id == reflection_id)
            .order_by(col(SupervisorNote.created_at))
        )
    )


def decisions_of(*, session: Session, reflection_id: int) -> list[SupervisorDecision]:
    return list(
        session.exec(
            select(SupervisorDecision)
            .where(SupervisorDecision.reflection_id == reflection_id)
            .order_by(col(SupervisorDecision.created_at))
        )
    )


def actions_due_of(*, session: Session, practitioner_id: str) -> list[tuple[Action, Case]]:
    """A practitioner's agreed actions with a date and not yet done, on open cases, soonest
    first."""
    return list(
        session.exec(
            select(Action, Case)
            .join(Reflection, col(Reflection.id) == Action.reflection_id)
            .join(Case, col(Case.id) == Reflection.case_id)
            .where(
                Reflection.practitioner_id == practitioner_id,
                Reflection.status == ReflectionStatus.COMPLETED,
                Action.status == ActionStatus.COMPLETE,
                col(Action.done_at).is_(None),
                col(Action.due_on).is_not(None),
                col(Case.closed_on).is_(None),
            )
            .order_by(col(Action.due_on))
            .limit(HOME_ROWS)
        )
    )


def awaiting_acknowledgement(
    *, session: Session, supervisor_id: str
) -> list[tuple[Reflection, Case]]:
    """Completed reflections sent to this supervisor and not yet acknowledged, newest first."""
    return list(
        session.exec(
            select(Reflection, Case)
            .join(Case, col(Case.id) == Reflection.case_id)
            .where(
                Reflection.supervisor_id == supervisor_id,
                Reflection.status == ReflectionStatus.COMPLETED,
                col(Reflection.acknowledged_at).is_(None),
            )
            .order_by(col(Reflection.completed_at).desc())
            .limit(HOME_ROWS)
        )
    )
