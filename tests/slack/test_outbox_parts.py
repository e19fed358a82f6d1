"""What the outbox stores is what is to be said; Slack's posts are made from it when it is sent.

A message too long for one Slack post goes out as several, each once, in order, even when the
sending process dies between two of them; messages recorded by the release before (as Slack
calls) and not yet sent are sent as they were after the upgrade, once.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from slack_sdk.web import WebClient
from sqlalchemy import Engine
from sqlmodel import select

from bot.messaging import outbox
from bot.messaging.delivery import Delivery
from bot.messaging.frontend import Outcome, Stamp
from bot.messaging.message import CONVERSATION, Message, Part
from bot.render import PROMPTS_DIR as PROMPTS
from bot.slack.frontend import MOVED_TEMPLATES, STAMP, SlackCall, SlackFrontEnd, moved
from storage import db
from storage.db import transaction
from storage.encryption import keyring
from storage.models import OutboxMessage
from tests.conftest import FixedClock
from tests.slack.conftest import BOT_TOKEN, OTHER_PRACTITIONER, PRACTITIONER
from tools.fake_slack import FakeSlack

BEFORE_TEMPLATES = "0006_listening_remembering"
LOOKING = ["conversations.open", "conversations.history"]


def long_history(records: int = 8) -> Message:
    """A header, then records of nearly a section's worth of text each: several Slack posts."""
    parts = [Part("slack/history_header", {"case_ref": "CSC-4001", "count": 8, "shown": 8})]
    parts += [
        Part("slack/close_refused", {"found": False, "case_ref": f"CSC-{n} " * 400}, apart=True)
        for n in range(records)
    ]
    return Message(tuple(parts))


def record(new_session: db.SessionFactory, key: str, message: Message, now: datetime) -> int:
    with transaction(new_session) as session:
        assert outbox.record(session, key=key, recipient=PRACTITIONER, message=message, now=now)
    with new_session() as session:
        row = session.exec(select(OutboxMessage).where(OutboxMessage.dedupe_key == key)).one()
    assert row.id is not None
    return row.id


def row(new_session: db.SessionFactory, message_id: int) -> OutboxMessage:
    with new_session() as session:
        found = session.get(OutboxMessage, message_id)
    assert found is not None
    return found


def stamps(fake: FakeSlack, user: str) -> list[tuple[int, int]]:
    """(outbox id, part) of each post in the DM with ``user``, oldest first."""
    held = fake.held(user)
    assert all(m["metadata"]["event_type"] == STAMP for m in held)
    return [
        (m["metadata"]["event_payload"]["outbox_id"], m["metadata"]["event_payload"]["part"])
        for m in held
    ]


class Killed(BaseException):
    """The process dies: nothing after this line of the delivery runs."""


class DiesAfterPart(SlackFrontEnd):
    """Slack, for a process that dies just after Slack took post number ``part``."""

    def __init__(self, client: WebClient, part: int) -> None:
        super().__init__(client)
        self.part = part

    def send(self, post: SlackCall, *, stamp: Stamp) -> Outcome:
        outcome = super().send(post, stamp=stamp)
        if stamp.part == self.part:
            raise Killed
        return outcome


def test_a_long_message_is_split_when_sent_and_each_post_carries_its_part(
    fake_slack: FakeSlack, new_session: db.SessionFactory
) -> None:
    clock = FixedClock(datetime.now(UTC))
    message = long_history()
    message_id = record(new_session, "test:long", message, clock.current)
    client = WebClient(token=BOT_TOKEN, base_url=fake_slack.url)
    front_end = SlackFrontEnd(client)
    expected = front_end.render(CONVERSATION, PRACTITIONER, message)
    assert len(expected) >= 3  # the test is about a message Slack cannot take as one post

    assert Delivery(new_session, front_end, now=clock).deliver_all().sent == 1

    assert stamps(fake_slack, PRACTITIONER) == [(message_id, n) for n in range(len(expected))]
    posted = fake_slack.messages_to(PRACTITIONER)
    assert [p["blocks"] for p in posted] == [e.payload["blocks"] for e in expected]
    sent = row(new_session, message_id)
    assert (sent.status, sent.posted_ref) == ("sent", fake_slack.held(PRACTITIONER)[-1]["ts"])


