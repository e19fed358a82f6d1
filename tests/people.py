"""One agency's people, as the tests' organisations set them up, on whichever platform their
IDs belong to."""

from __future__ import annotations

from collections.abc import Iterable

from storage import db
from storage.db import transaction
from storage.models import Agency, Person, SafeguardingLead


def add_agency(
    new_session: db.SessionFactory,
    *,
    lead: str,
    supervisor: str,
    practitioners: Iterable[str],
    unsupervised: Iterable[str] = (),
) -> None:
    """Children's Social Care, with its safeguarding lead, a supervisor of ``practitioners``,
    and practitioners with no supervisor (``unsupervised``)."""
    with transaction(new_session) as session:
        session.add(Agency(id="csc", name="Children's Social Care", options={}))
        session.flush()
        session.add(SafeguardingLead(agency_id="csc", person_id=lead))
        session.add(Person(person_id=supervisor, agency_id="csc", role="supervisor"))
        for person in practitioners:
            session.add(
                Person(
                    person_id=person, agency_id="csc", role="practitioner", supervisor_id=supervisor
                )
            )
        for person in unsupervised:
            session.add(Person(person_id=person, agency_id="csc", role="practitioner"))
