"""Hostile and odd input through the real Bolt app: each gets a clear reply or a 4xx, never a
500 or a traceback, and no answer is lost.

Most requests go through the app as `reflect serve` dispatches them (the request guard, then
Bolt), signed; the malformed bodies also go over real HTTP to a `reflect serve` process.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlmodel import SQLModel, select

from storage.models import (
    Answer,
    AuditEntry,
    Case,
    OutboxMessage,
    Reflection,
    SupervisorNote,
)
from tests.slack.conftest import (
    LEAD,
    OTHER_PRACTITIONER,
    PRACTITIONER,
    SIGNING_SECRET,
    SUPERVISOR,
    SlackDriver,
    command_body,
    complete_quickly,
    ephemeral_text,
    event_body,
    message_text,
    sign,
    skip_to_confirmation,
)
from tests.slack.test_serve import Server, server  # noqa: F401 (fixtures)
from tools.fake_slack import FakeSlack

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
OUTSIDER = "U0TESTNORG"  # not in the organisation file
TOO_LONG = "characters, more than one answer can hold"


# ---------------------------------------------------------------------------- helpers


def snapshot(slack: SlackDriver) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, as stored (ciphertext included)."""
    with slack.new_session() as session:
        connection = session.connection()
        return {
            table.name: sorted((tuple(row) for row in connection.execute(table.select())), key=repr)
            for table in SQLModel.metadata.sorted_tables
        }


def answers(slack: SlackDriver, user: str = PRACTITIONER) -> dict[str, str | None]:
    with slack.new_session() as session:
        rows = session.exec(
            select(Answer)
            .join(Reflection, Reflection.id == Answer.reflection_id)  # type: ignore[arg-type]
            .where(Reflection.practitioner_id == user)
            .order_by(Answer.id)  # type: ignore[arg-type]
        )
        return {a.question_id: a.value for a in rows}


def reflection_of(slack: SlackDriver, user: str = PRACTITIONER) -> Reflection:
    with slack.new_session() as session:
        found = session.exec(select(Reflection).where(Reflection.practitioner_id == user)).first()
        assert found is not None
        return found


# The opening questions (nothing for today, the purpose and worry, what is working well, the
# scale), typed; none of these mentions anything that asks a confirming question (no "hungry",
# "tired" or other word Reflect listens for). OPENED is what they store.
OPENING = ("3", "A planned visit; she seems quiet and withdrawn", "Good attendance at school", "6")
OPENED = {
    "today": "no",
    "worry": "A planned visit; she seems quiet and withdrawn",
    "working_well": "Good attendance at school",
    "scale": "6",
}


def at_the_childs_day(slack: SlackDriver, case_ref: str) -> None:
    """A reflection under way: the opening answered, the child's day asked."""
    assert slack.command(PRACTITIONER, case_ref).status == 200
    for answer in OPENING:
        slack.deliver()  # each answer typed once its question has arrived
        assert slack.message(PRACTITIONER, answer).status == 200
    assert "The child's day, waking to bedtime" in slack.texts_to(PRACTITIONER)[-1]
    assert answers(slack) == OPENED


def at_the_choice_question(slack: SlackDriver, case_ref: str = "CSC-6001") -> None:
    """A reflection under way: the child's day answered, the first choice question asked."""
    at_the_childs_day(slack, case_ref)
    assert slack.message(PRACTITIONER, "Walks to school with her brother").status == 200
    assert "Have you seen the child" in slack.texts_to(PRACTITIONER)[-1]


def audit_rows(slack: SlackDriver, action: str) -> list[AuditEntry]:
    with slack.new_session() as session:
        return list(session.exec(select(AuditEntry).where(AuditEntry.action == action)))


def posts(slack: SlackDriver) -> list[dict[str, Any]]:
    return [c.body for c in slack.fake.calls if c.method == "chat.postMessage"]


# ---------------------------------------------------------------------------- text


