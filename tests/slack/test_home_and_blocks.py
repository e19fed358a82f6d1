"""App Home, and the Block Kit builders: long text split, never refused; limits kept."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import select

from bot.slack import blocks as bk
from storage.db import transaction
from storage.models import Action, Reflection
from tests.slack.conftest import (
    PRACTITIONER,
    SUPERVISOR,
    SlackDriver,
    complete_quickly,
    message_text,
    skip_to_confirmation,
)


def _home_text(slack: SlackDriver, user: str) -> str:
    slack.event({"type": "app_home_opened", "user": user, "tab": "home", "event_ts": "1.0"})
    slack.deliver()
    published = [
        c.body for c in slack.fake.successful("views.publish") if c.body["user_id"] == user
    ]
    assert published, "no home view published"
    return message_text(published[-1]["view"])


def test_home_for_a_practitioner_and_a_supervisor(slack: SlackDriver) -> None:
    complete_quickly(slack, PRACTITIONER, "CSC-4001")
    with transaction(slack.new_session) as session:
        reflection = session.exec(select(Reflection)).one()
        session.add(
            Action(
                reflection_id=reflection.id or 0,
                position=9,
                what="Visit with the school nurse",
                due_on=date(2026, 11, 30),
                status="complete",
            )
        )
    slack.command(PRACTITIONER, "CSC-4002")
    slack.press(PRACTITIONER, "reflect_cmd_pause")

    home = _home_text(slack, PRACTITIONER)
    assert "CSC-4002: paused" in home
    assert "*CSC-4001*: open 0 days; last reflection 0 days ago.\n" in home
    assert "CSC-4001: Visit with the school nurse; by Monday 30 November 2026." in home
    view = slack.fake.successful("views.publish")[-1].body["view"]
    assert view["type"] == "home"
    assert "reflect_start" in str(view["blocks"])

    supervisor_home = _home_text(slack, SUPERVISOR)
    assert f"<@{PRACTITIONER}> on CSC-4001" in supervisor_home
    copy = slack.last_message(SUPERVISOR, with_action="summary_acknowledge")
    slack.press(SUPERVISOR, "summary_acknowledge", message=copy)
    assert "awaiting your acknowledgement" not in _home_text(slack, SUPERVISOR)


def test_the_messages_tab_publishes_nothing(slack: SlackDriver) -> None:
    slack.event({"type": "app_home_opened", "user": PRACTITIONER, "tab": "messages"})
    slack.deliver()
    assert slack.fake.successful("views.publish") == []


def test_a_long_summary_is_split_across_sections_and_messages(slack: SlackDriver) -> None:
    slack.command(PRACTITIONER, "CSC-4003")
    long_answer = ("The evenings are hard to picture & nobody has said why. " * 300).strip()
    assert slack.message(PRACTITIONER, long_answer).status == 200
    skip_to_confirmation(slack, PRACTITIONER)
    slack.message(PRACTITIONER, "send")
    slack.deliver()
    before = len(slack.fake.messages_to(SUPERVISOR))
    slack.show_answers(SUPERVISOR)  # the answers, behind their button
    sections = [
        b["text"]["text"]
        for m in slack.fake.messages_to(SUPERVISOR)[before:]
        for b in m["blocks"]
        if b["type"] == "section"
    ]
    assert len(sections) > 6
    assert all(len(s) <= bk.SECTION_TEXT_LIMIT for s in sections)
    joined = " ".join(sections)
    assert joined.count("The evenings are hard to picture &amp; nobody") == 300
    # the fixture's teardown validates every payload the fake server received


def test_split_text_keeps_entities_whole_and_respects_the_limit() -> None:
    text = "a" * 2995 + " &amp; " + "b" * 10
    pieces = bk.split_text(text)
    assert all(len(p) <= bk.SECTION_TEXT_LIMIT for p in pieces)
    assert "".join(pieces).replace(" ", "") == text.replace(" ", "")
    unbroken = "&lt;" * 2000
    pieces = bk.split_text(unbroken)
    assert all(p.count("&") == p.count(";") for p in pieces)
    assert "".join(pieces) == unbroken


def test_many_blocks_become_several_messages() -> None:
    blocks = [bk.sections(f"line {n}")[0] for n in range(120)]
    payloads = bk.chat_messages("U0TESTPRAC", blocks)
    assert [len(p["blocks"]) for p in payloads] == [50, 50, 20]
    assert all(p["channel"] == "U0TESTPRAC" and p["text"] for p in payloads)


def test_validate_rejects_what_slack_would() -> None:
    with pytest.raises(bk.BlockLimitError):
        bk.validate([{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}], limit=50)
    with pytest.raises(bk.BlockLimitError):
        bk.validate(bk.sections("x") * 51, limit=50)
    long_label = bk.button("y" * 200, action_id="a", value="v")
    bk.validate([bk.actions("b", [long_label])], limit=50)  # truncated to fit
    assert len(long_label["text"]["text"]) <= bk.BUTTON_TEXT_LIMIT


def test_a_checked_shape_still_refuses_a_block_id_too_long() -> None:
    buttons = [bk.button("Skip", action_id="reflect_skip", value="skip")]
    bk.validate([bk.actions("reflect:12.1700000000000000.q3", buttons)], limit=50)
    bk.validate([bk.actions("reflect:12.1700000000000001.q3", buttons)], limit=50)  # same shape
    with pytest.raises(bk.BlockLimitError, match="block_id"):
        bk.validate([bk.actions("r" * 256, buttons)], limit=50)
    with pytest.raises(bk.BlockLimitError):
        bk.validate(
            [{**bk.actions("reflect:12.1700000000000002.q3", buttons), "type": "nope"}], limit=50
        )


def test_what_was_checked_is_remembered_without_what_was_typed() -> None:
    typed = "Mum said the baby sleeps in her room, BUDGIE-7731"
    bk.validate(bk.sections(typed), limit=50)
    assert bk._CHECKED and "BUDGIE-7731" not in repr(bk._CHECKED)
    assert all(len(key) == 16 for key in bk._CHECKED)  # digests only


def test_every_start_button_survives_plans_written_at_length(slack: SlackDriver) -> None:
    """Twenty actions written at the greatest length allowed still leave room in the App Home
    for the start button of every open case."""
    complete_quickly(slack, PRACTITIONER, "CSC-4010")
    with transaction(slack.new_session) as session:
        reflection = session.exec(select(Reflection)).one()
        for position in range(20):
            session.add(
                Action(
                    reflection_id=reflection.id or 0,
                    position=position + 10,
                    what=f"Action {position}: " + "ask the school about mornings and lunch " * 480,
                    due_on=date(2026, 12, 1),
                    status="complete",
                )
            )
    slack.event({"type": "app_home_opened", "user": PRACTITIONER, "tab": "home", "event_ts": "1.0"})
    slack.deliver()
    view = slack.fake.successful("views.publish")[-1].body["view"]
    bk.validate(view["blocks"], limit=bk.HOME_BLOCK_LIMIT)
    assert "reflect_start" in str(view["blocks"]) and "CSC-4010" in str(view["blocks"])
    assert "Action 19:" in message_text(view)
