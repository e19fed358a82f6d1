"""Invented reflections for the report's tests: distinctive case references and answer text, so a
scan can show that neither reaches any format."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storage.db import SessionFactory, transaction
from storage.models import Agency, Answer, Case, Person, Reflection, SafeguardingLead

ADMIN = "U0RPTADMIN"
CSC_LEAD = "U0RPTLEADC"
POLICE_LEAD = "U0RPTLEADP"
PRACTITIONER = "U0RPTPRAC1"
SUPERVISORS = {"csc": "U0RPTSUPVC", "police": "U0RPTSUPVP"}
PRACTITIONERS = {"csc": "U0RPTPRACC", "police": "U0RPTPRACP"}
SECRET_REF = "QZX-90417"
SECRET_ANSWER = "Marigold-Periwinkle said the stairgate was broken"


def organisation(new_session: SessionFactory, *, police_options: dict | None = None) -> None:
    with transaction(new_session) as session:
        session.add(Agency(id="csc", name="Children's Social Care", options={}))
        session.add(Agency(id="police", name="Police", options=police_options or {}))
        session.flush()
        session.add(SafeguardingLead(agency_id="csc", person_id=CSC_LEAD))
        session.add(SafeguardingLead(agency_id="police", person_id=POLICE_LEAD))
        session.add(Person(person_id=ADMIN, agency_id="csc", role="administrator"))
        for agency in ("csc", "police"):
            session.add(Person(person_id=SUPERVISORS[agency], agency_id=agency, role="supervisor"))
            session.add(
                Person(
                    person_id=PRACTITIONERS[agency],
                    agency_id=agency,
                    role="practitioner",
                    supervisor_id=SUPERVISORS[agency],
                )
            )
        session.add(Person(person_id=PRACTITIONER, agency_id="csc", role="practitioner"))


def reflections(
    new_session: SessionFactory,
    *,
    agency: str,
    count: int,
    start: datetime,
    status: str = "completed",
    rules: str | None = "child_not_seen_alone",
    themes: str | None = "risks,history",
    scale: int | None = 4,
    ref_prefix: str | None = None,
) -> None:
    with transaction(new_session) as session:
        for i in range(count):
            case = Case(
                ref=f"{ref_prefix or agency.upper()}-{start:%m%d}{i:04d}",
                practitioner_id=PRACTITIONERS[agency],
                opened_on=start.date(),
                created_at=start,
            )
            session.add(case)
            session.flush()
            at = start + timedelta(hours=i)
            row = Reflection(
                case_id=case.id or 0,
                practitioner_id=PRACTITIONERS[agency],
                status=status,
                question_set_version="test",
                started_at=at,
                updated_at=at,
                completed_at=at if status == "completed" else None,
                rules_fired=rules if status == "completed" else None,
                themes_skipped=themes if status == "completed" else None,
                scale=scale if status == "completed" else None,
                minutes=20 + i % 5,
                current_question=None if status == "completed" else "scale",
            )
            session.add(row)
            session.flush()
            session.add(
                Answer(
                    reflection_id=row.id or 0,
                    question_id="purpose",
                    status="answered",
                    value=SECRET_ANSWER,
                    answered_at=at,
                )
            )


def secret_case(new_session: SessionFactory, at: datetime) -> None:
    """One reflection on a case with a distinctive reference and answer."""
    with transaction(new_session) as session:
        session.add(
            Case(
                ref=SECRET_REF,
                practitioner_id=PRACTITIONERS["csc"],
                opened_on=at.date(),
                created_at=datetime(2026, 1, 1, tzinfo=UTC),
            )
        )
    reflections(new_session, agency="csc", count=1, start=at, ref_prefix="QZXOTHER")
