"""Queries about cases."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from storage.models import Case, Reflection
from storage.statuses import ReflectionStatus

_CASE_BY_REF = select(Case).where(Case.ref == bindparam("ref"))


def get_case(*, session: Session, ref: str) -> Case | None:
    return session.execute(_CASE_BY_REF, {"ref": ref}).scalars().first()


def create_case(
    *, session: Session, ref: str, practitioner_id: str, opened_on: date, now: datetime
) -> Case:
    case = Case(ref=ref, practitioner_id=practitioner_id, opened_on=opened_on, created_at=now)
    session.add(case)
    session.flush()
    return case


def upsert_case(
    *,
    session: Session,
    ref: str,
    practitioner_id: str,
    opened_on: date,
    closed_on: date | None,
    now: datetime,
) -> bool:
    """Insert or update a case from an import; returns True when the case is new."""
    case = get_case(session=session, ref=ref)
    if case is None:
        session.add(
            Case(
                ref=ref,
                practitioner_id=practitioner_id,
                opened_on=opened_on,
                closed_on=closed_on,
                created_at=now,
            )
        )
        return True
    case.practitioner_id = practitioner_id
    case.opened_on = opened_on
    case.closed_on = closed_on
    session.add(case)
    return False


def open_cases_of(*, session: Session, practitioner_id: str) -> list[Case]:
    return list(
        session.exec(
            select(Case)
            .where(Case.practitioner_id == practitioner_id, col(Case.closed_on).is_(None))
            .order_by(col(Case.opened_on), col(Case.ref))
        )
    )


def last_completed_at(*, session: Session, case_id: int) -> datetime | None:
    return session.exec(
        select(Reflection.completed_at)
        .where(Reflection.case_id == case_id, Reflection.status == ReflectionStatus.COMPLETED)
        .order_by(col(Reflection.completed_at).desc())
    ).first()