@pytest.mark.parametrize("dies_after", [0, 1])
def test_a_process_that_dies_between_posts_leaves_each_post_sent_once_and_in_order(
    dies_after: int, fake_slack: FakeSlack, new_session: db.SessionFactory
) -> None:
    """Killed once Slack took post ``dies_after`` and before it was recorded: the next
    process looks for that post only, finds it, and sends the rest."""
    clock = FixedClock(datetime.now(UTC))
    message_id = record(new_session, "test:killed", long_history(), clock.current)
    later_id = record(new_session, "test:after", Message.of("slack/stale_button"), clock.current)
    client = WebClient(token=BOT_TOKEN, base_url=fake_slack.url)
    posts = len(SlackFrontEnd(client).render(CONVERSATION, PRACTITIONER, long_history()))

    dying = Delivery(new_session, DiesAfterPart(client, dies_after), now=clock, owner="dies")
    with pytest.raises(Killed):
        dying.deliver_due()
    stranded = row(new_session, message_id)
    assert (stranded.status, stranded.parts_sent) == ("sending", dies_after)
    assert len(fake_slack.held(PRACTITIONER)) == dies_after + 1

    clock.current += timedelta(seconds=61)  # the dead process's claim runs out
    calls_before = len(fake_slack.calls)
    survivor = Delivery(new_session, SlackFrontEnd(client), now=clock, owner="survivor")
    assert survivor.deliver_all().sent == 2

    expected = [(message_id, n) for n in range(posts)] + [(later_id, 0)]
    assert stamps(fake_slack, PRACTITIONER) == expected  # every post once, in order
    calls = [c.method for c in fake_slack.calls[calls_before:]]
    assert calls[:2] == LOOKING  # the one uncertain post was looked for, once
    assert calls.count("conversations.history") == 1
    assert calls[2:] == ["chat.postMessage"] * (posts - dies_after - 1 + 1)
    assert [row(new_session, i).status for i in (message_id, later_id)] == ["sent", "sent"]


class BusyAtPart(SlackFrontEnd):
    """Slack, rate limiting the first try of post number ``part``."""

    def __init__(self, client: WebClient, part: int) -> None:
        super().__init__(client)
        self.part: int | None = part

    def send(self, post: SlackCall, *, stamp: Stamp) -> Outcome:
        if stamp.part == self.part:
            self.part = None
            return Outcome(
                ok=False, error="ratelimited", busy=True, retry_after=timedelta(seconds=5)
            )
        return super().send(post, stamp=stamp)


def test_a_post_refused_part_way_is_retried_from_where_it_stopped(
    fake_slack: FakeSlack, new_session: db.SessionFactory
) -> None:
    clock = FixedClock(datetime.now(UTC))
    message_id = record(new_session, "test:part-way", long_history(), clock.current)
    client = WebClient(token=BOT_TOKEN, base_url=fake_slack.url)
    posts = len(SlackFrontEnd(client).render(CONVERSATION, PRACTITIONER, long_history()))
    delivery = Delivery(new_session, BusyAtPart(client, 1), now=clock)

    assert delivery.deliver_due().retrying == 1
    waiting = row(new_session, message_id)
    assert (waiting.status, waiting.parts_sent, waiting.uncertain) == ("pending", 1, False)
    clock.current += timedelta(seconds=5)
    assert delivery.deliver_all().sent == 1

    assert stamps(fake_slack, PRACTITIONER) == [(message_id, n) for n in range(posts)]
    assert "conversations.history" not in [c.method for c in fake_slack.calls]


# ---------------------------------------------------------------- rows from before 0007


def legacy_rows(engine: Engine, rows: list[dict[str, Any]]) -> None:
    """Rows as the release before stored them: a Slack call, under the old column names."""
    table = sa.table(
        "outbox",
        sa.column("id", sa.Integer),
        sa.column("dedupe_key", sa.String),
        sa.column("method", sa.String),
        sa.column("recipient", sa.String),
        sa.column("payload", sa.Text),
        sa.column("status", sa.String),
        sa.column("attempts", sa.Integer),
        sa.column("next_attempt_at", sa.DateTime),
        sa.column("created_at", sa.DateTime),
        sa.column("uncertain", sa.Boolean),
        sa.column("prompt", sa.String),
    )
    with engine.begin() as connection:
        connection.execute(
            table.insert(),
            [{**r, "payload": keyring.encrypt(json.dumps(r["payload"]))} for r in rows],
        )


