"""Who may see a reflection: its practitioner, their supervisor, and (only if the agency turns it
on) the agency's safeguarding leads. Nobody else, whatever route the request takes."""

from __future__ import annotations

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
