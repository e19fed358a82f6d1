"""What a completed reflection leaves behind (plain countable columns, the lead's outcome), and how
a repeat reflection starts from it: the last plan reviewed, carried answers kept with "yes"."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from bot.reflection.messages import Reply
from bot.reflection.service import CONFIRM
from bot.render import Renderer
from bot.requests import Requests
from bot.terminal.dialect import TERMINAL
from storage import organisation as org_queries
from storage.db import transaction
from storage.models import Action, Agency, Person, Reflection, SafeguardingLead
from tests.conftest import FixedClock

PRAC = "U0TESTPRAC"
LEAD = "U0TESTLEAD"


@pytest.fixture
def service(new_session, clock: FixedClock) -> Requests:
    return Requests(new_session, now=clock, records=False)


def organisation(new_session, *, profession: str | None = None, lead: bool = False) -> None:
    with transaction(new_session) as session:
        org_queries.replace_organisation(
            session=session,
            agencies=[Agency(id="hv", name="Health visiting", options={})],
            leads=[SafeguardingLead(agency_id="hv", person_id=PRAC if lead else LEAD)],
            people=[
                Person(person_id=PRAC, agency_id="hv", role="practitioner", profession=profession)
            ],
        )


def reflect(service: Requests, case_ref: str, answers: dict[str, object]) -> list[Reply]:
    """Answer what is asked by question id (a list answers successive steps); skip the rest."""
    replies = [service.start(practitioner_id=PRAC, case_ref=case_ref)]
    queues = {k: list(v) if isinstance(v, list) else [v] for k, v in answers.items()}
    for _ in range(200):
        asks = replies[-1].asks
        if replies[-1].status == "completed":
            return replies
        question = asks.question if asks else None
        if question == CONFIRM:
            text = "send"
        else:
            queue = queues.get(f"{question}:{asks.step}" if asks and asks.step else "")
            queue = queue or queues.get(question or "")
            text = str(queue.pop(0)) if queue else "skip"
        replies.append(service.respond(practitioner_id=PRAC, text=text))
    raise AssertionError("the reflection never completed")


def stored(new_session) -> list[Reflection]:
    with new_session() as session:
        return list(session.exec(select(Reflection).order_by(Reflection.id)))


def test_a_completed_reflection_fills_the_plain_columns(service, new_session) -> None:
    organisation(new_session, profession="health_visitor")
    reflect(
        service,
        "HV-3001",
        {
            "worry": "Mum had a couple of glasses the night before and baby was in her bed",
            "confirm_alcohol": "1",
            "confirm_baby_sleep": "1",
            "scale": "4",
            "lead_contact": "3",
        },
    )
    (row,) = stored(new_session)
    assert row.question_set == "health_visitor" and not row.is_repeat
    assert row.scale == 4 and row.minutes is not None and row.minutes >= 1
    fired = set((row.rules_fired or "").split(","))
    assert "alcohol_and_baby_sleep" in fired
    # The drinking is said once, for today, with the baby's sleep.
    assert "alcohol_mentioned" not in fired and "baby_sleep" not in fired
    assert "history" not in (row.themes_skipped or "")  # not in a health visitor's set
    skipped = (row.themes_skipped or "").split(",")
    # The child's day covers development now: one theme, skipped with the child's day.
    assert "lived_experience" in skipped and "development" not in skipped
    assert row.lead_status == "not_yet" and row.lead_contact_confirmed_at is None
    # Nothing free-text in the plain columns.
    assert "glasses" not in f"{row.rules_fired}{row.themes_skipped}{row.lead_status}"


def test_talking_to_the_lead_recently_means_no_reminder_and_no_follow_up(
    service, new_session
) -> None:
    organisation(new_session)
    replies = reflect(service, "CSC-3002", {"lead_contact": "1"})
    assert "lead_reminder" not in [m.template for m in replies[-1].messages]
    (row,) = stored(new_session)
    assert row.lead_status == "recently" and row.lead_contact_confirmed_at is not None


def test_a_lead_is_never_asked_or_reminded_about_a_lead(service, new_session) -> None:
    organisation(new_session, lead=True)
    replies = reflect(service, "CSC-3003", {})
    asked = {r.asks.question for r in replies if r.asks}
    assert "lead_contact" not in asked
    assert "lead_reminder" not in [m.template for m in replies[-1].messages]
    assert stored(new_session)[0].lead_status == "is_lead"


def test_an_arranged_talk_with_the_lead_becomes_an_action_with_its_date(
    service, new_session, clock: FixedClock
) -> None:
    organisation(new_session)
    reflect(service, "CSC-3004", {"lead_contact": "2", "lead_when": "in 3 days"})
    (row,) = stored(new_session)
    with new_session() as session:
        (action,) = session.exec(select(Action).where(Action.reflection_id == row.id)).all()
    assert action.due_on == service.service.today() + timedelta(days=3)
    assert action.owner_person_id == PRAC and action.status == "complete"
    assert row.lead_status == "planned" and row.lead_contact_confirmed_at is not None


def test_a_repeat_reflection_reviews_the_plan_and_keeps_what_is_still_right(
    service, new_session, clock: FixedClock
) -> None:
    organisation(new_session)
    reflect(
        service,
        "CSC-3005",
        {
            "household": "Mum, Jay (4) and mum's partner Sam, who stays most nights",
            "scale": "5",
            "engagement": "2",
            "plan:what": ["Home visit with the nursery key worker", "Chase the GP letter"],
            "plan:owner": ["me", "me"],
            "plan:due": ["in 5 days", "in 7 days"],
            "plan:contingency": ["Joint visit with my manager", "Ask the HV to chase"],
            "plan:more": ["yes", "no"],
        },
    )
    clock.current += timedelta(days=40)
    replies = reflect(
        service,
        "CSC-3005",
        {
            "last_plan": ["1", "3"],
            "household": "yes",
            "scale": "4",
            "engagement": "2",
        },
    )
    welcome = replies[0].messages[0]
    assert welcome.template == "welcome" and welcome.data["repeat"] is True
    asked = [r.asks.question for r in replies if r.asks]
    assert asked.index("last_plan") < asked.index("changed") and "child_day" not in asked
    first, second = stored(new_session)
    assert second.is_repeat and second.scale == 4
    assert {"drift_actions_carried", "drift_scale"} <= set((second.rules_fired or "").split(","))
    summary = second.summary or {}
    assert summary["context"]["earlier_actions_done"] == "1 of 2"
    assert summary["context"]["scale_trend"] == [5, 4]
    assert [a["status"] for a in summary["earlier_actions"]] == ["done", "not_done"]
    household = next(
        e
        for t in summary["themes"]
        for e in t["entries"]
        if e["question"] == "Who lives there or visits"
    )
    assert household["answer"].startswith("Mum, Jay (4)")  # "yes" kept the last answer
    with new_session() as session:
        earlier = session.exec(
            select(Action).where(Action.reflection_id == first.id).order_by(Action.position)
        ).all()
    assert [a.review_status for a in earlier] == ["done", "not_done"]
    assert earlier[0].done_at is not None and earlier[1].done_at is None


def test_a_safety_action_dated_after_the_next_working_day_asks_what_happens_meanwhile(
    service, new_session
) -> None:
    organisation(new_session)
    replies = reflect(
        service,
        "CSC-3006",
        {
            "plan:what": ["Escalate to the CSC team manager", "Call the nursery"],
            "plan:owner": ["me", "me"],
            "plan:due": ["in 10 days", "in 10 days"],
            "plan:meanwhile": ["Nursery checks her every morning and calls me"],
            "plan:contingency": ["Strategy discussion request", "Visit the nursery myself"],
            "plan:more": ["yes", "no"],
        },
    )
    meanwhile = [r for r in replies if r.asks and r.asks.step == "meanwhile"]
    assert len(meanwhile) == 1  # the escalation, not the nursery call
    summary = stored(new_session)[0].summary or {}
    assert summary["actions"][0]["meanwhile"].startswith("Nursery checks her")
    assert summary["actions"][1]["meanwhile"] is None


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("7", "7"),
        ("about 3/10", "3"),
        ("4 out of 10", "4"),
        ("11", None),
        ("lots", None),
        ("-1", None),
        ("minus 2", None),
    ],
)
def test_the_scale_takes_a_number_from_0_to_10(service, new_session, typed, kept) -> None:
    reflect(service, "CSC-3007", {})  # a first reflection, then a fresh one on another case
    service.start(practitioner_id=PRAC, case_ref="CSC-3008")
    for text in ("skip", "skip", "skip"):
        reply = service.respond(practitioner_id=PRAC, text=text)
    assert reply.asks is not None and reply.asks.question == "scale"
    reply = service.respond(practitioner_id=PRAC, text=typed)
    if kept is None:
        assert [m.template for m in reply.messages] == ["scale_not_understood"]
    else:
        assert reply.asks is not None and reply.asks.question != "scale"


def test_an_injury_to_a_baby_is_met_at_once_with_the_agencys_procedure(
    service, new_session
) -> None:
    with transaction(new_session) as session:
        org_queries.replace_organisation(
            session=session,
            agencies=[
                Agency(
                    id="eh",
                    name="Early help",
                    options={
                        "procedure_url": "https://example.org/proc",
                        "front_door": "0300 000 0000",
                    },
                )
            ],
            leads=[],
            people=[Person(person_id=PRAC, agency_id="eh", role="practitioner")],
        )
    service.start(practitioner_id=PRAC, case_ref="EH-3009")
    service.respond(practitioner_id=PRAC, text="3")  # nothing said to be for today
    service.respond(
        practitioner_id=PRAC, text="Check on Ava, 18 months, after nursery saw a bruise on her ear"
    )
    reply = service.respond(practitioner_id=PRAC, text="1")  # yes, not yet mobile
    (warning,) = [m for m in reply.messages if m.template == "immediate_risk"]
    assert warning.data["procedure_url"] == "https://example.org/proc"
    assert warning.data["front_door"] == "0300 000 0000"
    assert "bruise on her ear" in warning.data["concerns"][0]["quote"]
    assert reply.status == "in_progress"  # offered a pause, not forced
    shown = Renderer(TERMINAL).message(warning).splitlines()
    assert shown[0] == "This is for today, not only for the visit."
    assert shown[1].endswith('saw a bruise on her ear"')
    assert "0300 000 0000" in shown[2] and "999" in shown[2]


def test_agreement_that_does_not_change_is_flagged_as_drift_on_a_long_open_case(
    service, new_session, clock: FixedClock
) -> None:
    organisation(new_session)
    reflect(service, "CSC-3010", {"engagement": "2"})
    clock.current += timedelta(days=200)
    reflect(service, "CSC-3010", {"engagement": "2"})
    assert "drift_no_change" in (stored(new_session)[1].rules_fired or "")


def test_a_school_safeguarding_lead_is_treated_as_the_lead_even_if_not_listed(
    service, new_session
) -> None:
    organisation(new_session, profession="school")  # not under safeguarding_leads
    replies = reflect(service, "SCH-3011", {})
    assert "lead_contact" not in {r.asks.question for r in replies if r.asks}
    assert "lead_reminder" not in [m.template for m in replies[-1].messages]
    (row,) = stored(new_session)
    assert row.lead_status == "is_lead" and row.lead_contact_confirmed_at is not None
