"""A reflection in the DM, driven through the Bolt app with signed requests: typed answers as
message.im events and button clicks, to completion; pause and resume; double clicks."""

from __future__ import annotations

import json
import time

from sqlalchemy import Engine, event
from sqlmodel import col, select

from bot.reflection.service import CONFIRM
from storage.models import Action, Answer, HandledKey, OutboxMessage, Reflection
from tests.slack.conftest import (
    LEAD,
    LONE_PRACTITIONER,
    PRACTITIONER,
    SUPERVISOR,
    SlackDriver,
    complete_quickly,
    ephemeral_text,
    message_text,
    skip_to_confirmation,
)


def _reflection(slack: SlackDriver, user: str = PRACTITIONER) -> Reflection:
    with slack.new_session() as session:
        reflection = session.exec(
            select(Reflection).where(Reflection.practitioner_id == user)
        ).first()
        assert reflection is not None
        return reflection


# The reflection opens with whether anything is for today (3: no), the purpose and worry, what
# is working well and the scale; these typed answers (none mentioning anything that asks a
# confirming question: no "hungry", "tired" or other word Reflect listens for) bring it to the
# child's day, and OPENED is what they store. Each is typed once its question has arrived.
OPENING = ("3", "A planned visit; she seems quiet and withdrawn", "Good attendance at school", "6")
OPENED = {
    "today": "no",
    "worry": "A planned visit; she seems quiet and withdrawn",
    "working_well": "Good attendance at school",
    "scale": "6",
}


def answer_the_opening(slack: SlackDriver, user: str = PRACTITIONER) -> None:
    for answer in OPENING:
        slack.deliver()
        assert slack.message(user, answer).status == 200
    assert "Picture the child's day" in slack.texts_to(user)[-1]


# A whole first reflection as a social worker might answer it, by the question each answer is
# for: (how, answer), "press" a choice button by its number, "tick" checkboxes, "type" a message,
# "date" pick from the date picker. A question asked that is not here fails the test, and so
# does an answer never asked for: the test proves the path as well as the answers.
WHOLE_REFLECTION: dict[str, list[tuple[str, str]]] = {
    "today": [("press", "3")],  # nothing for today
    "worry": [
        (
            "type",
            "A planned home visit after school's third neglect referral; "
            "I want to see her room and what there is to eat",
        )
    ],
    "confirm_neglect": [("press", "1")],
    "working_well": [("type", "She goes to school every day and loves her teaching assistant")],
    "scale": [("type", "4")],
    "child_day": [
        (
            "type",
            "She gets herself up and to school; mum is often asleep when she leaves "
            "and tea is usually crisps",
        )
    ],  # four words or more: development is not asked as well
    "child_seen": [("press", "1")],
    "household": [
        (
            "type",
            "Mum, her older brother, and mum's boyfriend, who stays most weekends "
            "and whom I haven't met",
        )
    ],
    "confirm_unmet_man": [("press", "1")],
    "identity": [("type", "1")],  # language, typed as its number
    "identity_detail": [("type", "Family speaks Polish at home; her brother helps")],
    "medical": [("press", "2")],
    "chronology": [("press", "2")],  # not read yet
    "history": [("type", "Two referrals from school last year, closed after an assessment")],
    "sources": [("tick", "1, 3")],  # parent, school
    "risks": [("tick", "1, 3")],  # alcohol, domestic abuse
    "confirm_alcohol": [("press", "1")],
    "at_the_time": [
        (
            "type",
            "She stays in her room when mum has been drinking; "
            "school report she smelt of alcohol at pick-up",
        )
    ],
    "pregnancy": [("press", "2")],
    "outside_home": [("skip", "button")],
    "engagement": [("press", "2")],  # agreeing, little changes
    "real_change": [
        ("type", "Attendance above 90% and the child telling school she has had breakfast")
    ],
    "explanations": [("type", "Mum may be low rather than neglectful; I could ask the GP")],
    "network": [("tick", "1, 2")],  # school, health
    "agency_response": [("press", "2")],  # disagree
    "escalated": [("press", "2")],  # not yet
    "plan:what": [
        ("type", "Read the chronology and talk to the school DSL - me"),
        ("type", "See the child on her own at school on Tuesday - me"),
        ("type", "done"),
    ],
    "plan:due": [("date", "2026-12-04")],  # no date in the line: "By when?"
    "plan_contingency": [("type", "Ask my team manager for a joint visit")],
    "lead_contact": [("type", "not yet")],
    "supervisor_ask": [("press", "2")],  # a call first
}


