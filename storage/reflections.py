"""Queries about reflections, their answers and their actions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Text, bindparam, inspect, type_coerce, update
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from storage.db import PerDialect, execute
from storage.encryption import keyring
from storage.models import Action, Answer, Case, Reflection
from storage.statuses import OPEN_STATUSES, ReflectionStatus

# The statements asked on every answer are built once: building one costs more than running it.
_ACTIVE = (
    select(Reflection, Case)
    .join(Case, col(Case.id) == Reflection.case_id)
    .where(
        Reflection.practitioner_id == bindparam("practitioner_id"),
        Reflection.status == ReflectionStatus.IN_PROGRESS,
    )
    .order_by(col(Reflection.updated_at).desc())
    .limit(1)
    .with_for_update(of=Reflection)
)
# The text as stored (a Fernet token), decrypted only when read: see StoredAnswer.
_ANSWERS = sa.select(
    col(Answer.id),
    col(Answer.question_id),
    col(Answer.status),
    type_coerce(Answer.value, Text),
    col(Answer.answered_at),
    col(Answer.mentions),
).where(col(Answer.reflection_id) == bindparam("reflection_id"))
_ACTIONS = (
    select(Action)
    .where(Action.reflection_id == bindparam("reflection_id"))
    .order_by(col(Action.position))
)


# An answer's step reads its reflection, case and answers, and whether the practitioner has
# completed one before, in one round trip: the reflection (locked) picked by the subquery, its
# answers joined one a row.
_ACTIVE_ID = (
    sa.select(col(Reflection.id))
    .where(
        col(Reflection.practitioner_id) == bindparam("practitioner_id"),
        col(Reflection.status) == "in_progress",
    )
    .order_by(col(Reflection.updated_at).desc())
    .limit(1)
    .scalar_subquery()
)
_COMPLETED_BEFORE = (
    sa.select(col(Reflection.id))
    .where(
        col(Reflection.practitioner_id) == bindparam("practitioner_id"),
        col(Reflection.status) == "completed",
    )
    .exists()
)
_STEP = (
    sa.select(Reflection, Case, *_ANSWERS.selected_columns, _COMPLETED_BEFORE)
    .join(Case, col(Case.id) == Reflection.case_id)
    .outerjoin(Answer, col(Answer.reflection_id) == Reflection.id)
    .where(col(Reflection.id) == _ACTIVE_ID, col(Reflection.status) == "in_progress")
    .with_for_update(of=Reflection)
)


@dataclass(frozen=True)
class ActiveStep:
    """What an answer's step reads before it answers: the reflection being answered (locked
    for the transaction), its case and answers, and whether its practitioner has completed a
    reflection before."""

    reflection: Reflection
    case: Case
    answers: dict[str, StoredAnswer]
    completed_before: bool


def active_step(*, session: Session, practitioner_id: str) -> ActiveStep | None:
    """The reflection a practitioner is answering now, with its case and answers, in one
    statement; None when none is in progress."""
    rows = session.execute(_STEP, {"practitioner_id": practitioner_id}).all()
    if not rows:
        return None
    answers = {row[3]: StoredAnswer(*row[2:8]) for row in rows if row[2] is not None}
    return ActiveStep(rows[0][0], rows[0][1], answers, bool(rows[0][8]))


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


@dataclass(slots=True)
class StoredAnswer:
    """An answer as stored, read afresh at every step: plain values rather than an ORM row,
    which would cost several times as much to load for each of a reflection's answers.

    Its text stays sealed (encrypted) until something reads ``value``, then is kept open for the
    rest of the step, so an answer is decrypted once however often the step reads it.
    """

    id: int
    question_id: str
    status: str  # answered | skipped
    sealed: str | None  # the text as stored, a Fernet token
    answered_at: datetime
    # The mentions found in the text when it was written, joined by commas (Answer.mentions).
    mentions: str | None = None
    _opened: str | None = field(default=None, repr=False, compare=False)

    @classmethod
    def written(
        cls,
        answer_id: int,
        question_id: str,
        status: str,
        value: str | None,
        now: datetime,
        mentions: str | None = None,
    ) -> StoredAnswer:
        """An answer just written, whose text is already at hand."""
        return cls(answer_id, question_id, status, None, now, mentions, value)

    @property
    def mention_ids(self) -> frozenset[str] | None:
        """The mentions found in the text when it was written; None if not recorded."""
        if self.mentions is None:
            return None
        return frozenset(m for m in self.mentions.split(",") if m)

    @property
    def value(self) -> str | None:
        if self._opened is None and self.sealed is not None:
            self._opened = keyring.decrypt(self.sealed)
        return self._opened


def answers_of(*, session: Session, reflection_id: int) -> dict[str, StoredAnswer]:
    rows = execute(session, _ANSWERS, {"reflection_id": reflection_id})
    return {row[1]: StoredAnswer(*row) for row in rows}


def _upsert_answer() -> PerDialect:
    def build(insert: Any) -> Any:
        statement = insert(Answer)
        return statement.on_conflict_do_update(
            index_elements=["reflection_id", "question_id"],
            set_={
                "status": statement.excluded.status,
                "value": statement.excluded.value,
                "answered_at": statement.excluded.answered_at,
                "mentions": statement.excluded.mentions,
            },
        ).returning(Answer.id)

    return PerDialect(build(postgres_insert), build(sqlite_insert))


# An answer is written on every step: one statement built once, not the ORM's flush.
_SAVE_ANSWER = _upsert_answer()


def save_answer(
    *,
    session: Session,
    reflection_id: int,
    question_id: str,
    status: str,
    value: str | None,
    now: datetime,
    mentions: Sequence[str] = (),
) -> StoredAnswer:
    """Write an answer, new or replacing the one given before, and return it as now stored.
    ``mentions``: the ids of the mentions found in ``value``, kept in plain beside it."""
    joined = ",".join(mentions)
    params = {
        "reflection_id": reflection_id,
        "question_id": question_id,
        "status": status,
        "value": value,
        "answered_at": now,
        "mentions": joined,
    }
    answer_id = execute(session, _SAVE_ANSWER, params).scalar_one()
    return StoredAnswer.written(answer_id, question_id, status, value, now, joined)


# What a step of a reflection changes; anything more (completion) goes through the ORM.
_PROGRESS = ("status", "current_question", "current_step", "updated_at")
_SAVE_PROGRESS = (
    update(Reflection)
    .where(col(Reflection.id) == bindparam("reflection_id"))
    .values({name: bindparam(name) for name in _PROGRESS})
)


def save_progress(*, session: Session, reflection: Reflection) -> None:
    """Write where a reflection has got to with one prebuilt UPDATE when only its progress
    changed (almost every step), and leave anything else to the ORM's flush at commit."""
    state = inspect(reflection)
    changed = set(state.committed_state)
    if not state.persistent or not changed or not changed <= set(_PROGRESS):
        session.add(reflection)
        return
    params = {name: getattr(reflection, name) for name in _PROGRESS}
    execute(session, _SAVE_PROGRESS, {"reflection_id": reflection.id, **params})
    # The session now holds what is stored: nothing of it is left for the flush at commit. This
    # is how SQLAlchemy itself marks a row as just loaded (make_transient_to_detached uses it);
    # tests/core/test_service.py counts the writes of a step, so a change there would show.
    state._commit_all(state.dict, session.identity_map)


