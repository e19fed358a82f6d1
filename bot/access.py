"""Who may see a reflection: its practitioner, their supervisor, and (only if the agency turns it
on) the agency's safeguarding leads. Nobody else, whatever route the request takes."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from storage import organisation as org_queries
from storage.models import Reflection


def can_view_reflection(*, session: Session, viewer_id: str, reflection: Reflection) -> bool:
    if viewer_id == reflection.practitioner_id:
        return True
    practitioner = org_queries.get_person(session=session, slack_id=reflection.practitioner_id)
    supervisors = {reflection.supervisor_id}
    if practitioner is not None:
        supervisors.add(practitioner.supervisor_id)
    if viewer_id in supervisors - {None}:
        return True
    if practitioner is None:
        return False
    agency = org_queries.get_agency(session=session, agency_id=practitioner.agency_id)
    if agency is None or not agency.options.get("leads_see_summaries"):
        return False
    return viewer_id in org_queries.leads_of_agency(session=session, agency_id=agency.id)


@dataclass(frozen=True)
class ReportScope:
    """Whose figures a person may see in the partnership report: None is every agency."""

    agency_id: str | None


def partnership_report_scope(*, session: Session, viewer_id: str) -> ReportScope | None:
    """Administrators see every agency's figures; a safeguarding lead their own agency's (the
    first, by id, if they lead several); nobody else sees the report."""
    person = org_queries.get_person(session=session, slack_id=viewer_id)
    if person is not None and person.role == "administrator":
        return ReportScope(None)
    led = sorted(org_queries.agencies_led_by(session=session, slack_id=viewer_id))
    if led:
        return ReportScope(led[0])
    if person is not None and person.role == "lead":
        return ReportScope(person.agency_id)
    return None