def _position(slack: SlackDriver, user: str) -> tuple[str | None, str | None]:
    with slack.new_session() as session:
        reflection = session.exec(
            select(Reflection).where(
                Reflection.practitioner_id == user, Reflection.status == "in_progress"
            )
        ).first()
        return (
            (reflection.current_question, reflection.current_step) if reflection else (None, None)
        )


def test_a_reflection_to_completion_by_typing_and_buttons(slack: SlackDriver) -> None:
    response = slack.command(PRACTITIONER, "csc-1001")
    assert response.status == 200
    assert "waiting in our direct message" in ephemeral_text(response)
    first = message_text(slack.last_message(PRACTITIONER))
    assert "First: does anything need action today?" in first
    assert "1 Yes · 2 Not sure · 3 No" in first  # the options inline
    assert "_A child who needs help today can't wait for the visit._" in first  # a first reflection

    script = {key: list(answers) for key, answers in WHOLE_REFLECTION.items()}
    asked: list[str] = []
    ticked = picked = 0
    for _ in range(80):
        question, step = _position(slack, PRACTITIONER)
        if question is None or question == CONFIRM:
            break
        here = f"{question}:{step}" if question == "plan" else question
        asked.append(here)
        assert script.get(here), f"{here} was asked, unscripted; asked so far {asked}"
        how, answer = script[here].pop(0)
        if how == "press":  # a choice button
            response = slack.press(PRACTITIONER, f"reflect_answer_{answer}")
        elif how == "tick":  # choose all that apply: checkboxes
            response = slack.tick_and_send(PRACTITIONER, answer.replace(" ", "").split(","))
            ticked += 1
        elif how == "date":  # the date picker
            response = slack.pick_date(PRACTITIONER, answer)
            picked += 1
        elif how == "skip":
            response = slack.press(PRACTITIONER, "reflect_cmd_skip")
        else:
            slack.deliver()  # typed once the question has arrived
            response = slack.message(PRACTITIONER, answer)
        assert response.status == 200
    assert _position(slack, PRACTITIONER) == (CONFIRM, None)
    assert not {k: v for k, v in script.items() if v}, f"never asked; asked {asked}"
    assert (ticked, picked) == (3, 1)
    assert "development" not in asked and "household_met" not in asked  # answered by words
    confirm = slack.texts_to(PRACTITIONER)[-1]
    assert "*That's all for CSC-1001.*" in confirm
    assert f"your supervisor <@{SUPERVISOR}>" in confirm and "Type *send* to finish" in confirm
    assert slack.press(PRACTITIONER, "reflect_answer_send").status == 200

    reflection = _reflection(slack)
    assert reflection.status == "completed"
    with slack.new_session() as session:
        actions = list(session.exec(select(Action).where(Action.reflection_id == reflection.id)))
    assert [(a.what, a.owner, a.due_on and a.due_on.isoformat()) for a in actions] == [
        ("Read the chronology and talk to the school DSL", "me", "2026-12-04"),
        ("See the child on her own at school on Tuesday", "me", "2026-12-01"),
    ]
    assert {a.contingency for a in actions} == {"Ask my team manager for a joint visit"}

    with slack.new_session() as session:
        stored = {a.question_id: a.value for a in session.exec(select(Answer))}
    assert stored["today"] == "no" and stored["child_seen"] == "seen_alone"
    assert stored["sources"] == "parent,school" and stored["risks"] == "alcohol,domestic_abuse"
    assert stored["network"] == "school,health" and stored["identity"] == "language"
    assert stored["lead_contact"] == "not_yet"  # typed as its words; so the reminder comes
    texts = slack.texts_to(PRACTITIONER)
    assert any(t.startswith(f"*Saved.* Sent to <@{SUPERVISOR}>") for t in texts)
    assert any("Summary: CSC-1001" in t for t in texts)
    reminder = slack.last_message(PRACTITIONER, with_action="lead_contact_confirmed")
    assert f"<@{LEAD}>" in message_text(reminder)  # the lead named by mention

    supervisor_copy = slack.last_message(SUPERVISOR, with_action="summary_acknowledge")
    assert f"<@{PRACTITIONER}> has finished a reflection on CSC-1001" in message_text(
        supervisor_copy
    )
    assert "summary_add_note" in json.dumps(supervisor_copy)
    assert "Attendance above 90%" not in message_text(supervisor_copy)  # behind a button
    assert "Attendance above 90%" in slack.show_answers(SUPERVISOR, message=supervisor_copy)

    assert slack.press(PRACTITIONER, "lead_contact_confirmed", message=reminder).status == 200
    assert _reflection(slack).lead_contact_confirmed_at is not None
    assert "talked CSC-1001 through" in slack.texts_to(PRACTITIONER)[-1]