def actions_of(*, session: Session, reflection_id: int) -> list[Action]:
    return list(session.execute(_ACTIONS, {"reflection_id": reflection_id}).scalars())


def completed_reflections_for_case(*, session: Session, case_id: int) -> list[Reflection]:
    return list(
        session.exec(
            select(Reflection)
            .where(Reflection.case_id == case_id, Reflection.status == ReflectionStatus.COMPLETED)
            .order_by(col(Reflection.completed_at).desc(), col(Reflection.id).desc())
        )
    )


def get_reflection(*, session: Session, reflection_id: int) -> Reflection | None:
    return session.get(Reflection, reflection_id)


@dataclass(frozen=True)
class Earlier:
    """What a repeat reflection needs of the case's completed ones, from plain columns only."""

    last_id: int | None
    last_completed_at: datetime | None
    count: int
    scales: tuple[int, ...]  # oldest first, where a scale was given


def earlier_of_case(*, session: Session, case_id: int) -> Earlier:
    rows = session.execute(
        select(col(Reflection.id), col(Reflection.scale), col(Reflection.completed_at))
        .where(Reflection.case_id == case_id, Reflection.status == ReflectionStatus.COMPLETED)
        .order_by(col(Reflection.completed_at), col(Reflection.id))
    ).all()
    if not rows:
        return Earlier(None, None, 0, ())
    last = rows[-1]
    scales = tuple(int(r[1]) for r in rows if r[1] is not None)
    return Earlier(last[0], last[2], len(rows), scales)


def has_completed_reflection(*, session: Session, case_id: int) -> bool:
    return _any_completed(session, col(Reflection.case_id) == case_id)


def has_completed_any(*, session: Session, practitioner_id: str) -> bool:
    """Whether the practitioner has completed any reflection before."""
    return _any_completed(session, col(Reflection.practitioner_id) == practitioner_id)


def _any_completed(session: Session, whose: sa.ColumnElement[bool]) -> bool:
    found = session.execute(
        select(col(Reflection.id))
        .where(whose, Reflection.status == ReflectionStatus.COMPLETED)
        .limit(1)
    ).first()
    return found is not None
