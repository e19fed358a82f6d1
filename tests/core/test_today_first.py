"""Today first, through the service: the first question asks whether anything needs action
today. Yes or not sure shows the immediate-risk message, asks what happens in the next hour,
tells the supervisor at once (Reply.alerts), then offers to stop; stopping pauses the
reflection, and starting again resumes at the worry. No moves straight on."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from bot.admin.organisation import load_organisation
from bot.reflection.messages import Reply
from bot.requests import Requests
from storage.models import Answer, Reflection
from tests.conftest import FixedClock

PRAC = "U0TESTPRAC"
SUPV = "U0TESTSUPV"
ORG = f"""
agencies:
  - id: csc
    name: Children's Social Care
people:
  - slack_id: {SUPV}
    agency: csc
    role: supervisor
  - slack_id: {PRAC}
    agency: csc
    role: practitioner
    supervisor: {SUPV}
"""


@pytest.fixture
def service(new_session, clock: FixedClock, tmp_path: Path) -> Requests:
    org = tmp_path / "org.yaml"
    org.write_text(ORG)
    load_organisation(org, new_session)
    return Requests(new_session, now=clock, records=False)


def templates(reply: Reply) -> list[str]:
    return [m.template for m in reply.messages]


def asked(reply: Reply) -> str | None:
    questions = [m for m in reply.messages if m.template == "question"]
    return questions[-1].data["question_id"] if questions else None


def say(service: Requests, text: str) -> Reply:
    return service.respond(practitioner_id=PRAC, text=text)


def test_today_is_asked_first_with_yes_not_sure_and_no(service) -> None:
    reply = service.start(practitioner_id=PRAC, case_ref="CSC-1001")
    question = reply.messages[-1].data
    assert question["question_id"] == "today"
    assert question["text"].startswith("First: does anything need action today?")
    assert [o["label"] for o in question["options"]] == ["Yes", "Not sure", "No"]


@pytest.mark.parametrize("answer", ["1", "yes", "Not sure"])
def test_yes_or_not_sure_shows_the_immediate_message_and_asks_the_next_hour(
    service, answer: str
) -> None:
    service.start(practitioner_id=PRAC, case_ref="CSC-1001")
    reply = say(service, answer)
    assert templates(reply) == ["immediate_risk", "question"]
    assert asked(reply) == "today_next"
    assert not reply.alerts  # the supervisor hears once there is something to tell them


def test_the_next_hour_tells_the_supervisor_then_stop_pauses_and_start_resumes_at_the_worry(
    service, new_session
) -> None:
    service.start(practitioner_id=PRAC, case_ref="CSC-1001")
    say(service, "yes")
    reply = say(service, "Ring the front door and my manager now")
    assert templates(reply) == ["today_alerted", "question"]
    assert asked(reply) == "today_stop"
    (alert,) = reply.alerts
    assert (alert.supervisor_id, alert.practitioner_id, alert.case_ref) == (
        SUPV,
        PRAC,
        "CSC-1001",
    )
    assert alert.template == "today_alert" and alert.reflection_id == reply.reflection_id
    assert {"question": "In the next hour", "answer": "Ring the front door and my manager now"} in (
        alert.data["said"]
    )

    stopped = say(service, "stop")
    assert templates(stopped) == ["today_paused"] and stopped.status == "paused"
    assert not stopped.alerts  # told once
    with new_session() as session:
        row = session.exec(select(Reflection)).one()
        answered = {a.question_id: a.value for a in session.exec(select(Answer))}
    assert (row.status, row.current_question) == ("paused", "worry")
    assert answered == {
        "today": "yes",
        "today_next": "Ring the front door and my manager now",
        "today_stop": "stop",
    }

    resumed = service.start(practitioner_id=PRAC, case_ref="CSC-1001")
    assert templates(resumed) == ["resumed", "question"] and asked(resumed) == "worry"


def test_carry_on_goes_on_to_the_worry(service) -> None:
    service.start(practitioner_id=PRAC, case_ref="CSC-1001")
    say(service, "not sure")
    say(service, "Talk to my manager")
    reply = say(service, "carry on")
    assert reply.status == "in_progress" and asked(reply) == "worry"


def test_no_moves_on_with_no_message_and_no_alert(service) -> None:
    service.start(practitioner_id=PRAC, case_ref="CSC-1001")
    reply = say(service, "3")
    assert templates(reply) == ["question"] and asked(reply) == "worry"
    assert not reply.alerts


def test_with_no_supervisor_the_practitioner_is_told_to_tell_their_manager(
    new_session, clock
) -> None:
    service = Requests(new_session, now=clock, records=False)  # nobody set up in an organisation
    service.start(practitioner_id=PRAC, case_ref="CSC-1001")
    say(service, "yes")
    reply = say(service, "Ring the front door now")
    assert not reply.alerts
    alerted = next(m for m in reply.messages if m.template == "today_alerted")
    assert alerted.data["supervisor_id"] is None


def test_a_later_immediate_message_is_said_in_a_line(
    service,
) -> None:
    service.start(practitioner_id=PRAC, case_ref="CSC-1001")
    say(service, "yes")
    say(service, "Ring the front door now")
    say(service, "carry on")
    # A second immediate concern is said in a line, not in full again.
    reply = say(service, "She told her teacher that mum's boyfriend hit her with a belt")
    assert asked(reply) == "confirm_disclosure"
    confirmed = say(service, "1")
    assert "immediate_again" in templates(confirmed)
    assert "immediate_risk" not in templates(confirmed)