def test_pause_then_resume_from_the_command(slack: SlackDriver) -> None:
    slack.command(PRACTITIONER, "CSC-1002")
    answer_the_opening(slack)
    slack.message(PRACTITIONER, "Up early, gets her brother ready")
    assert slack.press(PRACTITIONER, "reflect_cmd_pause").status == 200
    assert "Paused" in slack.texts_to(PRACTITIONER)[-1]
    assert _reflection(slack).status == "paused"

    # A typed answer while paused changes nothing and says how to carry on.
    slack.message(PRACTITIONER, "2")
    assert "/reflect" in slack.texts_to(PRACTITIONER)[-1]

    response = slack.command(PRACTITIONER, "CSC-1002")
    assert "Picking up CSC-1002" in ephemeral_text(response)
    resumed = slack.texts_to(PRACTITIONER)[-1]
    assert "Welcome back to CSC-1002" in resumed
    assert "Have you seen the child" in resumed
    slack.press(PRACTITIONER, "reflect_answer_1")
    with slack.new_session() as session:
        stored = {a.question_id: a.value for a in session.exec(select(Answer))}
    assert stored == {
        **OPENED,
        "child_day": "Up early, gets her brother ready",
        "child_seen": "seen_alone",
    }


def test_a_double_click_acts_once_and_an_old_button_changes_nothing(slack: SlackDriver) -> None:
    slack.command(PRACTITIONER, "CSC-1003")
    answer_the_opening(slack)
    slack.message(PRACTITIONER, "School in the day, home with mum after")
    choice = slack.last_message(PRACTITIONER, with_action="reflect_answer_2")
    slack.press(PRACTITIONER, "reflect_answer_2", message=choice)
    slack.press(PRACTITIONER, "reflect_answer_2", message=choice)  # the second of a double click
    slack.deliver()
    with slack.new_session() as session:
        answers = {a.question_id: a.value for a in session.exec(select(Answer))}
    assert answers == {
        **OPENED,
        "child_day": "School in the day, home with mum after",
        "child_seen": "seen_too_young",
    }
    sent = len(slack.fake.messages_to(PRACTITIONER))

    # Much later, the Skip button under the first question is pressed: nothing is skipped.
    first = slack.fake.messages_to(PRACTITIONER)[0]
    slack.press(PRACTITIONER, "reflect_cmd_skip", message=first)
    texts = slack.texts_to(PRACTITIONER)
    assert len(texts) == sent + 1
    assert "That button was for an earlier question" in texts[-1]
    with slack.new_session() as session:
        assert len(list(session.exec(select(Answer)))) == len(OPENED) + 2


def test_bot_messages_and_edits_are_not_answers(slack: SlackDriver) -> None:
    slack.command(PRACTITIONER, "CSC-1004")
    before = len(slack.texts_to(PRACTITIONER))
    assert before == 1
    base = {"type": "message", "channel": "D0TESTDM", "channel_type": "im", "ts": "1.0"}
    slack.event({**base, "user": "U0TESTBOT", "bot_id": "B0TESTBOT", "text": "Skip"})
    slack.event({**base, "subtype": "message_changed", "message": {"text": "x"}})
    slack.event({**base, "channel_type": "channel", "user": PRACTITIONER, "text": "skip"})
    slack.deliver()
    assert len(slack.fake.messages_to(PRACTITIONER)) == before
    with slack.new_session() as session:
        assert list(session.exec(select(Answer))) == []


