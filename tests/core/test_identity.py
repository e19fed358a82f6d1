"""A person's ID has one shape, checked in bot/identity.py; how a person is written in a message
is each front end's, and the layers below them see only plain IDs."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from sqlmodel import select

from bot.identity import is_person_id
from bot.render import renderer
from bot.requests import Requests
from bot.slack.mentions import mentioned_person
from bot.terminal.conversation import TerminalConversation, person_typed
from bot.terminal.dialect import TERMINAL
from storage.db import SessionFactory
from storage.models import Action, Reflection
from tests.answering import answer_by_id
from tests.conftest import FixedClock

BOT = Path(__file__).resolve().parents[2] / "bot"


@pytest.mark.parametrize("text", ["U0TESTPRAC", "W0123ABCD", "U12"])
def test_a_person_id(text: str) -> None:
    assert is_person_id(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "U1",
        "u0testprac",
        "X0TESTPRAC",
        "U0TESTPRAC\n",
        " U0TESTPRAC",
        "<@U0TESTPRAC>",
        "U" + "A" * 31,
        "sam@example.org",
    ],
)
def test_not_a_person_id(text: str) -> None:
    assert not is_person_id(text)


@pytest.mark.parametrize(
    ("text", "person"),
    [
        ("<@U0TESTOWNR>", "U0TESTOWNR"),
        (" <@W0TESTOWNR|sam> ", "W0TESTOWNR"),
        ("ask <@U0TESTOWNR>", None),  # a mention within a description names no one by itself
        ("<@U0TESTOWNR> and the school", None),
        ("<#C0123ABCD>", None),
        ("U0TESTOWNR", None),  # Slack writes a person as a mention, never as a bare ID
    ],
)
def test_slack_names_a_person_by_a_mention_alone(text: str, person: str | None) -> None:
    assert mentioned_person(text) == person


@pytest.mark.parametrize(
    ("line", "person"),
    [
        ("U0TESTOWNR", "U0TESTOWNR"),
        ("@U0TESTOWNR ", "U0TESTOWNR"),
        ("me", None),
        ("the school nurse", None),
        ("<@U0TESTOWNR>", None),  # Slack's syntax is Slack's
    ],
)
def test_the_terminal_names_a_person_by_their_id(line: str, person: str | None) -> None:
    assert person_typed(line) == person


def test_only_identity_writes_the_shape_of_an_id_and_only_slack_reads_its_mentions() -> None:
    sources = {path.relative_to(BOT).as_posix(): path.read_text() for path in BOT.rglob("*.py")}
    id_shape = [name for name, text in sources.items() if re.search(r"\[UW\]", text)]
    reads_mentions = [name for name, text in sources.items() if re.search(r"<@\(", text)]
    assert id_shape == ["identity.py"]
    assert reads_mentions == ["slack/mentions.py"]


@pytest.fixture
def service(new_session: SessionFactory, clock: FixedClock) -> Requests:
    return Requests(new_session, now=clock, records=False)


@pytest.mark.parametrize(("typed", "owner_id"), [("@U0TESTOWNR", "U0TESTOWNR"), ("me", None)])
def test_an_owner_typed_at_the_terminal_reaches_the_service_as_an_id(
    service: Requests, new_session: SessionFactory, typed: str, owner_id: str | None
) -> None:
    # A plan action's owner is now read from its line; the owner step remains only for a
    # reflection paused on it before 2026.12, and there a person typed is handed over as an ID.
    answer_by_id(service, "U0TESTPRAC", "CSC-1001", {}, stop_at="plan")
    service.respond(practitioner_id="U0TESTPRAC", text="Visit school to see the child alone")
    with new_session() as session:
        paused_on_owner = session.exec(select(Reflection)).one()
        paused_on_owner.current_step = "owner"
        session.add(paused_on_owner)
        session.commit()
    lines = iter([typed])
    conversation = TerminalConversation(
        service, renderer(TERMINAL), practitioner_id="U0TESTPRAC", out=io.StringIO()
    )
    conversation.converse("CSC-1001", lambda _reply: next(lines, None))
    with new_session() as session:
        action = session.exec(select(Action)).one()
    assert (action.owner, action.owner_person_id) == (typed, owner_id)
