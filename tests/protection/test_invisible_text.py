"""Invisible and right-to-left text: an answer with nothing visible in it is an empty answer, and
no bidirectional control (which would reverse the rest of its line) is kept or shown, in the
service, the terminal conversation, the case export and every rendering mode."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

import pytest
from sqlmodel import select

from bot.casework.records import CaseExport, ExportedReflection
from bot.protection.invisible import as_typed, without_bidi
from bot.render import MARKDOWN_FILE, Dialect, Renderer, export_markdown
from bot.requests import Requests
from bot.slack.dialect import SLACK
from bot.terminal.conversation import TerminalConversation
from bot.terminal.dialect import TERMINAL
from storage.db import SessionFactory
from storage.models import Action, Answer, Reflection
from tests.protection.conftest import PRACTITIONER, example_answers

BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
INVISIBLE = [
    "\u200b",  # zero-width space
    "\u200b\u200c\u200d",  # and the non-joiner and joiner
    "\u2060\ufeff",  # word joiner, byte order mark
    " \u200b \u00a0\u3000\t\n",  # with spaces of several kinds
    "\u00ad\u180e\u2061\u2064",  # soft hyphen, Mongolian vowel separator, invisible operators
    "\u202e\u2066\u2069",  # bidirectional controls alone
    "\u3164\u115f\u2800",  # Hangul fillers, the blank Braille pattern
    "\ufe0f\u034f",  # a variation selector, the combining grapheme joiner
    "\U000e0041\U000e007f",  # tag characters
]
# An unclosed right-to-left override, and an isolate and embedding left open.
REVERSING = "Mum said \u202eenif lla saw ti and the rest of the line"
OPEN_ISOLATE = "Dad \u2067said\u202b nothing"


@pytest.mark.parametrize("text", INVISIBLE)
def test_text_with_nothing_visible_is_empty(text: str) -> None:
    assert as_typed(text) == ""


@pytest.mark.parametrize(
    "text",
    [
        "👨‍👩‍👧‍👦 the family",  # joiners inside an emoji are kept
        "🏳️‍🌈",
        "قالت الأم إن الطفل بخير",
        "e\u0301",
        "a\u200bb",
        "\u200bok\u200b",
    ],
)
def test_visible_text_is_kept_as_typed(text: str) -> None:
    assert as_typed(text) == text


def test_bidirectional_controls_are_taken_out() -> None:
    assert as_typed(REVERSING) == "Mum said enif lla saw ti and the rest of the line"
    assert as_typed(OPEN_ISOLATE) == "Dad said nothing"
    assert without_bidi("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069") == ""
    assert without_bidi("\u200f\u200e") == "\u200f\u200e"  # marks reverse nothing; kept


def stored_answers(new_session: SessionFactory) -> list[str | None]:
    with new_session() as session:
        return [a.value for a in session.exec(select(Answer))]


@pytest.mark.parametrize("text", INVISIBLE)
def test_an_invisible_answer_is_asked_again_and_not_stored(
    service: Requests, new_session: SessionFactory, text: str
) -> None:
    service.start(practitioner_id=PRACTITIONER, case_ref="CSC-1001")
    with new_session() as session:
        where = session.exec(select(Reflection.current_question)).one()
    reply = service.respond(practitioner_id=PRACTITIONER, text=text)
    assert [m.template for m in reply.messages] == ["empty_answer"]
    assert stored_answers(new_session) == []
    with new_session() as session:
        assert session.exec(select(Reflection.current_question)).one() == where


def test_an_answer_is_stored_and_shown_without_bidirectional_controls(
    service: Requests, new_session: SessionFactory
) -> None:
    service.start(practitioner_id=PRACTITIONER, case_ref="CSC-1001")
    service.respond(practitioner_id=PRACTITIONER, text=REVERSING)
    assert stored_answers(new_session) == [as_typed(REVERSING)]
    reply = service.respond(practitioner_id=PRACTITIONER, text="back")
    question = next(m for m in reply.messages if m.template == "question")
    for mode in (TERMINAL, SLACK, MARKDOWN_FILE):
        assert "enif lla saw ti" in Renderer(mode).message(question)


@pytest.mark.parametrize("mode", [TERMINAL, SLACK, MARKDOWN_FILE])
def test_text_stored_before_is_shown_without_bidirectional_controls(mode: Dialect) -> None:
    render = Renderer(mode)
    shown = render.render("messages/added_to_answer.j2", label=OPEN_ISOLATE) + render.render(
        "messages/moved_on.j2", label=REVERSING, command=None
    )
    assert not BIDI.search(shown)
    assert "Dad said nothing" in shown


def test_the_export_shows_no_bidirectional_control() -> None:
    summary = {
        "practitioner_id": PRACTITIONER,
        "completed_at": "2026-11-26T09:30:00+00:00",
        "agency_name": "\u202eCSC",
        "supervisor_id": None,
        "themes": [{"title": "T", "entries": [{"question": "Q", "answer": REVERSING}]}],
        "gaps": [],
        "flags": [],
        "actions": [],
    }
    export = CaseExport(
        case_ref="CSC-1001",
        exported_at=datetime(2026, 11, 27, 9, 0, tzinfo=UTC),
        reflections=[ExportedReflection(summary=summary, decisions=[], notes=[])],
    )
    markdown = export_markdown(export, timezone="Europe/London")
    assert "enif lla saw ti" in markdown and "Agency: CSC." in markdown
    assert not BIDI.search(markdown)


def test_the_terminal_conversation_asks_again_and_shows_no_control(
    service: Requests, new_session: SessionFactory
) -> None:
    answers = example_answers()
    # A plan action: the practitioner's summary shows the plan (not the written answers).
    at = answers.index("See the child on her own at school")
    lines = ["\u200b\u200d", *answers[:at], answers[at] + " \u202eesrever", *answers[at + 1 :]]
    out = io.StringIO()
    conversation = TerminalConversation(
        service, Renderer(TERMINAL), practitioner_id=PRACTITIONER, out=out
    )
    stdin = io.BytesIO("\n".join(lines).encode("utf-8") + b"\n")
    assert conversation.run("CSC-1001", stdin) == 0
    assert out.getvalue().count("I didn't catch an answer there") == 1
    assert not BIDI.search(out.getvalue())
    assert f"{answers[at]} esrever" in out.getvalue()  # the summary shows the answer
    with new_session() as session:
        stored = [*stored_answers(new_session), *session.exec(select(Action.what)).all()]
    assert f"{answers[at]} esrever" in stored
    assert not any(BIDI.search(v or "") for v in stored)