def test_a_retried_event_is_handled_once(slack: SlackDriver) -> None:
    slack.command(PRACTITIONER, "CSC-1005")
    answer_the_opening(slack)
    first = slack.message(PRACTITIONER, "Breakfast club, then school", event_id="Ev0RETRY1")
    retry = slack.message(
        PRACTITIONER,
        "Breakfast club, then school",
        event_id="Ev0RETRY1",
        **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"},
    )
    assert first.status == retry.status == 200
    slack.deliver()
    with slack.new_session() as session:
        assert [a.question_id for a in session.exec(select(Answer).order_by(col(Answer.id)))] == [
            *OPENED,
            "child_day",
        ]
        keys = [m.dedupe_key for m in session.exec(select(OutboxMessage))]
        assert session.get(HandledKey, "ev:Ev0RETRY1") is not None
    assert len([k for k in keys if k.startswith("ev:Ev0RETRY1")]) == 1
    texts = slack.texts_to(PRACTITIONER)
    assert sum("Have you seen the child" in t for t in texts) == 1


def test_answer_text_reaches_slack_escaped(slack: SlackDriver) -> None:
    slack.command(PRACTITIONER, "CSC-1006")
    # Slack delivers a typed @channel as <!channel>, and a typed < as &lt;.
    slack.message(PRACTITIONER, "Told <!channel> & <@U0SOMEONE> that 3 &lt; 4")
    slack.press(PRACTITIONER, "reflect_cmd_back")
    text = slack.texts_to(PRACTITIONER)[-1]
    assert "&lt;!channel&gt; &amp; &lt;@U0SOMEONE&gt; that 3 &lt; 4" in text
    for message in slack.fake.messages_to(PRACTITIONER):
        assert "<!channel>" not in json.dumps(message)
        assert "<@U0SOMEONE>" not in json.dumps(message)
    with slack.new_session() as session:
        answer = session.exec(select(Answer)).one()
    assert answer.value == "Told <!channel> & <@U0SOMEONE> that 3 < 4"  # kept as typed


def test_no_supervisor_is_told_and_the_summary_kept(slack: SlackDriver) -> None:
    complete_quickly(slack, LONE_PRACTITIONER, "CSC-1007")
    texts = slack.texts_to(LONE_PRACTITIONER)
    assert any("no supervisor is set up for you" in t for t in texts)
    assert any("Summary: CSC-1007" in t for t in texts)
    assert _reflection(slack, LONE_PRACTITIONER).summary is not None
    assert slack.fake.messages_to(SUPERVISOR) == []


def test_the_reflect_start_button_starts_like_the_command(slack: SlackDriver) -> None:
    response = slack.click(
        PRACTITIONER,
        {"type": "button", "action_id": "reflect_start", "value": "CSC-1008"},
        "clock:prompt",
    )
    assert response.status == 200
    assert "Reflecting on CSC-1008" in slack.texts_to(PRACTITIONER)[-1]
    bad = slack.click(
        PRACTITIONER, {"type": "button", "action_id": "reflect_start", "value": "bad ref"}, "x"
    )
    assert bad.status == 200
    assert "doesn't look like a case reference" in slack.texts_to(PRACTITIONER)[-1]


def test_the_confirmation_shows_who_will_see_the_summary(slack: SlackDriver) -> None:
    slack.command(PRACTITIONER, "CSC-1009")
    skip_to_confirmation(slack, PRACTITIONER)
    assert f"your supervisor <@{SUPERVISOR}>" in slack.texts_to(PRACTITIONER)[-1]
    slack.press(PRACTITIONER, "reflect_cmd_back")
    assert "Going back" in slack.texts_to(PRACTITIONER)[-1]


