"""The reflection service's state machine: every command in every state."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import event
from sqlmodel import select

from bot.reflection.messages import Position, Reply
from bot.reflection.questions import default_question_set
from bot.reflection.service import CONFIRM, MAX_ANSWER_CHARS
from bot.requests import Requests
from storage.encryption import keyring
from storage.models import Action, Answer, Case, Reflection
from tests.answering import answer_by_id
from tests.conftest import FixedClock

PRAC = "U0TESTPRAC"


@pytest.fixture
def service(new_session, clock: FixedClock) -> Requests:
    return Requests(new_session, now=clock, records=False)


def templates(reply: Reply) -> list[str]:
    return [m.template for m in reply.messages]


def question_id(reply: Reply) -> str | None:
    asked = [m for m in reply.messages if m.template == "question"]
    return asked[-1].data["question_id"] if asked else None


def reflection_row(new_session) -> Reflection:
    with new_session() as session:
        return session.exec(select(Reflection)).one()


def say(service: Requests, *answers: str) -> Reply:
    reply = Reply()
    for text in answers:
        reply = service.respond(practitioner_id=PRAC, text=text)
    return reply


def test_start_creates_case_and_asks_first_question(service, new_session) -> None:
    reply = service.start(practitioner_id=PRAC, case_ref="csc-1001")
    assert templates(reply) == ["welcome", "question"]
    assert question_id(reply) == "today"
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
    assert question_id(say(service, "No")) == "worry"
    reply = say(service, "To see where she sleeps and what there is to eat")
    assert question_id(reply) == "working_well"
    with new_session() as session:
        stored = {a.question_id: a.value for a in session.exec(select(Answer))}
    assert stored["today"] == "no"
    assert stored["worry"].startswith("To see where she sleeps")


def test_choice_by_number_label_or_alias_and_refusal(service, new_session) -> None:
    walk = answer_by_id(service, PRAC, "CSC-1001", {}, stop_at="child_seen")
    assert walk.asked == ["today", "worry", "working_well", "scale", "child_day"]
    refused = say(service, "6")  # one past the five options
    assert templates(refused) == ["choice_not_understood"]
    assert reflection_row(new_session).current_question == "child_seen"
    seen_alone = default_question_set().questions["child_seen"].option("seen_alone")
    accepted = say(service, seen_alone.label.lower())
    assert question_id(accepted) == "development"
    say(service, "Talking in sentences and playing with her brother")
    say(service, "Mum and her two children; nobody else visits")  # household
    assert question_id(say(service, "n")) == "identity"  # household_met, by its alias
    with new_session() as session:
        chosen = {a.question_id: a.value for a in session.exec(select(Answer))}
    assert (chosen["child_seen"], chosen["household_met"]) == ("seen_alone", "not_all")


def test_a_scale_is_a_number_from_0_to_10(service, new_session) -> None:
    answer_by_id(service, PRAC, "CSC-1001", {}, stop_at="scale")
    for typed in ("11", "about half", "10 or 11"):
        assert templates(say(service, typed)) == ["scale_not_understood"], typed
    assert reflection_row(new_session).current_question == "scale"
    assert question_id(say(service, "3 out of 10")) == "child_day"
    with new_session() as session:
        answer = session.exec(select(Answer).where(Answer.question_id == "scale")).one()
    assert answer.value == "3"


def test_skip_back_and_kept_answer(service, new_session) -> None:
    service.start(practitioner_id=PRAC, case_ref="CSC-1001")
    say(service, "No", "First answer about the visit with enough words")
    skipped = say(service, "skip")
    assert templates(skipped)[0] == "skipped"
    assert question_id(skipped) == "scale"
    back = say(service, "back")
    assert question_id(back) == "working_well"
    back = say(service, "back")
    assert question_id(back) == "worry"
    assert back.messages[-1].data["previous"].startswith("First answer")
    kept = say(service, "skip")
    assert templates(kept)[0] == "kept_answer"
    with new_session() as session:
        answer = session.exec(select(Answer).where(Answer.question_id == "worry")).one()
    assert answer.status == "answered" and answer.value.startswith("First answer")
    assert question_id(kept) == "scale"
    # Answering a revisited question replaces it and returns to the first unanswered one.
    assert question_id(say(service, "back")) == "working_well"
    assert question_id(say(service, "That nobody sees her hunger")) == "scale"
    with new_session() as session:
        answer = session.exec(select(Answer).where(Answer.question_id == "working_well")).one()
    assert (answer.status, answer.value) == ("answered", "That nobody sees her hunger")


def test_an_answer_step_writes_the_answer_and_the_progress_once_each(
    service, new_session, engine, clock
) -> None:
    service.start(practitioner_id=PRAC, case_ref="CSC-1001")
    say(service, "No", "First answer about the visit with enough words", "skip", "back", "back")
    writes: list[str] = []

    def record_write(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().split(" ", 1)[0] in {"INSERT", "UPDATE", "DELETE"}:
            writes.append(" ".join(statement.split()[:3]))

    clock.current = clock.current.replace(minute=41)
    event.listen(engine, "before_cursor_execute", record_write)
    try:  # replacing the answer to the worry, which moves on to the next unanswered question
        reply = say(service, "A better answer about the visit, replacing the first")
    finally:
        event.remove(engine, "before_cursor_execute", record_write)

    assert question_id(reply) == "scale"
    assert sorted(writes) == ["INSERT INTO answer", "UPDATE reflection SET"]
    with new_session() as session:  # what a fresh read sees: the step was stored, not just held
        answer = session.exec(select(Answer).where(Answer.question_id == "worry")).one()
        reflection = session.exec(select(Reflection)).one()
    assert answer.value.startswith("A better answer") and answer.answered_at == clock.current
    assert (reflection.current_question, reflection.updated_at) == ("scale", clock.current)


def test_a_step_decrypts_each_answer_at_most_once(service, monkeypatch) -> None:
    # Listening reads every written answer on each step (a mention decides the path), so the
    # text is opened once per step and shared by the path, the flags and the prompt.
    answer_by_id(
        service,
        PRAC,
        "CSC-1001",
        {"child_day": "Breakfast at school, then a long wait at the gate", "child_seen": "4"},
        stop_at="household",
    )
    opened: list[str] = []
    decrypt = keyring.decrypt

    def spy(token: str) -> str:
        opened.append(decrypt(token))
        return opened[-1]

    monkeypatch.setattr(keyring, "decrypt", spy)
    reply = say(service, "Her mum and her two brothers; I have met them all")

    assert question_id(reply) is not None
    assert "seen_with_parent" in opened
    assert len(opened) == len(set(opened)), opened  # nothing opened twice in one step
    monkeypatch.undo()
    back = say(service, "back")  # an answer shown again is read when it is needed
    assert back.messages[-1].data["previous"] == "Her mum and her two brothers; I have met them all"


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
    assert question_id(reply) == "today" and reply.reflection_id is not None
    stored = reflection_row(new_session)
    assert (stored.id, stored.current_question) == (reply.reflection_id, "today")


def test_back_at_first_question_says_so(service) -> None:
    service.start(practitioner_id=PRAC, case_ref="CSC-1001")
    reply = say(service, "back")
    assert templates(reply) == ["nothing_before", "question"]
    assert question_id(reply) == "today"


def test_pause_and_resume_keep_everything(service, new_session) -> None:
    service.start(practitioner_id=PRAC, case_ref="CSC-1001")
    say(service, "No")
    paused = say(service, "pause")
    assert templates(paused) == ["paused"] and paused.status == "paused"
    assert templates(say(service, "hello")) == ["no_active"]
    resumed = service.start(practitioner_id=PRAC, case_ref="CSC-1001")
    assert templates(resumed) == ["resumed", "question"]
    assert question_id(resumed) == "worry"
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
    assert reflection_row(new_session).current_question == "today"


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


def walk_to_plan(service: Requests) -> Reply:
    return answer_by_id(service, PRAC, "CSC-1001", {}, stop_at="plan").last


def test_plan_captures_actions_with_due_dates_queried_when_unclear(service, new_session) -> None:
    walk_to_plan(service)
    # A line with no owner is the practitioner's; with no date, the date is asked for.
    asked = say(service, "Visit school to see the child alone").messages[-1].data
    assert (asked["step"], asked["draft"]["what"]) == ("due", "Visit school to see the child alone")
    assert templates(say(service, "04/05")) == ["date_ambiguous"]
    assert templates(say(service, "2026-11-01")) == ["date_past"]
    assert templates(say(service, "whenever")) == ["date_not_understood"]
    reply = say(service, "Friday")
    # Not urgent: noted with its date, and straight on to the next action (no owner step, no
    # contingency of its own), where "done" ends the plan.
    assert templates(reply) == ["plan_action_noted", "question"]
    asked = reply.messages[-1].data
    assert (asked["step"], asked["actions_so_far"], asked["draft"]) == ("what", 1, None)
    reply = say(service, "another")  # understood, and adds nothing by itself
    assert (question_id(reply), reply.messages[-1].data["step"]) == ("plan", "what")
    # The shared contingency is asked once, after the plan.
    assert question_id(say(service, "done")) == "plan_contingency"
    assert question_id(say(service, "Ask the school DSL to see her instead")) == "lead_contact"
    with new_session() as session:
        action = session.exec(select(Action)).one()
    assert action.status == "complete"
    assert (action.owner, action.owner_person_id) == ("me", PRAC)
    assert action.due_on == date(2026, 11, 27)
    assert action.contingency == "Ask the school DSL to see her instead"


def test_a_line_names_its_owner_and_date_and_an_urgent_action_asks_its_own_contingency(
    service, new_session
) -> None:
    walk_to_plan(service)
    reply = say(service, "Strategy meeting tomorrow - team manager")
    # Owner and date read from the line: nothing asked but the urgent action's contingency.
    assert templates(reply) == ["question"]
    asked = reply.messages[-1].data
    assert (question_id(reply), asked["step"]) == ("plan", "contingency")
    assert (asked["draft"]["what"], asked["draft"]["owner"]) == (
        "Strategy meeting tomorrow",
        "team manager",
    )
    reply = say(service, "Ring the duty manager myself")
    assert templates(reply) == ["plan_action_noted", "question"]
    assert reply.messages[-1].data["step"] == "what"
    # Every action has its contingency: none is asked for the plan.
    assert question_id(say(service, "done")) == "lead_contact"
    with new_session() as session:
        action = session.exec(select(Action)).one()
    assert (action.owner, action.owner_person_id, action.due_on, action.contingency) == (
        "team manager",
        None,
        date(2026, 11, 27),
        "Ring the duty manager myself",
    )


def test_a_person_named_at_the_owner_step_of_a_reflection_paused_there_is_kept_by_id(
    service, new_session
) -> None:
    # Reflections paused before 2026.12 may sit on the old owner step; the front end reads the
    # person named (a Slack mention, an ID typed at the terminal) and hands the service the ID.
    walk_to_plan(service)
    say(service, "Visit school to see the child alone")
    with new_session() as session:
        stored = session.exec(select(Reflection)).one()
        stored.current_step = "owner"
        session.add(stored)
        session.commit()
    named = service.respond(practitioner_id=PRAC, text="<@U0TESTOWNR>", named="U0TESTOWNR")
    assert named.messages[-1].data["step"] == "due"
    say(service, "Friday", "done", "skip")
    with new_session() as session:
        action = session.exec(select(Action)).one()
    assert (action.owner_person_id, action.due_on) == ("U0TESTOWNR", date(2026, 11, 27))


def test_back_inside_the_plan_steps_back_one_field(service, new_session) -> None:
    walk_to_plan(service)
    assert say(service, "Visit school").messages[-1].data["step"] == "due"
    reply = say(service, "back")
    assert reply.messages[-1].data["step"] == "what"
    assert reply.messages[-1].data["draft"]["what"] == "Visit school"
    # The line typed again replaces the one being written, not a second action.
    reply = say(service, "Visit school on Friday")
    assert templates(reply) == ["plan_action_noted", "question"]
    with new_session() as session:
        action = session.exec(select(Action)).one()
    assert (action.what, action.due_on) == ("Visit school on Friday", date(2026, 11, 27))


def test_back_from_the_next_action_reopens_the_last_one(service, new_session) -> None:
    walk_to_plan(service)
    say(service, "Strategy meeting Friday - me", "Ask the DSL to see her instead")
    reply = say(service, "back")
    asked = reply.messages[-1].data
    assert (question_id(reply), asked["step"]) == ("plan", "what")
    assert asked["draft"]["what"] == "Strategy meeting Friday"
    reply = say(service, "Strategy meeting Friday - me")
    assert reply.messages[-1].data["step"] == "contingency"
    reply = say(service, "Ask the team manager to join the visit")
    assert (reply.messages[-1].data["step"], reply.messages[-1].data["actions_so_far"]) == (
        "what",
        1,
    )
    assert question_id(say(service, "done")) == "lead_contact"
    # Back from the question after the plan returns to its next action, not into the last one.
    reply = say(service, "back")
    assert (question_id(reply), reply.messages[-1].data["step"]) == ("plan", "what")
    assert question_id(say(service, "done")) == "lead_contact"
    with new_session() as session:
        action = session.exec(select(Action)).one()
    assert (action.status, action.contingency) == (
        "complete",
        "Ask the team manager to join the visit",
    )


def test_skipping_plan_fields_leaves_them_empty(service, new_session) -> None:
    walk_to_plan(service)
    say(service, "Visit school", "skip")
    assert question_id(say(service, "done")) == "plan_contingency"
    assert question_id(say(service, "skip")) == "lead_contact"
    with new_session() as session:
        action = session.exec(select(Action)).one()
    assert (action.status, action.due_on, action.contingency) == ("complete", None, None)
    assert (action.owner, action.owner_person_id) == ("me", PRAC)


@pytest.mark.parametrize(
    ("lead_contact", "reminded"),
    [("skip", True), ("not yet", True), ("recently", False)],
)
def test_confirm_then_send_completes_with_summary(
    service, new_session, lead_contact, reminded
) -> None:
    walk_to_plan(service)
    say(service, "skip")  # the plan
    assert question_id(say(service, lead_contact)) == "supervisor_ask"
    reply = say(service, "skip")
    assert templates(reply)[-1] == "confirm"
    assert reflection_row(new_session).current_question == CONFIRM
    assert templates(say(service, "what?")) == ["confirm_not_understood"]
    done = say(service, "send")
    # The lead reminder goes only to someone who hasn't talked to their lead, or didn't say.
    assert templates(done) == ["completed", "summary"] + (["lead_reminder"] if reminded else [])
    assert done.status == "completed" and done.completion is not None
    stored = reflection_row(new_session)
    assert stored.summary["case_ref"] == "CSC-1001"
    assert stored.completed_at is not None
    assert templates(say(service, "anything")) == ["no_active"]


def test_back_from_confirmation_returns_to_last_question(service) -> None:
    walk_to_plan(service)
    say(service, "skip", "skip", "skip")
    assert question_id(say(service, "back")) == "supervisor_ask"


def test_commands_with_no_reflection(service) -> None:
    for word in ("skip", "back", "pause", "cancel", "an answer"):
        assert templates(service.respond(practitioner_id=PRAC, text=word)) == ["no_active"]


def test_current_prompt_repeats_question(service) -> None:
    service.start(practitioner_id=PRAC, case_ref="CSC-1001")
    assert question_id(service.current_prompt(practitioner_id=PRAC)) == "today"


def test_history_is_newest_first(service, clock) -> None:
    for _ in range(2):
        assert answer_by_id(service, PRAC, "CSC-1001", {}).last.status == "completed"
        clock.current = clock.current.replace(hour=clock.current.hour + 1)
    history = service.history(person=PRAC, case_ref="csc-1001", via="test")
    summaries = history.summaries
    assert history.allowed and len(summaries) == 2
    assert summaries[0]["completed_at"] > summaries[1]["completed_at"]


def test_a_reply_typed_before_the_next_question_arrived_is_filed_under_the_one_on_screen(
    service, new_session
) -> None:
    service.start(practitioner_id=PRAC, case_ref="CSC-1001")
    on_screen = say(service, "No").asks
    assert on_screen is not None and on_screen.question == "worry"
    first = say(service, "To see where she sleeps and what there is to eat")
    assert first.asks is not None and first.asks.question == "working_well"

    # A second message, typed before "working_well" reached them, continues the first.
    more = service.respond(
        practitioner_id=PRAC, text="And to meet her grandmother", typed_under=on_screen
    )
    assert templates(more) == ["added_to_answer"]
    assert reflection_row(new_session).current_question == "working_well"  # not answered
    with new_session() as session:
        [answer] = session.exec(select(Answer).where(Answer.question_id == "worry")).all()
        assert session.exec(select(Answer).where(Answer.question_id == "working_well")).all() == []
    assert answer.value == (
        "To see where she sleeps and what there is to eat\n\nAnd to meet her grandmother"
    )

    # A "skip" typed under a question already answered skips nothing unseen.
    late = service.respond(practitioner_id=PRAC, text="skip", typed_under=on_screen)
    assert templates(late) == ["moved_on"]
    assert reflection_row(new_session).current_question == "working_well"

    # "pause" means the same whenever it was typed; a reply under the current one is an answer.
    current = reflection_row(new_session)
    under_current = Position(current.id or 0, "working_well", None)
    assert (
        question_id(
            service.respond(
                practitioner_id=PRAC, text="She loves nursery", typed_under=under_current
            )
        )
        == "scale"
    )
    assert "paused" in templates(
        service.respond(practitioner_id=PRAC, text="pause", typed_under=on_screen)
    )


def test_an_added_reply_is_screened_for_identifiers(service, new_session) -> None:
    service.start(practitioner_id=PRAC, case_ref="CSC-1001")
    on_screen = say(service, "No").asks
    say(service, "A planned visit after the school's referral")
    late = service.respond(
        practitioner_id=PRAC, text="Her NHS number is 943 476 5919", typed_under=on_screen
    )
    assert "identifiers_withheld" in templates(late)
    with new_session() as session:
        [answer] = session.exec(select(Answer).where(Answer.question_id == "worry")).all()
    assert "added_to_answer" in templates(late)
    assert "943 476 5919" not in (answer.value or "")
