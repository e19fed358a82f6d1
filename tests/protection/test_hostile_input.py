"""Odd and hostile input through the service and the terminal: a clear reply, nothing stored
that should not be, and nothing already stored lost."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from sqlmodel import select

from bot.reflection.service import MAX_ANSWER_CHARS
from bot.render import Renderer
from bot.requests import Requests
from bot.slack.dialect import SLACK, escape_slack
from bot.terminal.conversation import TerminalConversation
from bot.terminal.dialect import TERMINAL
from storage.db import SessionFactory
from storage.models import Answer, Reflection
from tests.protection.conftest import PRACTITIONER, example_answers

REFLECT = [sys.executable, "-m", "bot"]
INTACT = [
    "Она говорит, что всё хорошо 👨‍👩‍👧‍👦 and 🏳️‍🌈",
    "قالت الأم إن الطفل بخير",  # right to left
    "אמא אמרה שהכול בסדר, mixed with English",
    "e\u0301 combining, ZWJ 👩🏽‍💻, flags 🇬🇧",
    "a NUL \x00 and a tab\tinside",
    "lone surrogate \ud800 from a JSON escape",
]


def stored_answers(new_session: SessionFactory) -> dict[str, str | None]:
    with new_session() as session:
        return {a.question_id: a.value for a in session.exec(select(Answer))}


def current_question(new_session: SessionFactory) -> str | None:
    with new_session() as session:
        return session.exec(select(Reflection.current_question)).one()


@pytest.mark.parametrize("length", [40_000, 40_001, 250_000])
def test_a_too_long_answer_is_refused_and_nothing_is_lost(
    service: Requests, new_session: SessionFactory, length: int
) -> None:
    service.start(practitioner_id=PRACTITIONER, case_ref="CSC-1001")
    service.respond(practitioner_id=PRACTITIONER, text="A first answer that must survive")
    before, where = stored_answers(new_session), current_question(new_session)

    reply = service.respond(practitioner_id=PRACTITIONER, text="word " * (length // 5))
    assert [m.template for m in reply.messages] == ["too_long"]
    assert reply.messages[0].data["limit"] == MAX_ANSWER_CHARS
    assert reply.status == "in_progress"
    assert stored_answers(new_session) == before
    assert current_question(new_session) == where
    rendered = Renderer(TERMINAL).message(reply.messages[0])
    assert "Nothing has been saved from it" in rendered and "earlier answers are safe" in rendered


def test_an_answer_at_the_limit_is_kept_whole(
    service: Requests, new_session: SessionFactory
) -> None:
    service.start(practitioner_id=PRACTITIONER, case_ref="CSC-1001")
    text = ("She walks to school alone most days. " * 600)[:MAX_ANSWER_CHARS].strip()
    reply = service.respond(practitioner_id=PRACTITIONER, text=text)
    assert "too_long" not in [m.template for m in reply.messages]
    assert text in stored_answers(new_session).values()


@pytest.mark.parametrize("empty", ["", "   ", "\n\t ", "\u00a0"])
def test_empty_answers_are_asked_again(
    service: Requests, new_session: SessionFactory, empty: str
) -> None:
    service.start(practitioner_id=PRACTITIONER, case_ref="CSC-1001")
    where = current_question(new_session)
    reply = service.respond(practitioner_id=PRACTITIONER, text=empty)
    assert reply.messages[0].template == "empty_answer"
    assert stored_answers(new_session) == {}
    assert current_question(new_session) == where


@pytest.mark.parametrize("text", INTACT)
def test_any_script_is_stored_and_shown_intact(
    service: Requests, new_session: SessionFactory, text: str
) -> None:
    service.start(practitioner_id=PRACTITIONER, case_ref="CSC-1001")
    service.respond(practitioner_id=PRACTITIONER, text=text)
    assert list(stored_answers(new_session).values()) == [text]
    reply = service.respond(practitioner_id=PRACTITIONER, text="back")
    question = next(m for m in reply.messages if m.template == "question")
    assert question.data["previous"] == text
    assert escape_slack(text) in Renderer(SLACK).message(question)
    assert text in Renderer(TERMINAL).message(question)


def test_bytes_that_are_not_utf8_are_refused_and_the_reflection_carries_on(
    service: Requests, new_session: SessionFactory
) -> None:
    lines = [line.encode("utf-8") for line in example_answers()]
    lines.insert(0, b"caf\xe9 au lait \xff\xfe")  # Latin-1, not UTF-8
    lines.insert(3, b"\xc3")  # a truncated UTF-8 sequence
    out = io.StringIO()
    conversation = TerminalConversation(
        service, Renderer(TERMINAL), practitioner_id=PRACTITIONER, out=out
    )
    assert conversation.run("CSC-1001", io.BytesIO(b"\n".join(lines) + b"\n")) == 0
    assert out.getvalue().count("isn't UTF-8 text") == 2
    with new_session() as session:
        assert session.exec(select(Reflection.status)).one() == "completed"
    assert not any("caf" in (v or "") for v in stored_answers(new_session).values())


def test_the_demo_reads_bad_bytes_from_stdin_without_a_traceback(cli_env: dict[str, str]) -> None:
    done = subprocess.run(
        [*REFLECT, "demo", "--case", "CSC-1001"],
        env=cli_env,
        input=b"\xff\xfe\xfd broken\nShe gets herself to school\n",
        capture_output=True,
        timeout=60,
    )
    stdout, stderr = done.stdout.decode(), done.stderr.decode()
    assert done.returncode == 1  # input ended part-way: paused
    assert "isn't UTF-8 text" in stdout and "Input ended part-way" in stdout
    assert "Traceback" not in stderr


def test_a_practitioner_not_in_the_organisation_can_reflect(
    service: Requests, new_session: SessionFactory
) -> None:
    reply = service.start(practitioner_id="U0TESTNEWB", case_ref="CSC-1001")
    for text in example_answers():
        reply = service.respond(practitioner_id="U0TESTNEWB", text=text)
    assert reply.status == "completed" and reply.completion is not None
    assert reply.completion.supervisor_id is None and reply.completion.lead_ids == ()
    completed = Renderer(TERMINAL).message(
        next(m for m in reply.messages if m.template == "completed")
    )
    assert "not set up in an organisation" in completed


def test_typing_with_no_reflection_open_gets_a_reply(service: Requests) -> None:
    reply = service.respond(practitioner_id=PRACTITIONER, text="hello? <!channel>")
    assert [m.template for m in reply.messages] == ["no_active"]


@pytest.mark.parametrize("ref", ["", " ", "<!channel>", "A" * 500, "Jane Smith", "\ud800-1"])
def test_odd_case_references_get_a_clear_reply(service: Requests, ref: str) -> None:
    reply = service.start(practitioner_id=PRACTITIONER, case_ref=ref)
    assert reply.messages[0].template in {"case_ref_invalid", "case_ref_no_digits"}
    assert reply.status is None
    assert "<!channel>" not in Renderer(SLACK).message(reply.messages[0])