def test_buttons_stay_good_until_their_question_is_answered(slack: SlackDriver) -> None:
    slack.command(PRACTITIONER, "CSC-1010")
    answer_the_opening(slack)
    slack.message(PRACTITIONER, "Up at seven, breakfast at school")
    choice = slack.last_message(PRACTITIONER, with_action="reflect_answer_5")
    slack.message(PRACTITIONER, "maybe")  # not understood: the question is still open
    assert "Sorry, I didn't follow that" in slack.texts_to(PRACTITIONER)[-1]
    slack.press(PRACTITIONER, "reflect_answer_5", message=choice)  # the earlier message's button
    with slack.new_session() as session:
        stored = {a.question_id: a.value for a in session.exec(select(Answer))}
    assert stored["child_seen"] == "not_seen"


def test_pressing_the_checkbox_button_with_nothing_ticked_changes_nothing(
    slack: SlackDriver,
) -> None:
    slack.command(PRACTITIONER, "CSC-1011")
    answer_the_opening(slack)
    typed = (
        "Nursery in the morning, then home with her mum",  # development: answered by this
        "1",  # child_seen: seen and heard on their own
        "Mum and her sister",
        "1",  # household_met: met them all
        "6",  # identity: none of these
        "skip",  # medical
        "3",  # chronology: there isn't one
        "One referral from nursery in March",
    )
    for answer in typed:
        slack.message(PRACTITIONER, answer)
        slack.deliver()  # the next question arrives before the next answer is typed
    with slack.new_session() as session:
        stored = {a.question_id: a.value for a in session.exec(select(Answer))}
    assert stored == {
        **OPENED,
        "child_day": "Nursery in the morning, then home with her mum",
        "child_seen": "seen_alone",
        "household": "Mum and her sister",
        "household_met": "met_all",
        "identity": "none",
        "medical": None,
        "chronology": "none",
        "history": "One referral from nursery in March",
    }
    assert "Who have you heard from besides the parent" in slack.texts_to(PRACTITIONER)[-1]
    assert slack.tick_and_send(PRACTITIONER, []).status == 200
    assert "Tick the boxes that apply" in slack.texts_to(PRACTITIONER)[-1]
    assert slack.tick_and_send(PRACTITIONER, ["1", "4"]).status == 200
    with slack.new_session() as session:
        stored = {a.question_id: a.value for a in session.exec(select(Answer))}
    assert stored["sources"] == "parent,health"


