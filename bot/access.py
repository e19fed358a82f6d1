"""Who may do what with reflective material, whatever route the request takes.

A summary is seen by its practitioner, their supervisor and (only if the agency turns it on) the
agency's safeguarding leads. Only the supervisor acknowledges, promises a call, writes a note or
records a decision; only the practitioner confirms they spoke to the lead. A case is closed by its
practitioner or their supervisor. Exports, erasures and the full history of a case are for the
administrator at the terminal. Nothing else in Reflect decides access.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from storage import organisation as org_queries
from storage import reflections as reflection_queries
from storage.models import Case, Person, Reflection
from storage.statuses import ReflectionStatus

# Who runs `reflect` on the server is the administrator: the CLI names them "cli:<login>".
ADMINISTRATOR_PREFIX = "cli:"


def administrator(login: str) -> str:
    """The audit trail's name for the administrator logged in as ``login``."""
    return f"{ADMINISTRATOR_PREFIX}{login}"[:64]


def is_listed(*, session: Session, person_id: str) -> bool:
    """Named in the organisation file: one of its people, or an agency's safeguarding lead."""
    if org_queries.get_person(session=session, person_id=person_id) is not None:
        return True
    return bool(org_queries.agencies_led_by(session=session, person_id=person_id))


def is_administrator(actor: str) -> bool:
    """Exports, erasures and a case's whole history: the administrator only."""
    return actor.startswith(ADMINISTRATOR_PREFIX)


def leads_see_summaries(agency_options: Mapping[str, Any]) -> bool:
    """Whether an agency shares its practitioners' summaries with its safeguarding leads (they
    are then sent a copy, and may see it and its answers)."""
    return bool(agency_options.get("leads_see_summaries"))


def _supervisors(reflection: Reflection, practitioner: Person | None) -> set[str]:
    """The supervisor the reflection was sent to, and the practitioner's supervisor now."""
    found = {reflection.supervisor_id, practitioner.supervisor_id if practitioner else None}
    return {s for s in found if s}


def can_view_reflection(*, session: Session, viewer_id: str, reflection: Reflection) -> bool:
    if viewer_id == reflection.practitioner_id:
        return True
    practitioner = org_queries.get_person(session=session, person_id=reflection.practitioner_id)
    if viewer_id in _supervisors(reflection, practitioner):
        return True
    if practitioner is None:
        return False
    agency = org_queries.get_agency(session=session, agency_id=practitioner.agency_id)
    if agency is None or not leads_see_summaries(agency.options):
        return False
    return viewer_id in org_queries.leads_of_agency(session=session, agency_id=agency.id)


def can_see_answers(*, session: Session, viewer_id: str, reflection: Reflection) -> bool:
    """The answers behind a summary go to whoever may see the summary."""
    return reflection.summary is not None and can_view_reflection(
        session=session, viewer_id=viewer_id, reflection=reflection
    )


def can_supervise(*, session: Session, actor: str, reflection: Reflection) -> bool:
    """Acknowledge, promise a call, add a note, record a decision: the reflection's supervisor,
    once it is completed."""
    if reflection.status != ReflectionStatus.COMPLETED:
        return False
    practitioner = org_queries.get_person(session=session, person_id=reflection.practitioner_id)
    return actor in _supervisors(reflection, practitioner)


def can_confirm_lead_contact(*, actor: str, reflection: Reflection) -> bool:
    return actor == reflection.practitioner_id


def works_on_case(*, session: Session, actor: str, case: Case) -> bool:
    """The case's practitioner or their supervisor."""
    if actor == case.practitioner_id:
        return True
    practitioner = org_queries.get_person(session=session, person_id=case.practitioner_id)
    return practitioner is not None and practitioner.supervisor_id == actor


def can_close_case(*, session: Session, actor: str, case: Case) -> bool:
    return works_on_case(session=session, actor=actor, case=case)


def visible_reflections(*, session: Session, viewer_id: str, case: Case) -> list[Reflection]:
    """A case's completed reflections this viewer may see, newest first."""
    return [
        reflection
        for reflection in reflection_queries.completed_reflections_for_case(
            session=session, case_id=case.id or 0
        )
        if can_view_reflection(session=session, viewer_id=viewer_id, reflection=reflection)
    ]


def can_see_case_history(
    *, session: Session, viewer_id: str, case: Case, visible: list[Reflection]
) -> bool:
    """Those who work on the case (even before any summary), and whoever may see one of its
    summaries (``visible``, from visible_reflections)."""
    return bool(visible) or works_on_case(session=session, actor=viewer_id, case=case)


@dataclass(frozen=True)
class ReportScope:
    """Whose figures a person may see in the partnership report: None is every agency."""

    agency_id: str | None


def partnership_report_scope(*, session: Session, viewer_id: str) -> ReportScope | None:
    """Administrators see every agency's figures; a safeguarding lead their own agency's (the
    first, by id, if they lead several); nobody else sees the report."""
    person = org_queries.get_person(session=session, person_id=viewer_id)
    if person is not None and person.role == "administrator":
        return ReportScope(None)
    led = sorted(org_queries.agencies_led_by(session=session, person_id=viewer_id))
    if led:
        return ReportScope(led[0])
    if person is not None and person.role == "lead":
        return ReportScope(person.agency_id)
    return None
