"""What an answer mentions is recorded beside it when it is written, as the question set's
mention ids (never its words), and the next steps decide what to ask from those ids without
decrypting every earlier answer; answers written before the ids were kept are read as before."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from sqlmodel import select

from bot.reflection.messages import Reply
from bot.requests import Requests
from storage import reflections
from storage.db import transaction
from storage.models import Answer
from tests.conftest import FixedClock

PRAC = "U0TESTMENT"
OPENING_ANSWER = "3"  # "No": nothing needs action today, a choice


@pytest.fixture
def service(new_session, clock: FixedClock) -> Requests:
    return Requests(new_session, now=clock, records=False)


def asked(reply: Reply) -> str | None:
    questions = [m for m in reply.messages if m.template == "question"]
    return questions[-1].data["question_id"] if questions else None


def stored(new_session, question_id: str) -> Answer:
    with new_session() as session:
        return session.exec(select(Answer).where(Answer.question_id == question_id)).one()


def to_the_worry(service: Requests) -> None:
    service.start(practitioner_id=PRAC, case_ref="MEN-1001")
    assert asked(service.respond(practitioner_id=PRAC, text=OPENING_ANSWER)) == "worry"


def test_an_answers_mentions_are_kept_as_ids_beside_it(service, new_session) -> None:
    to_the_worry(service)
    reply = service.respond(practitioner_id=PRAC, text="Dad had been drinking when I called")
    assert asked(reply) == "confirm_alcohol"
    worry = stored(new_session, "worry")
    assert worry.mentions == "alcohol"
    assert "drinking" not in worry.mentions and "Dad" not in worry.mentions


def test_an_answer_mentioning_nothing_records_that_it_mentions_nothing(
    service, new_session
) -> None:
    to_the_worry(service)
    assert (
        asked(service.respond(practitioner_id=PRAC, text="Tired and withdrawn")) == "working_well"
    )
    assert stored(new_session, "worry").mentions == ""
    assert stored(new_session, "today").mentions == ""  # a choice: no words to mention


def test_later_steps_ask_from_the_recorded_ids_not_from_the_text(
    service, new_session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The recorded ids decide: an answer whose ids say it mentioned drinking gets the
    confirming question, though its text (never decrypted to decide) does not mention it."""
    to_the_worry(service)
    service.respond(practitioner_id=PRAC, text="Tired and withdrawn")
    with transaction(new_session) as session:
        session.execute(
            update(Answer).where(Answer.question_id == "worry").values(mentions="alcohol")
        )
    opened: list[str] = []
    value = reflections.StoredAnswer.value

    def watched(self: reflections.StoredAnswer) -> str | None:
        opened.append(self.question_id)
        return value.fget(self)  # type: ignore[attr-defined]

    monkeypatch.setattr(reflections.StoredAnswer, "value", property(watched))
    reply = service.respond(practitioner_id=PRAC, text="Good attendance at school")
    assert asked(reply) == "confirm_alcohol"
    # Only the answer the confirming question quotes is read, to quote it; a choice (today's
    # "no") is read for the option it stored, never a written answer's words.
    assert set(opened) <= {"worry", "today"}
    assert "working_well" not in opened


def test_answers_written_before_ids_were_kept_are_scanned_as_before(service, new_session) -> None:
    to_the_worry(service)
    service.respond(practitioner_id=PRAC, text="Dad had been drinking when I called")
    with transaction(new_session) as session:
        session.execute(update(Answer).values(mentions=None))
    # "back" re-asks from the path the answers make: the mention must still be found.
    reply = service.respond(practitioner_id=PRAC, text="skip")
    assert asked(reply) == "working_well"
    back = service.respond(practitioner_id=PRAC, text="back")
    assert asked(back) == "confirm_alcohol"