def test_the_second_click_of_a_double_click_is_silent_even_when_the_first_lands_mid_check(
    slack: SlackDriver, engine: Engine
) -> None:
    """The second click finds the button unclaimed, then the first click's answer commits, then
    the second finds its question gone: that is still a double click, and says nothing."""
    slack.command(PRACTITIONER, "CSC-1004")
    answer_the_opening(slack)
    slack.message(PRACTITIONER, "School in the day, home with mum after")
    choice = slack.last_message(PRACTITIONER, with_action="reflect_answer_1")
    before = len(slack.fake.messages_to(PRACTITIONER))
    landed: list[bool] = []

    def first_click_lands(connection, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        if "handled_key" in statement and statement.lstrip().startswith("SELECT") and not landed:
            landed.append(True)
            slack.press(PRACTITIONER, "reflect_answer_1", message=choice)

    event.listen(engine, "after_cursor_execute", first_click_lands)
    try:
        slack.press(PRACTITIONER, "reflect_answer_1", message=choice)  # the second click
    finally:
        event.remove(engine, "after_cursor_execute", first_click_lands)
    assert landed
    texts = slack.texts_to(PRACTITIONER)[before:]
    assert len(texts) == 1 and "earlier question" not in texts[0]


def test_a_reply_typed_while_the_next_question_waits_to_be_sent_is_not_its_answer(
    slack: SlackDriver,
) -> None:
    """Slack is refusing posts for a moment, so the next question is recorded but not sent;
    what the practitioner types meanwhile belongs to the question they can see."""
    slack.command(PRACTITIONER, "CSC-1005")
    answer_the_opening(slack)
    slack.fake.fail_next(1, status=429, retry_after=30, method="chat.postMessage")
    slack.message(PRACTITIONER, "Nursery in the morning, then home with mum")
    assert slack.deliver().retrying == 1  # the second question waits to be sent
    time.sleep(0.01)
    slack.message(PRACTITIONER, "She said she was hungry at pick-up")
    with slack.new_session() as session:
        stored = {a.question_id: a.value for a in session.exec(select(Answer))}
        [reflection] = session.exec(select(Reflection)).all()
    assert stored == {
        **OPENED,
        "child_day": "Nursery in the morning, then home with mum\n\n"
        "She said she was hungry at pick-up",
    }
    assert reflection.current_question == "child_seen"
    slack.clock.advance(31)
    texts = slack.texts_to(PRACTITIONER)
    assert "Have you seen the child" in texts[-2] and "Added that to your answer" in texts[-1]


def test_an_owner_named_by_a_mention_is_stored_as_their_id(slack: SlackDriver) -> None:
    """The owner is read from the action's line; named by a mention, it is the person, so the
    clock can remind them."""
    slack.command(PRACTITIONER, "CSC-1001")
    for _ in range(80):
        if _position(slack, PRACTITIONER)[0] == "plan":
            break
        slack.message(PRACTITIONER, "skip")
    slack.deliver()
    slack.message(PRACTITIONER, "Visit school to see the child alone on Friday - <@U0TESTOWNR|sam>")
    assert (
        "Noted: Visit school to see the child alone on Friday (" in slack.texts_to(PRACTITIONER)[-1]
    )
    slack.message(PRACTITIONER, "Ring the GP about her weight tomorrow - me")
    with slack.new_session() as session:
        actions = list(session.exec(select(Action).order_by(col(Action.position))))
    assert [(a.what, a.owner, a.owner_person_id) for a in actions] == [
        ("Visit school to see the child alone on Friday", "<@U0TESTOWNR|sam>", "U0TESTOWNR"),
        ("Ring the GP about her weight tomorrow", "me", PRACTITIONER),
    ]


def test_something_for_today_tells_the_supervisor_at_once_and_may_stop_until_later(
    slack: SlackDriver,
) -> None:
    slack.command(PRACTITIONER, "CSC-1012")
    slack.deliver()
    assert slack.message(PRACTITIONER, "yes").status == 200  # typed, not pressed
    asked = slack.texts_to(PRACTITIONER)[-1]
    assert "*This is for today, not only for the visit.*" in asked  # the immediate message
    assert "Follow your local safeguarding procedure today" in asked
    assert "What will you do in the next hour, and who will you ring?" in asked
    assert slack.fake.messages_to(SUPERVISOR) == []  # nothing yet: the next hour is not said

    slack.message(PRACTITIONER, "Ring the duty social worker now and then my manager")
    told = slack.texts_to(PRACTITIONER)[-1]
    assert f"I've told your supervisor <@{SUPERVISOR}> now" in told
    assert "1 Stop here for now · 2 Carry on" in told
    [alert] = slack.texts_to(SUPERVISOR)  # before the reflection is finished
    assert f"<@{PRACTITIONER}> says something on CSC-1012 may need action today." in alert
    assert "Anything for today: Yes" in alert
    assert "In the next hour: Ring the duty social worker now and then my manager" in alert
    assert _reflection(slack).status == "in_progress" and _reflection(slack).summary is None

    assert slack.press(PRACTITIONER, "reflect_answer_1").status == 200  # stop here for now
    assert "Stopped here for now" in slack.texts_to(PRACTITIONER)[-1]
    assert _reflection(slack).status == "paused"
    with slack.new_session() as session:
        stored = {a.question_id: a.value for a in session.exec(select(Answer))}
    assert stored == {
        "today": "yes",
        "today_next": "Ring the duty social worker now and then my manager",
        "today_stop": "stop",
    }

    response = slack.command(PRACTITIONER, "CSC-1012")
    assert "Picking up CSC-1012" in ephemeral_text(response)
    resumed = slack.texts_to(PRACTITIONER)[-1]
    assert "Welcome back to CSC-1012" in resumed
    assert "What is this visit for, and what worries you most for the child?" in resumed
    assert len(slack.texts_to(SUPERVISOR)) == 1  # told once, not again on resuming
