"""The clock's monthly send: each agency's safeguarding leads get the short version of the month
just ended, once, on the first working day of the month, in working hours; an agency can turn it
off in the organisation file."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import col, select

from bot.clock import jobs
from storage.db import SessionFactory
from storage.models import AuditEntry, ClockPrompt, OutboxMessage
from tests.clock.helpers import context_at, rendered
from tests.report import seed

DECEMBER = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def sent(new_session: SessionFactory) -> list[OutboxMessage]:
    with new_session() as session:
        return list(session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))))


def text_of(message: OutboxMessage) -> str:
    """The words the lead reads, as the Slack front end renders the stored message."""
    blocks = rendered(message)["blocks"]
    return "\n".join(b["text"]["text"] for b in blocks if b["type"] == "section")


def seeded(new_session: SessionFactory, **options: dict) -> None:
    seed.organisation(new_session, **options)
    seed.reflections(new_session, agency="csc", count=9, start=DECEMBER)
    seed.reflections(new_session, agency="police", count=6, start=DECEMBER, rules=None)


def test_sent_once_on_the_first_working_day_after_a_bank_holiday(
    new_session: SessionFactory,
) -> None:
    seeded(new_session)
    # Friday 1 January 2027 is a bank holiday; the first working day is Monday the 4th.
    for when in ("2027-01-01T10:00", "2027-01-02T10:00", "2027-01-04T08:30"):
        assert jobs.monthly_report(context_at(new_session, when)) == 0
    assert sent(new_session) == []
    assert jobs.monthly_report(context_at(new_session, "2027-01-04T09:10")) == 2
    assert jobs.monthly_report(context_at(new_session, "2027-01-04T14:00")) == 0  # once
    assert jobs.monthly_report(context_at(new_session, "2027-01-05T10:00")) == 0
    csc, police = sorted(sent(new_session), key=lambda m: m.recipient)
    assert csc.recipient == seed.CSC_LEAD and police.recipient == seed.POLICE_LEAD
    assert "Children's Social Care" in text_of(csc) and "Reflections completed: 9" in text_of(csc)
    assert "Seeing the child alone (9)" in text_of(csc)
    assert "Police" in text_of(police) and "Reflections completed: 6" in text_of(police)
    assert "Seeing the child alone" not in text_of(police)
    for message in (csc, police):
        assert seed.SECRET_ANSWER not in text_of(message) and "CSC-" not in text_of(message)
    with new_session() as session:
        keys = sorted(session.exec(select(ClockPrompt.key)))
        audit = session.exec(select(AuditEntry).where(AuditEntry.action == "report")).all()
    assert keys == [
        f"monthly_report:csc:2026-12:{seed.CSC_LEAD}",
        f"monthly_report:police:2026-12:{seed.POLICE_LEAD}",
    ]
    assert sorted((a.actor, a.subject, a.detail["format"]) for a in audit) == [
        ("clock", "report:csc", "monthly"),
        ("clock", "report:police", "monthly"),
    ]


def test_an_agency_can_turn_it_off(new_session: SessionFactory) -> None:
    seeded(new_session, police_options={"monthly_report": False})
    assert jobs.monthly_report(context_at(new_session, "2027-01-04T10:00")) == 1
    assert [m.recipient for m in sent(new_session)] == [seed.CSC_LEAD]


def test_it_runs_with_the_other_jobs(new_session: SessionFactory) -> None:
    seeded(new_session)
    report = jobs.run_jobs(context_at(new_session, "2027-02-01T11:00"))
    assert report.decided["monthly_report"] == 2 and report.failed_jobs == []
