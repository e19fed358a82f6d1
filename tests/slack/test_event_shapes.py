"""Event shapes real Slack sends to a DM app: a rate-limit notice, thread broadcasts, /me
messages, edits, and Slackbot."""

from __future__ import annotations

import json
import time

from sqlmodel import col, select

from storage.models import Answer, InboxItem, OutboxMessage
from tests.slack.conftest import PRACTITIONER, SlackDriver, dm_event

QUESTION_TWO = "What is this visit for, and what worries you most"  # after today


def answers(slack: SlackDriver) -> dict[str, str | None]:
    with slack.new_session() as session:
        return {
            a.question_id: a.value for a in session.exec(select(Answer).order_by(col(Answer.id)))
        }


def recorded(slack: SlackDriver) -> int:
    with slack.new_session() as session:
        return len(list(session.exec(select(OutboxMessage)))) + len(
            list(session.exec(select(InboxItem)))
        )


def test_slacks_rate_limit_notice_gets_a_200_and_changes_nothing(slack: SlackDriver) -> None:
    body = json.dumps(
        {
            "token": "legacy",
            "type": "app_rate_limited",
            "team_id": "T0TEST",
            "minute_rate_limited": int(time.time()) // 60 * 60,
            "api_app_id": "A0TEST",
        }
    )
    before = recorded(slack)
    assert slack.dispatch(body, content_type="application/json").status == 200
    assert recorded(slack) == before


def test_a_thread_broadcast_and_a_me_message_are_answers(slack: SlackDriver) -> None:
    slack.command(PRACTITIONER, "CSC-1101")
    slack.deliver()
    broadcast = {
        **dm_event(PRACTITIONER, "No, to meet her nan, who does the school run"),
        "subtype": "thread_broadcast",
        "thread_ts": "1700000000.000100",
    }
    assert slack.event(broadcast).status == 200
    assert answers(slack) == {"today": "No, to meet her nan, who does the school run"}
    assert QUESTION_TWO in slack.texts_to(PRACTITIONER)[-1]

    slack.command(PRACTITIONER, "CSC-1102")
    slack.deliver()
    me = {
        **dm_event(PRACTITIONER, "Nothing today, nan walks her to school"),
        "subtype": "me_message",
    }
    assert slack.event(me).status == 200
    assert "Nothing today, nan walks her to school" in answers(slack).values()


def test_an_edited_answer_is_not_read_and_the_practitioner_is_told_how_to_change_it(
    slack: SlackDriver,
) -> None:
    slack.command(PRACTITIONER, "CSC-1103")
    slack.message(PRACTITIONER, "No, a planned visit")
    sent = len(slack.texts_to(PRACTITIONER))

    def change(before: str, after: str, **extra: str) -> dict[str, object]:
        return {
            "type": "message",
            "subtype": "message_changed",
            "channel": "D0TESTDM",
            "channel_type": "im",
            "hidden": True,
            "ts": f"{time.time():.6f}",
            "message": {"type": "message", "user": PRACTITIONER, "text": after, **extra},
            "previous_message": {"type": "message", "user": PRACTITIONER, "text": before},
        }

    edit = change("No, a planned visit", "No, a planned visit, with her dad there")
    assert slack.event(edit, event_id="Ev0EDIT01").status == 200
    assert slack.event(edit, event_id="Ev0EDIT01").status == 200  # Slack's retry
    told = slack.texts_to(PRACTITIONER)
    assert len(told) == sent + 1 and "don't read edits" in told[-1] and "*back*" in told[-1]
    assert answers(slack) == {"today": "No, a planned visit"}

    # A link's preview being added, and the bot's own message updated: nothing to say.
    unfurled = change("see https://example.org", "see https://example.org")
    by_bot = change("a question", "a question, updated", bot_id="B0TESTBOT")
    for event_id, event in (("Ev0EDIT02", unfurled), ("Ev0EDIT03", by_bot)):
        assert slack.event(event, event_id=event_id).status == 200
    assert len(slack.texts_to(PRACTITIONER)) == sent + 1


def test_slackbot_in_the_dm_gets_no_reply(slack: SlackDriver) -> None:
    before = recorded(slack)
    assert slack.event(dm_event("USLACKBOT", "Reminder: supervision at 2pm")).status == 200
    assert recorded(slack) == before
    assert slack.fake.messages_to("USLACKBOT") == []