@pytest.mark.parametrize("length", [40_000, 40_001, 100_000])
def test_a_message_at_or_beyond_slacks_limit_is_refused_and_nothing_is_lost(
    slack: SlackDriver, length: int
) -> None:
    at_the_choice_question(slack)
    before = reflection_of(slack)
    marker = "Long-answer-marker-7719 "
    text = (marker * (length // len(marker) + 1))[:length]

    assert slack.message(PRACTITIONER, text).status == 200

    reply = slack.texts_to(PRACTITIONER)[-1]
    assert TOO_LONG in reply and f"{length:,}" in reply
    assert "Nothing has been saved from it" in reply
    assert answers(slack) == {**OPENED, "child_day": "Walks to school with her brother"}
    after = reflection_of(slack)
    assert (after.current_question, after.status) == (before.current_question, "in_progress")
    assert not any(marker in json.dumps(body) for body in posts(slack))
    # The conversation carries on from where it was.
    assert slack.message(PRACTITIONER, "1").status == 200
    assert answers(slack)["child_seen"] == "seen_alone"


@pytest.mark.parametrize("text", ["", "   ", "\n\t "])
def test_empty_text_is_asked_again_and_stores_nothing(slack: SlackDriver, text: str) -> None:
    at_the_choice_question(slack)
    slack.deliver()
    before = snapshot(slack)["answer"]
    assert slack.message(PRACTITIONER, text).status == 200
    assert "I didn't catch an answer" in slack.texts_to(PRACTITIONER)[-1]
    assert snapshot(slack)["answer"] == before
    assert reflection_of(slack).current_question == "child_seen"


def test_emoji_and_right_to_left_scripts_are_stored_and_echoed_without_bidi_controls(
    slack: SlackDriver,
) -> None:
    typed = "Happy at nursery 👩‍👧‍👦🇬🇧 — قالت إنها بخير، שלום — \u202ereversed\u202c & <!here> ok"
    # Slack escapes &, < and > in what it sends us.
    sent = typed.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    at_the_childs_day(slack, "CSC-6002")
    assert slack.message(PRACTITIONER, sent).status == 200
    kept = typed.replace("\u202e", "").replace("\u202c", "")  # the override would reverse the line
    assert answers(slack) == {**OPENED, "child_day": kept}

    complete_quickly_from_here(slack)
    shown = slack.show_answers(PRACTITIONER)  # in Slack, the answers wait behind a button
    assert kept.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in shown
    supervisor = slack.show_answers(SUPERVISOR)
    assert "👩‍👧‍👦🇬🇧" in supervisor and "قالت إنها بخير" in supervisor
    sent_to_slack = json.dumps(posts(slack), ensure_ascii=False)
    assert "<!here>" not in sent_to_slack and "\u202e" not in sent_to_slack


def test_nul_characters_and_lone_surrogates_are_kept_and_sent_without_error(
    slack: SlackDriver,
) -> None:
    typed = "Nan\x00s house \ud800 after school"
    at_the_childs_day(slack, "CSC-6009")
    assert slack.message(PRACTITIONER, typed).status == 200  # JSON-escaped, as Slack sends it
    assert answers(slack) == {**OPENED, "child_day": typed}
    report = slack.deliver()
    assert report.failed == 0 and report.retrying == 0
    assert "Have you seen the child" in slack.texts_to(PRACTITIONER)[-1]


@pytest.mark.parametrize(
    "text",
    [
        "C" * 5000,
        "history " + "👩‍👧" * 500,
        "close <!channel> CSC-1",
        "history <@U0TESTSUPV>",
        "Mo Testperson",
        "قالت",
        "\u202eCSC-1001",
    ],
)
def test_odd_reflect_command_text_gets_a_clear_ephemeral_reply_and_changes_nothing(
    slack: SlackDriver, text: str
) -> None:
    # Slack escapes &, < and > in a command's text too.
    sent = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    response = slack.command(PRACTITIONER, sent)
    assert response.status == 200
    reply = ephemeral_text(response)
    assert reply and "<!channel>" not in reply and "<@U0TESTSUPV>" not in reply
    with slack.new_session() as session:
        assert list(session.exec(select(Case))) == []
        assert list(session.exec(select(Reflection))) == []


def complete_quickly_from_here(slack: SlackDriver) -> None:
    """Skip the rest and send, each reply typed once its question has arrived (unlike
    skip_to_confirmation, which types ahead of what was delivered)."""
    for _ in range(80):
        if "reflect_answer_send" in json.dumps(slack.last_message(PRACTITIONER)):
            break
        assert slack.message(PRACTITIONER, "skip").status == 200
    else:
        raise AssertionError("never reached the confirmation")
    assert slack.message(PRACTITIONER, "send").status == 200
    slack.deliver()
    assert reflection_of(slack).status == "completed"


# ---------------------------------------------------------------------------- bodies


def _payload(data: Any) -> str:
    return urlencode({"payload": json.dumps(data)})


USER = {"id": PRACTITIONER, "team_id": "T0TEST"}
EVENT = {"type": "message", "channel_type": "im", "user": PRACTITIONER, "text": "1", "ts": "1.1"}
NOTE_VIEW = {
    "id": "V0TEST",
    "hash": "1.a",
    "callback_id": "summary_note_modal",
    "private_metadata": "1",
    "state": {"values": {"note": {"note_text": {"value": "A note"}}}},
}

MALFORMED: list[tuple[str, str, str]] = [
    ("invalid JSON", "{not json at all", JSON),
    ("truncated JSON", event_body(EVENT, "Ev0TRUNC")[:-25], JSON),
    ("empty body", "", JSON),
    ("empty form", "", FORM),
    ("JSON that is a list", "[1, 2, 3]", JSON),
    ("JSON that is a string", '"event_callback"', JSON),
    ("JSON without a type", "{}", JSON),
    ("an event that is null", json.dumps({"type": "event_callback", "event": None}), JSON),
    ("an event without a type", event_body({"text": "1", "user": PRACTITIONER}, "Ev0NT"), JSON),
    ("a message whose user is an object", event_body({**EVENT, "user": USER}, "Ev0UO"), JSON),
    ("a message whose text is a list", event_body({**EVENT, "text": ["1"]}, "Ev0TL"), JSON),
    ("a message from a user ID too long", event_body({**EVENT, "user": "U" * 65}, "Ev0ID"), JSON),
    ("a command from a user ID too long", command_body("U" * 65, "CSC-1", "trig.long"), FORM),
    (
        "a click from a user ID too long",
        _payload(
            {
                "type": "block_actions",
                "user": {"id": "U" * 65},
                "trigger_id": "t.1",
                "actions": [{"action_id": "reflect_start", "value": "CSC-1"}],
            }
        ),
        FORM,
    ),
    ("a form without command", urlencode({"user_id": PRACTITIONER, "text": "CSC-1"}), FORM),
    ("a form without user_id", urlencode({"command": "/reflect", "text": "CSC-1"}), FORM),
    ("a payload that is not JSON", urlencode({"payload": "{nope"}), FORM),
    ("a payload that is a list", urlencode({"payload": "[1]"}), FORM),
    (
        "a payload without type",
        _payload({"user": USER, "actions": [{"action_id": "reflect_cmd_skip"}]}),
        FORM,
    ),
    (
        "a payload without user",
        _payload({"type": "block_actions", "trigger_id": "t.1", "actions": [{"action_id": "x"}]}),
        FORM,
    ),
    (
        "block_actions without a trigger_id",
        _payload(
            {"type": "block_actions", "user": USER, "actions": [{"action_id": "summary_add_note"}]}
        ),
        FORM,
    ),
    (
        "actions that are not a list",
        _payload({"type": "block_actions", "user": USER, "trigger_id": "t.1", "actions": "x"}),
        FORM,
    ),
    (
        "an action whose value is a number",
        _payload(
            {
                "type": "block_actions",
                "user": USER,
                "trigger_id": "t.1",
                "actions": [{"action_id": "summary_acknowledge", "value": 1}],
            }
        ),
        FORM,
    ),
    (
        "a view_submission without view.type",
        _payload({"type": "view_submission", "user": USER, "view": NOTE_VIEW}),
        FORM,
    ),
    (
        "a view_submission whose view is text",
        _payload({"type": "view_submission", "user": USER, "view": "summary_note_modal"}),
        FORM,
    ),
    (
        "a view_submission without a view",
        _payload({"type": "view_submission", "user": USER}),
        FORM,
    ),
]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [(body, kind) for _, body, kind in MALFORMED],
    ids=[name for name, _, _ in MALFORMED],
)
def test_a_malformed_body_is_a_400_and_changes_nothing(
    slack: SlackDriver, body: str, content_type: str
) -> None:
    at_the_choice_question(slack)
    slack.deliver()
    before = snapshot(slack)
    calls = len(slack.fake.calls)

    response = slack.dispatch(body, content_type=content_type)

    assert response.status == 400, response.body
    assert "malformed" in response.body
    forged = {**sign(body), "X-Slack-Signature": "v0=" + "2" * 64}
    assert slack.dispatch(body, content_type=content_type, signed=forged).status == 401
    slack.deliver()
    assert snapshot(slack) == before
    assert len(slack.fake.calls) == calls


def test_what_slack_itself_sends_without_a_type_still_gets_its_200(slack: SlackDriver) -> None:
    ssl_check = urlencode({"ssl_check": "1", "token": "legacy"})
    assert slack.dispatch(ssl_check, content_type=FORM).status == 200
    challenge = json.dumps({"type": "url_verification", "token": "x", "challenge": "c0ffee"})
    response = slack.dispatch(challenge, content_type=JSON)
    assert response.status == 200 and "c0ffee" in response.body
    no_challenge = json.dumps({"type": "url_verification", "token": "x"})
    assert slack.dispatch(no_challenge, content_type=JSON).status == 400


@pytest.mark.slow
def test_malformed_bodies_over_http_are_refused_without_a_traceback(
    server: Server,  # noqa: F811
    fake_slack: FakeSlack,
    tmp_path: Path,
) -> None:
    log_path = tmp_path / "serve.log"  # where the server fixture has `reflect serve` log
    for _, body, content_type in MALFORMED[:8] + MALFORMED[-3:]:
        assert server.post(body, content_type)[0] == 400, body
    raw = b'{"type": "event_callback", "event": {"type": "message", "text": "\xff\xfe"}}'
    assert _post_bytes(server, raw, JSON) == 400
    unsigned = _post_bytes(server, raw, JSON, signed=False)
    assert unsigned == 401
    # The server still works, and said nothing alarming.
    status, reply = server.post(command_body(PRACTITIONER, "CSC-6003", "trig.h.1"), FORM)
    assert status == 200 and json.loads(reply)["response_type"] == "ephemeral"
    assert fake_slack.wait_for(lambda: len(fake_slack.messages_to(PRACTITIONER)) == 1)
    log = log_path.read_text()
    assert "Traceback" not in log and '" 500 ' not in log
    assert log.count('" 400 ') == 12


def _post_bytes(target: Server, body: bytes, content_type: str, *, signed: bool = True) -> int:
    stamp = str(int(time.time()))
    # By hand: slack_sdk's signer reads the body as UTF-8, which this one is not.
    digest = hmac.new(SIGNING_SECRET.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256)
    signature = "v0=" + digest.hexdigest()
    headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": stamp}
    headers["X-Slack-Signature"] = signature if signed else "v0=" + "3" * 64
    request = urllib.request.Request(f"{target.base}/slack/events", data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


# ---------------------------------------------------------------------------- events


IGNORED_EVENTS: list[tuple[str, dict[str, Any]]] = [
    ("reaction_added", {"type": "reaction_added", "user": PRACTITIONER, "reaction": "+1"}),
    ("user_change", {"type": "user_change", "user": {"id": PRACTITIONER, "deleted": True}}),
    ("an event type Slack has yet to invent", {"type": "future_thing", "x": [1]}),
    ("message_deleted", {**EVENT, "subtype": "message_deleted", "text": ""}),
    ("bot_message", {**EVENT, "subtype": "bot_message", "bot_id": "B0TEST", "user": None}),
    ("our own message", {**EVENT, "bot_id": "B0TESTBOT"}),
    (
        "file_share without text",
        {
            **EVENT,
            "subtype": "file_share",
            "text": "",
            "files": [{"id": "F0TEST", "name": "visit-photo.jpg"}],
        },
    ),
    ("a channel message", {**EVENT, "channel_type": "channel", "channel": "C0TEST"}),
    ("a group DM", {**EVENT, "channel_type": "mpim", "channel": "G0TEST"}),
    ("app_home_opened on the messages tab", {"type": "app_home_opened", "user": PRACTITIONER}),
]


@pytest.mark.parametrize(
    "event", [e for _, e in IGNORED_EVENTS], ids=[name for name, _ in IGNORED_EVENTS]
)
def test_unknown_events_and_subtypes_are_acknowledged_and_ignored(
    slack: SlackDriver, event: dict[str, Any]
) -> None:
    at_the_choice_question(slack)
    slack.deliver()
    before = snapshot(slack)
    calls = len(slack.fake.calls)

    assert slack.event(event).status == 200

    slack.deliver()
    assert snapshot(slack) == before
    assert len(slack.fake.calls) == calls


def test_a_file_shared_with_text_is_an_answer_and_the_file_is_not_kept(
    slack: SlackDriver,
) -> None:
    at_the_choice_question(slack)
    event = {**EVENT, "subtype": "file_share", "text": "2", "files": [{"id": "F0TEST"}]}
    assert slack.event(event).status == 200
    assert answers(slack)["child_seen"] == "seen_too_young"
    assert "F0TEST" not in json.dumps(snapshot(slack), default=str)


# ---------------------------------------------------------------------------- people


def test_someone_outside_the_organisation_can_reflect_and_is_told_nobody_receives_it(
    slack: SlackDriver,
) -> None:
    complete_quickly(slack, OUTSIDER, "CSC-6004")
    reflection = reflection_of(slack, OUTSIDER)
    assert reflection.status == "completed" and reflection.supervisor_id is None
    saved = next(t for t in slack.texts_to(OUTSIDER) if t.startswith("*Saved.*"))
    assert "Not sent to anyone (you're not set up in an organisation yet)" in saved
    assert slack.fake.messages_to(SUPERVISOR) == [] and slack.fake.messages_to(LEAD) == []


def test_a_duplicate_event_is_handled_once_and_an_older_answer_arriving_late_is_kept(
    slack: SlackDriver,
) -> None:
    at_the_childs_day(slack, "CSC-6005")
    for retry in ("", "1", "2"):
        headers = {"X-Slack-Retry-Num": retry} if retry else {}
        response = slack.message(PRACTITIONER, "Home by four", event_id="Ev0DUP1", **headers)
        assert response.status == 200
    assert "Have you seen the child" in slack.texts_to(PRACTITIONER)[-1]
    # "4" answers the choice; handled twice, it would answer the free-text question next.
    assert slack.message(PRACTITIONER, "4", event_id="Ev0DUP2").status == 200
    assert slack.message(PRACTITIONER, "4", event_id="Ev0DUP2").status == 200
    assert answers(slack) == {
        **OPENED,
        "child_day": "Home by four",
        "child_seen": "seen_with_parent",
    }

    # Two messages typed in quick succession; Slack delivers the later one first.
    newer = {**EVENT, "text": "She said she likes her teacher", "ts": "1700000300.000200"}
    older = {**EVENT, "text": "She was shy at first", "ts": "1700000299.000100"}
    assert slack.event(newer, event_id="Ev0NEWER").status == 200
    assert slack.event(older, event_id="Ev0OLDER").status == 200
    assert slack.event(newer, event_id="Ev0NEWER").status == 200  # and retries the first
    kept = answers(slack)
    assert kept["development"] == "She said she likes her teacher"
    assert kept["household"] == "She was shy at first"
    assert len(kept) == len(OPENED) + 4
    texts = slack.texts_to(PRACTITIONER)
    assert len(texts) == len(set(texts))  # every reply once


@pytest.mark.parametrize("error", ["user_not_found", "account_inactive"])
def test_a_practitioner_removed_part_way_fails_their_message_without_a_retry_storm(
    slack: SlackDriver, error: str
) -> None:
    at_the_choice_question(slack)
    slack.deliver()
    slack.fake.fail_next(1, error=error, method="chat.postMessage")

    assert slack.message(PRACTITIONER, "4").status == 200
    report = slack.deliver()
    assert (report.sent, report.failed, report.retrying) == (0, 1, 0)

    with slack.new_session() as session:
        failed = session.exec(select(OutboxMessage).where(OutboxMessage.status == "failed")).one()
    assert (failed.last_error, failed.attempts) == (error, 1)
    assert answers(slack)["child_seen"] == "seen_with_parent"
    assert reflection_of(slack).status == "in_progress"
    attempts = len(posts(slack))
    for _ in range(3):
        slack.clock.advance(3600)
        assert slack.deliver().sent == 0
    assert len(posts(slack)) == attempts  # never tried again


def test_a_supervisor_removed_part_way_does_not_hold_up_the_practitioner(
    slack: SlackDriver,
) -> None:
    assert slack.command(PRACTITIONER, "CSC-6006").status == 200
    skip_to_confirmation(slack, PRACTITIONER)
    slack.deliver()
    slack.fake.fail_next(1, error="account_inactive", method="chat.postMessage", channel=SUPERVISOR)

    assert slack.message(PRACTITIONER, "send").status == 200
    report = slack.deliver()

    assert report.failed == 1 and report.retrying == 0
    reflection = reflection_of(slack)
    assert reflection.status == "completed" and reflection.summary
    assert any("Summary: CSC-6006" in t for t in slack.texts_to(PRACTITIONER))
    with slack.new_session() as session:
        left = [(m.recipient, m.status, m.last_error) for m in session.exec(select(OutboxMessage))]
    assert [m for m in left if m[1] != "sent"] == [(SUPERVISOR, "failed", "account_inactive")]
    slack.clock.advance(3600)
    assert slack.deliver().sent == 0
    assert len([c for c in slack.fake.calls if c.body.get("channel") == SUPERVISOR]) == 1


# ---------------------------------------------------------------------------- buttons


def _buttons(slack: SlackDriver, user: str, action_id: str) -> tuple[str, dict[str, Any]]:
    message = slack.last_message(user, with_action=action_id)
    for block in message["blocks"]:
        for element in block.get("elements", []):
            if element.get("action_id") == action_id:
                return block["block_id"], element
    raise AssertionError(action_id)


@pytest.mark.parametrize("value", ["99", "0", "-1", "1,2", "²", "9" * 30, "x" * 3000])
def test_a_choice_button_with_a_forged_option_is_not_an_answer(
    slack: SlackDriver, value: str
) -> None:
    at_the_choice_question(slack)
    block_id, _ = _buttons(slack, PRACTITIONER, "reflect_answer_1")
    action = {"type": "button", "action_id": "reflect_answer_1", "value": value}

    assert slack.click(PRACTITIONER, action, block_id).status == 200

    assert "Sorry, I didn't follow that" in slack.texts_to(PRACTITIONER)[-1]
    assert "child_seen" not in answers(slack)
    assert reflection_of(slack).current_question == "child_seen"
    # Typed the same way, it is not understood either; the conversation carries on.
    assert slack.message(PRACTITIONER, value).status == 200
    assert "Sorry, I didn't follow that" in slack.texts_to(PRACTITIONER)[-1]
    assert slack.message(PRACTITIONER, "١").status == 200  # Arabic-Indic one: a number
    assert answers(slack)["child_seen"] == "seen_alone"


@pytest.mark.parametrize(
    "block_id",
    [
        "reflect:99999999999999999999.1.0000abcd:answers",
        "reflect:1.1:answers",
        "reflect:²³.1.x:answers",
        "reflect::answers",
        "summary:1",
    ],
)
def test_a_conversation_button_with_a_forged_stamp_changes_nothing(
    slack: SlackDriver, block_id: str
) -> None:
    at_the_choice_question(slack)
    before = snapshot(slack)["answer"]
    action = {"type": "button", "action_id": "reflect_answer_1", "value": "1"}
    assert slack.click(PRACTITIONER, action, block_id).status == 200
    assert snapshot(slack)["answer"] == before


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("Mo Testperson", "doesn't look like a case reference"),
        ("", "doesn't look like a case reference"),
        ("testperson", "Case references need at least one number"),
        ("943 476 5919", "doesn't look like a case reference"),
        ("9434765919", "That looks like a personal identifier"),
        ("<!channel> CSC-1", "doesn't look like a case reference"),
        ("C" * 5000, "doesn't look like a case reference"),
    ],
)
def test_a_start_button_with_something_other_than_a_case_ref_is_refused(
    slack: SlackDriver, value: str, said: str
) -> None:
    action = {"type": "button", "action_id": "reflect_start", "value": value}
    assert slack.click(PRACTITIONER, action, "home:start:0").status == 200
    reply = slack.texts_to(PRACTITIONER)
    assert len(reply) == 1 and said in reply[0]
    assert "<!channel>" not in json.dumps(posts(slack))
    with slack.new_session() as session:
        assert list(session.exec(select(Case))) == []
        assert list(session.exec(select(Reflection))) == []


