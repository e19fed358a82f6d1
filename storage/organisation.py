"""Queries about agencies, safeguarding leads and people."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam
from sqlmodel import Session, col, delete, select

from storage.models import Agency, Person, SafeguardingLead


def get_person(*, session: Session, person_id: str) -> Person | None:
    return session.get(Person, person_id)


def find_person_by_email(*, session: Session, email: str) -> Person | None:
    return session.exec(select(Person).where(Person.email == email.lower())).first()


def get_agency(*, session: Session, agency_id: str) -> Agency | None:
    return session.get(Agency, agency_id)


_AGENCY_OPTIONS = (
    select(Agency.options)
    .join(Person, col(Person.agency_id) == Agency.id)
    .where(Person.person_id == bindparam("person_id"))
)


def agency_options_of(*, session: Session, person_id: str) -> dict[str, Any]:
    """The options of a person's agency (empty for someone not in the organisation)."""
    options = session.execute(_AGENCY_OPTIONS, {"person_id": person_id}).scalar()
    return dict(options or {})


def leads_of_agency(*, session: Session, agency_id: str) -> list[str]:
    rows = session.exec(
        select(SafeguardingLead.person_id)
        .where(SafeguardingLead.agency_id == agency_id)
        .order_by(col(SafeguardingLead.person_id))
    )
    return list(rows)


def supervisees(*, session: Session, supervisor_id: str) -> list[str]:
    return list(session.exec(select(Person.person_id).where(Person.supervisor_id == supervisor_id)))


def agencies_led_by(*, session: Session, person_id: str) -> list[str]:
    return list(
        session.exec(
            select(SafeguardingLead.agency_id).where(SafeguardingLead.person_id == person_id)
        )
    )


def replace_organisation(
    *,
    session: Session,
    agencies: list[Agency],
    leads: list[SafeguardingLead],
    people: list[Person],
) -> None:
    """Swap the whole organisation in the caller's transaction."""
    session.exec(delete(SafeguardingLead))
    session.exec(delete(Person))
    session.exec(delete(Agency))
    session.flush()
    session.add_all(agencies)
    session.flush()
    session.add_all([*leads, *people])
    session.flush()
