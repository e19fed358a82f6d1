"""Queries about reflections, their answers and their actions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from storage.models import Action, Answer, Case, Reflection

OPEN_STATUSES = ("in_progress", "paused")


# The statements asked on every answer are built once: building one costs more than running it.
_ACTIVE = (
    select(Reflection, Case)
    .join(Case, col(Case.id) == Reflection.case_id)
    .where(
        Reflection.practitioner_id == bindparam("practitioner_id"),
        Reflection.status == "in_progress",
    )
    .order_by(col(Reflection.updated_at).desc())
    .limit(1)
    .with_for_update(of=Reflection)  # type: ignore[arg-type]
)
_ANSWERS = select(Answer).where(Answer.reflection_id == bindparam("reflection_id"))
_ACTIONS = (
    select(Action)
    .where(Action.reflection_id == bindparam("reflection_id"))
    .order_by(col(Action.position))
)


def active_reflection(*, session: Session, practitioner_id: str) -> Reflection | None:
    """The reflection a practitioner is answering now, locked for this transaction."""
    found = active_reflection_and_case(session=session, practitioner_id=practitioner_id)
    return found[0] if found else None


def active_reflection_and_case(
    *, session: Session, practitioner_id: str
) -> tuple[Reflection, Case] | None:
    """The reflection a practitioner is answering now and its case, in one round trip."""
    row = session.execute(_ACTIVE, {"practitioner_id": practitioner_id}).first()
    return (row[0], row[1]) if row else None


_OPEN_FOR_CASE = (
    select(Reflection)
    .where(
        Reflection.case_id == bindparam("case_id"),
        Reflection.practitioner_id == bindparam("practitioner_id"),
        col(Reflection.status).in_(OPEN_STATUSES),
    )
    .with_for_update()
)


def open_reflection_for_case(
    *, session: Session, case_id: int, practitioner_id: str
) -> Reflection | None:
    params = {"case_id": case_id, "practitioner_id": practitioner_id}
    return session.execute(_OPEN_FOR_CASE, params).scalars().first()


def open_reflections_of(*, session: Session, practitioner_id: str) -> list[tuple[Reflection, Case]]:
    rows = session.exec(
        select(Reflection, Case)
        .join(Case, col(Case.id) == Reflection.case_id)
        .where(
            Reflection.practitioner_id == practitioner_id,
            col(Reflection.status).in_(OPEN_STATUSES),
        )
        .order_by(col(Reflection.updated_at).desc())
    )
    return list(rows)


def answers_of(*, session: Session, reflection_id: int) -> dict[str, Answer]:
    rows = session.execute(_ANSWERS, {"reflection_id": reflection_id}).scalars()
    return {a.question_id: a for a in rows}


def save_answer(
    *,
    session: Session,
    reflection_id: int,
    question_id: str,
    status: str,
    value: str | None,
    now: datetime,
    existing: Answer | None,
) -> Answer:
    answer = existing or Answer(reflection_id=reflection_id, question_id=question_id)
    answer.status = status
    answer.value = value
    answer.answered_at = now
    session.add(answer)
    return answer


def actions_of(*, session: Session, reflection_id: int) -> list[Action]:
    return list(session.execute(_ACTIONS, {"reflection_id": reflection_id}).scalars())


def completed_reflections_for_case(*, session: Session, case_id: int) -> list[Reflection]:
    return list(
        session.exec(
            select(Reflection)
            .where(Reflection.case_id == case_id, Reflection.status == "completed")
            .order_by(col(Reflection.completed_at).desc(), col(Reflection.id).desc())
        )
    )


def get_reflection(*, session: Session, reflection_id: int) -> Reflection | None:
    return session.get(Reflection, reflection_id)
