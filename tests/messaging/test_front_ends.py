"""One deployment, two platforms: each message goes through its recipient's own front end, by
the one delivery loop; a recipient on a platform the deployment does not run is set aside with
the reason, never dropped or sent elsewhere."""

from __future__ import annotations

import pytest
from sqlmodel import select

from bot.identity import platform_of
from bot.messaging import outbox
from bot.messaging.delivery import Delivery
from bot.messaging.frontends import FrontEnds
from bot.messaging.message import CONVERSATION, Message
from storage.db import transaction
from storage.models import OutboxMessage
from tests.messaging.memory import MemoryFrontEnd, MemoryPlatform

SLACK_PERSON = "U0SLACKPER"
TEAMS_PERSON = "3f2a6c1e-8b4d-4e7a-9c21-5d6e7f809a1b"


def hello(case_ref: str) -> Message:
    return Message.of(
        "notices/acknowledged_practitioner", supervisor_id="U0SUPERVIS", case_ref=case_ref
    )


def test_a_person_is_on_the_platform_their_id_belongs_to() -> None:
    assert platform_of(SLACK_PERSON) == "slack"
    assert platform_of(TEAMS_PERSON) == "teams"
    assert platform_of(TEAMS_PERSON.upper()) == "teams"


def test_each_message_goes_through_its_recipients_own_front_end(new_session, clock) -> None:
    slack, teams = MemoryPlatform(), MemoryPlatform()
    front_ends = FrontEnds(
        {"slack": MemoryFrontEnd(slack), "teams": MemoryFrontEnd(teams)}, platform_of
    )
    with transaction(new_session) as session:
        outbox.record(session, key="a", recipient=SLACK_PERSON, message=hello("CSC-1"), now=clock())
        outbox.record(session, key="b", recipient=TEAMS_PERSON, message=hello("CSC-2"), now=clock())
    report = Delivery(new_session, front_ends, now=clock).deliver_all()
    assert report.sent == 2
    assert any("CSC-1" in text for text in slack.to(SLACK_PERSON)) and not slack.to(TEAMS_PERSON)
    assert any("CSC-2" in text for text in teams.to(TEAMS_PERSON)) and not teams.to(SLACK_PERSON)


def test_a_recipient_on_a_platform_not_run_here_is_set_aside_with_the_reason(
    new_session, clock
) -> None:
    slack = MemoryPlatform()
    front_ends = FrontEnds({"slack": MemoryFrontEnd(slack)}, platform_of)
    with pytest.raises(ValueError, match="teams"):
        front_ends.render(CONVERSATION, TEAMS_PERSON, hello("CSC-3"))
    with transaction(new_session) as session:
        outbox.record(session, key="c", recipient=TEAMS_PERSON, message=hello("CSC-3"), now=clock())
        outbox.record(session, key="d", recipient=SLACK_PERSON, message=hello("CSC-4"), now=clock())
    report = Delivery(new_session, front_ends, now=clock).deliver_all()
    assert report.sent == 1 and report.failed == 1
    with new_session() as session:
        aside = session.exec(
            select(OutboxMessage).where(OutboxMessage.recipient == TEAMS_PERSON)
        ).one()
    assert aside.status == "failed" and "teams" in (aside.last_error or "")
    assert any("CSC-4" in text for text in slack.to(SLACK_PERSON))


def test_a_deployment_needs_a_front_end() -> None:
    with pytest.raises(ValueError):
        FrontEnds({}, platform_of)