def test_messages_recorded_before_the_upgrade_are_sent_once_after_it(
    engine: Engine, fake_slack: FakeSlack, new_session: db.SessionFactory
) -> None:
    now = datetime.now(UTC)
    naive = now.replace(tzinfo=None)
    client = WebClient(token=BOT_TOKEN, base_url=fake_slack.url)
    question = {
        "channel": PRACTITIONER,
        "text": "What is the purpose of this visit?",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*The purpose?*"}}],
    }
    # The old release had posted this one, stamped its old way, then died before marking it.
    client.chat_postMessage(
        channel=OTHER_PRACTITIONER,
        text="Already there",
        metadata={"event_type": STAMP, "event_payload": {"outbox_id": 2}},
    )
    db.downgrade(engine, BEFORE_TEMPLATES)
    try:
        common = {"next_attempt_at": naive, "created_at": naive, "prompt": None}
        legacy_rows(
            engine,
            [
                {
                    "id": 1,
                    "dedupe_key": "ev:old:0",
                    "method": "chat.postMessage",
                    "recipient": PRACTITIONER,
                    "payload": question,
                    "status": "pending",
                    "attempts": 0,
                    "uncertain": False,
                    **common,
                    "prompt": "7|purpose|",
                },
                {
                    "id": 2,
                    "dedupe_key": "ev:arrived:0",
                    "method": "chat.postMessage",
                    "recipient": OTHER_PRACTITIONER,
                    "payload": {"channel": OTHER_PRACTITIONER, "text": "Already there"},
                    "status": "pending",
                    "attempts": 1,
                    "uncertain": True,
                    **common,
                },
                {
                    "id": 3,
                    "dedupe_key": "home:old",
                    "method": "views.publish",
                    "recipient": PRACTITIONER,
                    "payload": {"user_id": PRACTITIONER, "view": {"type": "home", "blocks": []}},
                    "status": "pending",
                    "attempts": 0,
                    "uncertain": False,
                    **common,
                },
            ],
        )
    finally:
        db.upgrade(engine)

    with new_session() as session:
        surfaces = [r.surface for r in session.exec(select(OutboxMessage).order_by("id"))]
    assert surfaces == ["slack:chat.postMessage", "slack:chat.postMessage", "slack:views.publish"]
    calls_before = len(fake_slack.calls)
    report = Delivery(new_session, SlackFrontEnd(client), now=lambda: now).deliver_all()
    assert (report.sent, report.retrying, report.failed) == (3, 0, 0)

    [posted] = fake_slack.messages_to(PRACTITIONER)
    assert (posted["text"], posted["blocks"]) == (question["text"], question["blocks"])
    assert len(fake_slack.messages_to(OTHER_PRACTITIONER)) == 1  # found, not sent again
    calls = [c.method for c in fake_slack.calls[calls_before:]]
    assert sorted(calls) == sorted(["chat.postMessage", "views.publish", *LOOKING])
    with new_session() as session:
        rows = list(session.exec(select(OutboxMessage).order_by("id")))
    assert [r.status for r in rows] == ["sent", "sent", "sent"]
    assert rows[0].prompt == "7|purpose|" and rows[0].posted_ref is not None


def test_a_downgrade_sets_aside_what_only_the_newer_release_can_send(
    engine: Engine, new_session: db.SessionFactory
) -> None:
    now = datetime.now(UTC)
    record(new_session, "test:new", Message.of("slack/stale_button"), now)
    db.downgrade(engine, BEFORE_TEMPLATES)
    try:
        with engine.connect() as connection:
            found = connection.execute(sa.text("SELECT method, status FROM outbox")).all()
    finally:
        db.upgrade(engine)
    assert [tuple(r) for r in found] == [("chat.postMessage", "failed")]


def test_a_message_recorded_under_a_template_s_old_name_reads_as_under_its_new_one() -> None:
    """Templates casework and the core record left prompts/slack/: a message waiting in the
    outbox across the upgrade, named the old way, still reads the same."""
    data = {"case_ref": "CSC-1001", "note": "Ring the school on Monday", "supervisor_id": "U0S"}
    front_end = SlackFrontEnd(WebClient())
    old = front_end.render(
        CONVERSATION, PRACTITIONER, Message.of("slack/note_practitioner", **data)
    )
    new = front_end.render(
        CONVERSATION, PRACTITIONER, Message.of("notices/note_practitioner", **data)
    )
    assert old == new and "Ring the school on Monday" in json.dumps(new[0].payload)


@pytest.mark.parametrize("old", sorted(MOVED_TEMPLATES))
def test_each_moved_template_is_found_where_it_is_now(old: str) -> None:
    new = moved(Part(old, {"case_ref": "CSC-1001"})).template
    assert new == MOVED_TEMPLATES[old] and new.startswith(("notices/", "messages/"))
    assert (PROMPTS / f"{new}.j2").is_file()
    assert not (PROMPTS / f"{old}.j2").exists()
