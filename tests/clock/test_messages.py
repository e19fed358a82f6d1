"""Every kind of clock message, as the Slack front end renders it, is valid Block Kit within
Slack's limits, escapes user text, and carries the buttons the listeners answer."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from slack_sdk.web import WebClient

from bot.clock import messages
from bot.messaging.message import CONVERSATION, Message
from bot.slack import blocks as bk
from bot.slack.frontend import SlackFrontEnd

PRAC = "U0TESTPRAC"


def slack(message: Message, recipient: str = PRAC) -> dict[str, Any]:
    """The one chat.postMessage payload the message becomes, after a trip through storage."""
    stored = Message.from_json(message.to_json())
    [post] = SlackFrontEnd(WebClient()).render(CONVERSATION, recipient, stored)
    assert post.method == "chat.postMessage"
    return post.payload


def long_digest() -> dict[str, Any]:
    refs = [f"CSC-{n:04d}" for n in range(20)]  # the digest lists twenty of each, then counts
    sent = datetime(2026, 12, 1, 10, tzinfo=UTC)
    return slack(
        messages.digest(
            week_of=date(2026, 12, 7),
            awaiting=(400, [(r, sent) for r in refs]),
            long_open=(400, refs),
            overdue=(400, [(r, date(2026, 12, 1)) for r in refs]),
            long_open_days=90,
            quiet_days=28,
            flagged=(400, [(r, ["drift", "escalation"]) for r in refs]),
        )
    )


PAYLOADS = {
    "long_open": lambda: slack(
        messages.long_open(
            case_ref="CSC-1001", opened_on=date(2026, 6, 1), days_open=189, quiet_days=28
        )
    ),
    "unfinished": lambda: slack(messages.unfinished(case_ref="CSC-1001", status="paused")),
    "lead_followup": lambda: slack(
        messages.lead_followup(
            case_ref="CSC-1001",
            completed_at=datetime(2026, 12, 3, 10, tzinfo=UTC),
            reflection_id=7,
            lead_ids=["U0TESTLEAD", "U0TESTLED2"],
        )
    ),
    "action_due": lambda: slack(
        messages.action_due(
            case_ref="CSC-1001",
            due_on=date(2026, 12, 4),
            what="<!channel> & visit school",
            for_owner=False,
            practitioner_id=PRAC,
        )
    ),
    "action_due_owner": lambda: slack(
        messages.action_due(
            case_ref="CSC-1001",
            due_on=date(2026, 12, 4),
            what=None,
            for_owner=True,
            practitioner_id=PRAC,
        ),
        "U0TESTOWNR",
    ),
    "digest": long_digest,
}


def shown(payload: dict[str, Any]) -> str:
    """What the message shows: its sections' text (its ``text`` is only the notification)."""
    return "\n".join(b["text"]["text"] for b in payload["blocks"] if b["type"] == "section")


@pytest.mark.parametrize("kind", sorted(PAYLOADS))
def test_every_clock_message_is_valid_block_kit(kind: str) -> None:
    payload = PAYLOADS[kind]()
    bk.validate(payload["blocks"], limit=bk.MESSAGE_BLOCK_LIMIT)
    assert payload["text"] and len(payload["text"]) <= 40_000
    for block in payload["blocks"]:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= bk.SECTION_TEXT_LIMIT


def test_user_text_in_a_reminder_is_escaped() -> None:
    text = shown(PAYLOADS["action_due"]())
    assert "<!channel>" not in text and "&lt;!channel&gt; &amp; visit school" in text


def test_digest_counts_what_it_does_not_list() -> None:
    text = shown(long_digest())
    assert text.count("and 380 more") == 4
    assert "Cases with drift or escalation flags this week (400)" in text


def test_buttons_carry_the_shared_action_ids() -> None:
    start = PAYLOADS["long_open"]()["blocks"][-1]["elements"][0]
    confirm = PAYLOADS["lead_followup"]()["blocks"][-1]["elements"][0]
    assert (start["action_id"], start["value"]) == ("reflect_start", "CSC-1001")
    assert (confirm["action_id"], confirm["value"]) == ("lead_contact_confirmed", "7")


def test_an_action_written_at_length_is_shortened_to_one_message_in_its_reminder() -> None:
    payload = slack(
        messages.action_due(
            case_ref="CSC-1001",
            due_on=date(2026, 12, 4),
            what="Ask the school nurse & the GP about attendance. " * 400,  # 19,600 characters
            for_owner=False,
            practitioner_id=PRAC,
        )
    )
    assert len(payload["blocks"]) == 1
    assert sum(bk.block_size(b) for b in payload["blocks"]) <= bk.MESSAGE_TEXT_BUDGET
    assert "…" in shown(payload) and "/reflect CSC-1001" in shown(payload)


@pytest.mark.parametrize(
    ("kind", "label", "action_id", "value"),
    [
        ("long_open", "Reflect on CSC-1001", "reflect_start", "CSC-1001"),
        ("unfinished", "Carry on with CSC-1001", "reflect_start", "CSC-1001"),
        ("lead_followup", "I've talked to the lead", "lead_contact_confirmed", "7"),
    ],
)
def test_a_nudge_renders_one_primary_button_under_its_text_as_slack_expects(
    kind: str, label: str, action_id: str, value: str
) -> None:
    """The button a nudge offers is named by what it does in storage; the Slack front end
    gives it the action ID and value the listeners answer, and the clock's own label."""
    payload = PAYLOADS[kind]()
    *texts, buttons = payload["blocks"]
    assert {b["type"] for b in texts} == {"section"}
    assert payload["channel"] == PRAC
    assert buttons == {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "text": {"type": "plain_text", "text": label, "emoji": True},
                "action_id": action_id,
                "value": value,
                "style": "primary",
            }
        ],
    }