# "other": the id of a reflection the clicker may not act on; the rest are no such reflection.
FORGED_IDS = ["other", "999999", "abc", "", "²", "99999999999999999999", "-1", "1 OR 1=1"]


def _completed(slack: SlackDriver) -> int:
    """One completed reflection (supervised by SUPERVISOR); the fake's record cleared."""
    complete_quickly(slack, PRACTITIONER, "CSC-6007")
    slack.fake.reset()
    return reflection_of(slack).id or 0


def _forged(value: str, reflection_id: int) -> str:
    return str(reflection_id) if value == "other" else value


def _subject(value: str) -> str:
    """What the audit names: an id as an id, anything else never as typed."""
    plain_id = value.isascii() and value.isdigit() and len(value) < 10
    return f"reflection:{value}" if plain_id else "reflection:invalid"


def _press_forged(slack: SlackDriver, clicker: str, action_id: str, reflection_id: int) -> None:
    """Press ``action_id`` once with each forged value; each is refused in a DM."""
    for value in FORGED_IDS:
        forged = _forged(value, reflection_id)
        action = {"type": "button", "action_id": action_id, "value": forged}
        assert slack.click(clicker, action, f"summary:{reflection_id}").status == 200, value
    texts = slack.texts_to(clicker)
    assert len(texts) == len(FORGED_IDS)  # one polite refusal each
    assert len(set(texts)) == 1


