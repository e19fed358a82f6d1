"""The terminal conversation driven line by line by a function instead of standard input."""

from __future__ import annotations

import io

from sqlmodel import select

from bot.reflection.messages import Reply
from bot.render import Renderer
from bot.requests import Requests
from bot.terminal.conversation import TerminalConversation
from bot.terminal.dialect import TERMINAL
from storage.db import SessionFactory
from storage.models import Reflection
from tests.conftest import FixedClock

PRACTITIONER = "U0CONVERSE"


def conversation(new_session: SessionFactory, clock: FixedClock) -> TerminalConversation:
    service = Requests(new_session, now=clock, records=False)
    return TerminalConversation(
        service, Renderer(TERMINAL), practitioner_id=PRACTITIONER, out=io.StringIO()
    )


def test_the_answerer_sees_each_question_and_none_pauses(
    new_session: SessionFactory, clock: FixedClock
) -> None:
    terminal = conversation(new_session, clock)
    seen: list[Reply] = []

    def answerer(reply: Reply) -> str | None:
        seen.append(reply)
        return "skip" if len(seen) < 3 else None

    assert terminal.converse("CSC-2001", answerer) == 1
    asked = [r.asks.question for r in seen if r.asks is not None]
    assert len(asked) == 3 and len(set(asked)) == 3  # each skip moved to a new question
    assert all(r.status == "in_progress" for r in seen)
    assert "CSC-2001" in terminal.out.getvalue()  # type: ignore[attr-defined]
    with new_session() as session:
        reflection = session.exec(select(Reflection)).one()
    assert reflection.status == "paused"


def test_skipping_to_the_end_completes(new_session: SessionFactory, clock: FixedClock) -> None:
    terminal = conversation(new_session, clock)
    assert terminal.converse("CSC-2002", lambda reply: "skip") == 0
    with new_session() as session:
        assert session.exec(select(Reflection)).one().status == "completed"
