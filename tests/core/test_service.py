"""The reflection service's state machine: every command in every state."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import event
from sqlmodel import select

from bot.reflection.messages import Position, Reply
from bot.reflection.service import CONFIRM, MAX_ANSWER_CHARS, ReflectionService
from storage.encryption import keyring
from storage.models import Action, Answer, Case, Reflection
from tests.conftest import FixedClock

PRAC = "U0TESTPRAC"


@pytest.fixture
def service(new_session, clock: FixedClock) -> ReflectionService:
    return ReflectionService(new_session, now=clock)


def templates(reply: Reply) -> list[str]:
    return [m.template for m in reply.messages]


def question_id(reply: Reply) -> str | None:
    asked = [m for m in reply.messages if m.template == "question"]
    return asked[-1].data["question_id"] if asked else None


def reflection_row(new_session) -> Reflection:
    with new_session() as session:
        return session.exec(select(Reflection)).one()


def say(service: ReflectionService, *answers: str) -> Reply:
    reply = Reply()
    for text in answers:
        reply = service.respond(practitioner_id=PRAC, text=text)
    return reply


def test_start_creates_case_and_asks_first_question(service, new_session) -> None:
    reply = service.start(practitioner_id=PRAC, case_ref="csc-1001")
    assert templates(reply) == ["welcome", "question"]
    assert question_id(reply) == "child_day"
    assert reply.status == "in_progress"
    with new_session() as session:
        case = session.exec(select(Case)).one()
    assert (case.ref, case.practitioner_id, case.opened_on) == (
        "CSC-1001",
        PRAC,
        date(2026, 11, 26),
    )


@pytest.mark.parametrize(
    ("ref", "template"),
    [
        ("John Smith", "case_ref_invalid"),
        ("SMITHFAMILY", "case_ref_no_digits"),
        ("", "case_ref_invalid"),
    ],
)
def test_refuses_case_refs_that_are_not_references(service, new_session, ref, template) -> None:
    reply = service.start(practitioner_id=PRAC, case_ref=ref)
    assert templates(reply) == [template]
    with new_session() as session:
        assert session.exec(select(Case)).all() == []


def test_answer_is_stored_and_next_question_asked(service, new_session) -> None:
    service.start(practitioner_id=PRAC, case_ref="CSC-1001")
    reply = say(service, "Up at six, gets her brother ready, no breakfast most days")
    assert question_id(reply) == "child_seen"
    with new_session() as session:
        answer = session.exec(select(Answer)).one()
    assert answer.question_id == "child_day"
    assert answer.value.startswith("Up at six")


def test_choice_by_number_label_or_alias_and_refusal(service, new_session) -> None:
    service.start(practitioner_id=PRAC, case_ref="CSC-1001")
    say(service, "A long answer about the day that is plenty of words")
    refused = say(service, "7")
    assert templates(refused) == ["choice_not_understood"]
    assert reflection_row(new_session).current_question == "child_seen"
    accepted = say(service, "seen, and heard from on their own")
    assert question_id(accepted) == "development"


def test_skip_back_and_kept_answer(service, new_session) -> None:
    service.start(practitioner_id=PRAC, case_ref="CSC-1001")
    say(service, "First answer about the child's day with enough words")
    skipped = say(service, "skip")
    assert templates(skipped)[0] == "skipped"
    assert question_id(skipped) == "development"
    back = say(service, "back")
    assert question_id(back) == "child_seen"
    back = say(service, "back")
    assert question_id(back) == "child_day"
    assert back.messages[-1].data["previous"].startswith("First answer")
    kept = say(service, "skip")
    assert templates(kept)[0] == "kept_answer"
    with new_session() as session:
        answer = session.exec(select(Answer).where(Answer.question_id == "child_day")).one()
    assert answer.status == "answered" and answer.value.startswith("First answer")
    assert question_id(kept) == "development"
    # Answering a revisited question replaces it and returns to the first unanswered one.
    assert question_id(say(service, "back")) == "child_seen"
    assert question_id(say(service, "1")) == "development"


def test_an_answer_step_writes_the_answer_and_the_progress_once_each(
    service, new_session, engine, clock
) -> None:
    service.start(practitioner_id=PRAC, case_ref="CSC-1001")
    say(service, "First answer about the child's day with enough words", "skip", "back", "back")
    writes: list[str] = []

    def record_write(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().split(" ", 1)[0] in {"INSERT", "UPDATE", "DELETE"}:
            writes.append(" ".join(statement.split()[:3]))

    clock.current = clock.current.replace(minute=41)
    event.listen(engine, "before_cursor_execute", record_write)
    try:  # replacing the answer to the first question, which moves on to the next unanswered one
        reply = say(service, "A better answer about the child's day, replacing the first")
    finally:
        event.remove(engine, "before_cursor_execute", record_write)

    assert question_id(reply) == "development"
    assert sorted(writes) == ["INSERT INTO answer", "UPDATE reflection SET"]
    with new_session() as session:  # what a fresh read sees: the step was stored, not just held
        answer = session.exec(select(Answer).where(Answer.question_id == "child_day")).one()
        reflection = session.exec(select(Reflection)).one()
    assert answer.value.startswith("A better answer") and answer.answered_at == clock.current
    assert (reflection.current_question, reflection.updated_at) == ("development", clock.current)


def test_a_step_decrypts_only_the_answers_the_rules_look_at(service, monkeypatch) -> None:
    service.start(practitioner_id=PRAC, case_ref="CSC-1001")
    say(service, "Breakfast at school, then a long wait at the gate", "3")  # free text, a choice
    opened: list[str] = []
    decrypt = keyring.decrypt

    def spy(token: str) -> str:
        opened.append(decrypt(token))
        return opened[-1]

    monkeypatch.setattr(keyring, "decrypt", spy)
    reply = say(service, "Walking and talking as expected for her age")

    assert question_id(reply) is not None
    assert opened == ["seen_with_parent"]  # the choice a rule reads; never the free text
    monkeypatch.undo()
    back = say(service, "back")  # an answer shown again is read when it is needed
    assert back.messages[-1].data["previous"] == "Walking and talking as expected for her age"


def test_a_start_on_a_new_case_inserts_the_case_and_the_reflection_once_each(
    service, new_session, engine
) -> None:
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(" ".join(statement.split()[:3]))

    event.listen(engine, "before_cursor_execute", record)
    try:
        reply = service.start(practitioner_id=PRAC, case_ref="CSC-1002")
    finally:
        event.remove(engine, "before_cursor_execute", record)

    writes = [s for s in statements if s.split(" ", 1)[0] in {"INSERT", "UPDATE", "DELETE"}]
    assert writes == ['INSERT INTO "case"', "INSERT INTO reflection"]  # no UPDATE after
    # One look for a reflection in progress elsewhere; none for one on a case created just now.
    assert sum(s.startswith("SELECT reflection.id,") for s in statements) == 1
    assert question_id(reply) == "child_day" and reply.reflection_id is not None
    stored = reflection_row(new_session)
    assert (stored.id, stored.current_question) == (reply.reflection_id, "child_day")


def test_back_at_first_question_says_so(service) -> None:
    service.start(practitioner_id=PRAC, case_ref="CSC-1001")
    reply = say(service, "back")
    assert templates(reply) == ["nothing_before", "question"]
    assert question_id(reply) == "child_day"


def test_pause_and_resume_keep_everything(service, new_session) -> None:
    service.start(practitioner_id=PRAC, case_ref="CSC-1001")
    say(service, "An answer about the child's day, enough words here")
    paused = say(service, "pause")
    assert templates(paused) == ["paused"] and paused.status == "paused"
    assert templates(say(service, "hello")) == ["no_active"]
    resumed = service.start(practitioner_id=PRAC, case_ref="CSC-1001")
    assert templates(resumed) == ["resumed", "question"]
    assert question_id(resumed) == "child_seen"
    with new_session() as session:
        assert len(session.exec(select(Reflection)).all()) == 1


def test_cancel_stops_and_keeps_nothing_active(service) -> None:
    service.start(practitioner_id=PRAC, case_ref="CSC-1001")
    reply = say(service, "cancel")
    assert templates(reply) == ["cancelled"] and reply.status == "cancelled"
    assert templates(say(service, "skip")) == ["no_active"]
    fresh = service.start(practitioner_id=PRAC, case_ref="CSC-1001")
    assert templates(fresh)[0] == "welcome"


def test_starting_another_case_pauses_the_first(service, new_session) -> None:
    service.start(practitioner_id=PRAC, case_ref="CSC-1001")
    reply = service.start(practitioner_id=PRAC, case_ref="CSC-2002")
    assert templates(reply)[:2] == ["switched", "welcome"]
    with new_session() as session:
        statuses = sorted(r.status for r in session.exec(select(Reflection)))
    assert statuses == ["in_progress", "paused"]


def test_empty_and_overlong_answers_change_nothing(service, new_session) -> None:
    service.start(practitioner_id=PRAC, case_ref="CSC-1001")
    assert templates(say(service, "   ")) == ["empty_answer"]
    assert templates(say(service, "x" * (MAX_ANSWER_CHARS + 1))) == ["too_long"]
    with new_session() as session:
        assert session.exec(select(Answer)).all() == []
    assert reflection_row(new_session).current_question == "child_day"


def test_closed_case_is_not_reflected_on(service, new_session, clock) -> None:
    with new_session() as session:
        session.add(
            Case(
                ref="CSC-3003",
                practitioner_id=PRAC,
                opened_on=date(2026, 1, 5),
                closed_on=date(2026, 6, 1),
                created_at=clock(),
            )
        )
        session.commit()
    reply = service.start(practitioner_id=PRAC, case_ref="CSC-3003")
    assert templates(reply) == ["case_closed"]


def walk_to_plan(service: ReflectionService) -> Reply:
    service.start(practitioner_id=PRAC, case_ref="CSC-1001")
    reply = Reply()
    while question_id(reply) != "plan":
        reply = say(service, "skip")
    return reply


def test_plan_captures_actions_with_due_dates_queried_when_unclear(service, new_session) -> None:
    walk_to_plan(service)
    assert say(service, "Visit school to see the child alone").messages[-1].data["step"] == "owner"
    assert say(service, "<@U0TESTOWNR>").messages[-1].data["step"] == "due"
    assert templates(say(service, "04/05")) == ["date_ambiguous"]
    assert templates(say(service, "2026-11-01")) == ["date_past"]
    assert templates(say(service, "whenever")) == ["date_not_understood"]
    reply = say(service, "Friday")
    assert templates(reply) == ["date_understood", "question"]
    assert reply.messages[-1].data["step"] == "contingency"
    reply = say(service, "Ask the school DSL to see her instead")
    assert reply.messages[-1].data["step"] == "more"
    assert templates(say(service, "maybe")) == ["plan_more_not_understood"]
    assert question_id(say(service, "no")) == "lead_contact"
    with new_session() as session:
        action = session.exec(select(Action)).one()
    assert action.status == "complete"
    assert action.owner_slack_id == "U0TESTOWNR"
    assert action.due_on == date(2026, 11, 27)


def test_back_inside_the_plan_steps_back_one_field(service) -> None:
    walk_to_plan(service)
    say(service, "Visit school")
    say(service, "Me")
    reply = say(service, "back")
    assert reply.messages[-1].data["step"] == "owner"
    reply = say(service, "back")
    assert reply.messages[-1].data["step"] == "what"
    assert reply.messages[-1].data["draft"]["what"] == "Visit school"


def test_skipping_plan_fields_leaves_them_empty(service, new_session) -> None:
    walk_to_plan(service)
    say(service, "Visit school", "skip", "skip", "skip")
    assert question_id(say(service, "done")) == "lead_contact"
    with new_session() as session:
        action = session.exec(select(Action)).one()
    assert (action.owner, action.due_on, action.contingency) == (None, None, None)


def test_confirm_then_send_completes_with_summary(service, new_session) -> None:
    walk_to_plan(service)
    reply = say(service, "skip", "skip")
    assert templates(reply)[-1] == "confirm"
    assert reflection_row(new_session).current_question == CONFIRM
    assert templates(say(service, "what?")) == ["confirm_not_understood"]
    done = say(service, "send")
    assert templates(done) == ["completed", "summary", "lead_reminder"]
    assert done.status == "completed" and done.completion is not None
    stored = reflection_row(new_session)
    assert stored.summary["case_ref"] == "CSC-1001"
    assert stored.completed_at is not None
    assert templates(say(service, "anything")) == ["no_active"]


def test_back_from_confirmation_returns_to_last_question(service) -> None:
    walk_to_plan(service)
    say(service, "skip", "skip")
    assert question_id(say(service, "back")) == "lead_contact"


def test_commands_with_no_reflection(service) -> None:
    for word in ("skip", "back", "pause", "cancel", "an answer"):
        assert templates(service.respond(practitioner_id=PRAC, text=word)) == ["no_active"]


def test_current_prompt_repeats_question(service) -> None:
    service.start(practitioner_id=PRAC, case_ref="CSC-1001")
    assert question_id(service.current_prompt(practitioner_id=PRAC)) == "child_day"


def test_history_is_newest_first(service, clock) -> None:
    for _ in range(2):
        walk_to_plan(service)
        say(service, "skip", "skip", "send")
        clock.current = clock.current.replace(hour=clock.current.hour + 1)
    summaries = service.history(case_ref="csc-1001")
    assert len(summaries) == 2
    assert summaries[0]["completed_at"] > summaries[1]["completed_at"]


def test_a_reply_typed_before_the_next_question_arrived_is_filed_under_the_one_on_screen(
    service, new_session
) -> None:
    started = service.start(practitioner_id=PRAC, case_ref="CSC-1001")
    on_screen = started.asks
    assert on_screen is not None and on_screen.question == "child_day"
    first = say(service, "Nursery in the morning, then home with mum")
    assert first.asks is not None and first.asks.question == "child_seen"

    # A second message, typed before "child_seen" reached them, continues the first.
    more = service.respond(
        practitioner_id=PRAC, text="She said she was hungry at pick-up", typed_under=on_screen
    )
    assert templates(more) == ["added_to_answer"]
    assert reflection_row(new_session).current_question == "child_seen"  # not answered
    with new_session() as session:
        [answer] = session.exec(select(Answer)).all()
    assert answer.value == (
        "Nursery in the morning, then home with mum\n\nShe said she was hungry at pick-up"
    )

    # A "skip" typed under a question already answered skips nothing unseen.
    late = service.respond(practitioner_id=PRAC, text="skip", typed_under=on_screen)
    assert templates(late) == ["moved_on"]
    assert reflection_row(new_session).current_question == "child_seen"

    # "pause" means the same whenever it was typed; a reply under the current one is an answer.
    current = reflection_row(new_session)
    under_current = Position(current.id or 0, "child_seen", None)
    assert (
        question_id(service.respond(practitioner_id=PRAC, text="1", typed_under=under_current))
        == "development"
    )
    assert "paused" in templates(
        service.respond(practitioner_id=PRAC, text="pause", typed_under=on_screen)
    )


def test_an_added_reply_is_screened_for_identifiers(service, new_session) -> None:
    on_screen = service.start(practitioner_id=PRAC, case_ref="CSC-1001").asks
    say(service, "Nursery in the morning")
    late = service.respond(
        practitioner_id=PRAC, text="Her NHS number is 943 476 5919", typed_under=on_screen
    )
    assert "identifiers_withheld" in templates(late)
    with new_session() as session:
        [answer] = session.exec(select(Answer)).all()
    assert "943 476 5919" not in (answer.value or "")