@pytest.mark.parametrize("clicker", [OTHER_PRACTITIONER, LEAD, PRACTITIONER])
def test_acknowledging_a_reflection_one_may_not_is_refused_and_audited(
    slack: SlackDriver, clicker: str
) -> None:
    reflection_id = _completed(slack)

    _press_forged(slack, clicker, "summary_acknowledge", reflection_id)

    assert slack.texts_to(clicker)[0].startswith("Only the supervisor")
    assert reflection_of(slack).acknowledged_at is None
    # The practitioner hears nothing of it (unless they pressed it themselves: the refusals).
    to_practitioner = [message_text(m) for m in slack.fake.messages_to(PRACTITIONER)]
    assert all(t.startswith("Only the supervisor") for t in to_practitioner)
    refused = audit_rows(slack, "acknowledge_refused")
    expected = [(clicker, _subject(_forged(v, reflection_id))) for v in FORGED_IDS]
    assert sorted((r.actor, r.subject) for r in refused) == sorted(expected)
    assert audit_rows(slack, "acknowledge") == []


def test_adding_a_note_to_a_reflection_one_may_not_is_refused_and_audited(
    slack: SlackDriver,
) -> None:
    reflection_id = _completed(slack)

    _press_forged(slack, OTHER_PRACTITIONER, "summary_add_note", reflection_id)

    assert slack.texts_to(OTHER_PRACTITIONER)[0].startswith("Only the supervisor")
    assert slack.fake.successful("views.open") == []
    subjects = sorted(r.subject for r in audit_rows(slack, "note_refused"))
    assert subjects == sorted(_subject(_forged(v, reflection_id)) for v in FORGED_IDS)

    # The modal's submission forged the same way: refused, and the note is not stored.
    for value in FORGED_IDS:
        forged = _forged(value, reflection_id)
        view = {**NOTE_VIEW, "type": "modal", "private_metadata": forged, "id": "V0FORGED"}
        response = slack.submit_view(
            OTHER_PRACTITIONER, view, {"note": {"note_text": {"value": "Forged note text"}}}
        )
        assert response.status == 200
        refusal = json.loads(response.body)  # said in the modal, which stays open with the note
        assert refusal["response_action"] == "errors", value
        assert refusal["errors"]["note"].startswith("Only the supervisor")
    with slack.new_session() as session:
        assert list(session.exec(select(SupervisorNote))) == []
    assert len(audit_rows(slack, "note_refused")) == 2 * len(FORGED_IDS)
    assert "Forged note text" not in json.dumps(posts(slack))


def test_confirming_lead_contact_on_a_reflection_not_ones_own_is_refused_and_audited(
    slack: SlackDriver,
) -> None:
    reflection_id = _completed(slack)

    _press_forged(slack, SUPERVISOR, "lead_contact_confirmed", reflection_id)

    assert slack.texts_to(SUPERVISOR)[0].startswith("Only the practitioner who wrote")
    assert reflection_of(slack).lead_contact_confirmed_at is None
    subjects = sorted(r.subject for r in audit_rows(slack, "lead_contact_refused"))
    assert subjects == sorted(_subject(_forged(v, reflection_id)) for v in FORGED_IDS)
    assert audit_rows(slack, "lead_contact") == []
