"""`/reflect report` in Slack: the short version of last month's report for administrators (every
agency) and safeguarding leads (their own agency); everyone else is refused, politely. Runs are
audited; refusals show no figures."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import select

from storage.db import transaction
from storage.models import Agency, AuditEntry, Person, SafeguardingLead
from tests.report import seed
from tests.slack.conftest import LEAD, PRACTITIONER, SlackDriver, ephemeral_text

OCTOBER = datetime(2026, 10, 6, 9, 0, tzinfo=UTC)  # the fake clock says 26 November 2026


def partnership(slack: SlackDriver) -> None:
    with transaction(slack.new_session) as session:
        session.add(Agency(id="police", name="Police", options={}))
        session.flush()
        session.add(SafeguardingLead(agency_id="police", person_id=seed.POLICE_LEAD))
        session.add(Person(person_id=seed.ADMIN, agency_id="csc", role="administrator"))
        for agency in ("csc", "police"):
            session.add(
                Person(person_id=seed.PRACTITIONERS[agency], agency_id=agency, role="practitioner")
            )
    seed.reflections(slack.new_session, agency="csc", count=8, start=OCTOBER)
    seed.reflections(
        slack.new_session, agency="police", count=6, start=OCTOBER, themes="history", rules=None
    )


def test_an_administrator_sees_every_agency(slack: SlackDriver) -> None:
    partnership(slack)
    reply = ephemeral_text(slack.command(seed.ADMIN, "report"))
    assert "All agencies" in reply
    assert "Reflections completed: 14" in reply
    assert "Seeing the child alone (8)" in reply  # the flag, csc's 8
    assert "History (14)" in reply and "Alcohol, drugs and domestic abuse (8)" in reply
    assert "To protect the children and families" in reply  # the suppression line
    assert seed.SECRET_ANSWER not in reply and "CSC-" not in reply
    with slack.new_session() as session:
        audit = session.exec(select(AuditEntry).where(AuditEntry.action == "report")).all()
    assert [(a.actor, a.subject, a.detail["format"]) for a in audit] == [
        (seed.ADMIN, "report:all", "slack")
    ]
    assert audit[0].detail["from"] == "2026-10-01" and audit[0].detail["to"] == "2026-10-31"


def test_a_lead_sees_their_own_agency_only(slack: SlackDriver) -> None:
    partnership(slack)
    reply = ephemeral_text(slack.command(LEAD, "report"))
    assert "Children's Social Care" in reply
    assert "Reflections completed: 8" in reply
    assert "History (8)" in reply
    police = ephemeral_text(slack.command(seed.POLICE_LEAD, "report"))
    assert "Police" in police and "Reflections completed: 6" in police
    assert "Seeing the child alone" not in police


def test_a_practitioner_is_refused_politely_and_sees_no_figure(slack: SlackDriver) -> None:
    partnership(slack)
    reply = ephemeral_text(slack.command(PRACTITIONER, "report"))
    assert "for administrators and safeguarding leads" in reply
    assert "completed" not in reply and not any(ch.isdigit() for ch in reply)
    with slack.new_session() as session:
        assert session.exec(select(AuditEntry).where(AuditEntry.action == "report")).all() == []
