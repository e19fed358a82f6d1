"""After Slack's 200: the inbox handles what requests stored, the delivery sends what handling
recorded, senders give way to requests, and a worker starts with its first burst prepared."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from slack_bolt.middleware.authorization import SingleTeamAuthorization
from slack_sdk.web import WebClient
from sqlalchemy import Engine, event
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from bot.bootstrap import Database
from bot.casework import erase_case, erase_person
from bot.messaging import outbox
from bot.messaging.delivery import Delivery
from bot.messaging.inbox import MAX_TRIES, Inbox, Received, retry_after
from bot.messaging.inorder import InOrder
from bot.messaging.message import Message
from bot.reflection.service import utcnow
from bot.retention import purge_expired
from bot.serving.background import Background
from bot.serving.pacing import Answered, RequestsInHand
from bot.settings import Settings
from bot.slack.app import build_app
from bot.slack.deployment import ask_who_the_bot_is
from bot.slack.frontend import SlackFrontEnd
from storage import db, inbox
from storage.db import transaction
from storage.models import Answer, Case, InboxItem, OutboxMessage
from tests.slack.conftest import (
    BOT_TOKEN,
    PRACTITIONER,
    SlackDriver,
    TickingClock,
    message_text,
    wait_until,
)
from tools.fake_slack import FakeSlack

QUESTION_ONE = "First: does anything need action today?"  # today
QUESTION_TWO = "What is this visit for, and what worries you most"  # worry


def texts(fake: FakeSlack) -> list[str]:
    return [message_text(m) for m in fake.messages_to(PRACTITIONER)]


class Served:
    """The app as `reflect serve` runs it: an inbox on its own threads and a delivery loop
    with senders, on the real clock."""

    def __init__(self, settings: Settings, database: Database, fake: FakeSlack) -> None:
        client = WebClient(token=BOT_TOKEN, base_url=fake.url)
        self.background = Background.make(
            database.new_session, SlackFrontEnd(client), retry_interval=0.2
        )
        self.delivery, self.inbox = self.background.delivery, self.background.inbox
        app = build_app(settings, database, client=client, delivery=self.delivery, inbox=self.inbox)
        self.slack = SlackDriver(app, fake, database.new_session, TickingClock(utcnow()))
        self.background.start()

    def stop(self) -> None:
        self.background.stop()


@pytest.fixture
def served(
    settings: Settings, database: Database, fake_slack: FakeSlack, organisation: None
) -> Iterator[Served]:
    running = Served(settings, database, fake_slack)
    yield running
    running.stop()


def record_dm(session: Session, key: str, text: str, delivery: Delivery) -> None:
    outbox.record(
        session,
        key=key,
        recipient=PRACTITIONER,
        message=Message.of("slack/close_refused", found=False, case_ref=text),
        now=utcnow(),
        delivery=delivery,
    )


def shown_to(fake: FakeSlack) -> list[str]:
    """The case reference each close_refused note to the practitioner names."""
    return [m["text"].split("case ")[1].split(".")[0] for m in fake.messages_to(PRACTITIONER)]


def outbox_rows(new_session: db.SessionFactory) -> list[OutboxMessage]:
    with new_session() as session:
        return list(session.exec(select(OutboxMessage).order_by(OutboxMessage.id)))


# ---------------------------------------------------------------- sending after commit


def test_answers_are_stored_before_the_200_and_the_next_question_follows_unprompted(
    served: Served, fake_slack: FakeSlack, new_session: db.SessionFactory
) -> None:
    response = served.slack.command(PRACTITIONER, "CSC-9001")
    assert response.status == 200 and "CSC-9001" in response.body
    assert wait_until(lambda: len(texts(fake_slack)) == 1)
    assert QUESTION_ONE in texts(fake_slack)[0]

    assert served.slack.message(PRACTITIONER, "No, to meet her nan, who picks her up").status == 200
    with new_session() as session:  # stored: in the inbox, or already handled
        stored = list(session.exec(select(InboxItem))) + list(session.exec(select(Answer)))
    assert len(stored) == 1
    assert wait_until(lambda: len(texts(fake_slack)) == 2)
    assert QUESTION_TWO in texts(fake_slack)[1]

    # Claimed as they were recorded, sent without the worker, then marked sent in a batch.
    assert wait_until(lambda: all(m.status == "sent" for m in outbox_rows(new_session)))
    assert [m.attempts for m in outbox_rows(new_session)] == [1, 1]
    with new_session() as session:
        assert list(session.exec(select(InboxItem))) == []
        assert [a.question_id for a in session.exec(select(Answer))] == ["today"]


def test_a_slow_slack_holds_up_no_handling(
    served: Served, fake_slack: FakeSlack, new_session: db.SessionFactory
) -> None:
    """Three answers at once, two handlers, and Slack taking a second over each message: all
    three next questions are recorded at once, and go out side by side."""
    people = [f"U0SLOW{n}" for n in range(3)]
    for person in people:
        served.slack.command(person, f"CSC-95{people.index(person)}0")
    assert wait_until(lambda: len(fake_slack.posted()) == 3)
    fake_slack.post_delay = 1.0

    started = time.monotonic()
    for person in people:
        served.slack.message(person, "No, nothing today")
    assert wait_until(lambda: len(outbox_rows(new_session)) == 6, timeout=5)
    recorded = time.monotonic() - started
    assert wait_until(lambda: len(fake_slack.posted()) == 6, timeout=5)
    sent = time.monotonic() - started

    assert recorded < 0.9, recorded  # no handler waited for Slack's answer before the next item
    assert sent < 1.9, sent  # the three went out together, not one after another


def test_a_failed_send_is_retried_and_what_follows_waits_behind_it(
    served: Served, fake_slack: FakeSlack, new_session: db.SessionFactory
) -> None:
    fake_slack.fail_next(1, status=429, retry_after=1, method="chat.postMessage")
    served.slack.command(PRACTITIONER, "CSC-9002")
    assert wait_until(lambda: any(m.status == "pending" for m in outbox_rows(new_session)))
    served.slack.message(PRACTITIONER, "No, to see the children's bedrooms")

    assert wait_until(lambda: len(texts(fake_slack)) == 2)
    first, second = texts(fake_slack)
    assert QUESTION_ONE in first and QUESTION_TWO in second  # in order, after Retry-After
    posts = [c for c in fake_slack.calls if c.method == "chat.postMessage"]
    assert [c.status for c in posts] == [429, 200, 200]
    assert posts[1].at - posts[0].at >= 0.95
    assert wait_until(lambda: [m.status for m in outbox_rows(new_session)] == ["sent", "sent"])


def test_nothing_is_sent_for_a_transaction_that_rolls_back(
    served: Served, fake_slack: FakeSlack, new_session: db.SessionFactory
) -> None:
    with pytest.raises(RuntimeError), transaction(new_session) as session:
        record_dm(session, "test:rolled-back", "NEVER", served.delivery)
        raise RuntimeError("the request failed after recording")
    with transaction(new_session) as session:
        record_dm(session, "test:committed", "SENT", served.delivery)
    assert wait_until(lambda: len(fake_slack.messages_to(PRACTITIONER)) == 1)
    time.sleep(0.2)
    assert shown_to(fake_slack) == ["SENT"]
    assert [m.dedupe_key for m in outbox_rows(new_session)] == ["test:committed"]


def test_a_stopping_delivery_gives_back_what_it_has_not_sent(
    database: Database, fake_slack: FakeSlack, new_session: db.SessionFactory
) -> None:
    client = WebClient(token=BOT_TOKEN, base_url=fake_slack.url)
    delivery = Delivery(new_session, SlackFrontEnd(client), senders=4)
    delivery.stop()  # a process on its way out
    with transaction(new_session) as session:
        record_dm(session, "test:late", "LATE", delivery)
    [message] = outbox_rows(new_session)
    assert (message.status, message.attempts) == ("pending", 0)  # due now, for any worker


def test_marking_sent_waits_out_a_database_that_is_briefly_away(
    database: Database, fake_slack: FakeSlack, new_session: db.SessionFactory
) -> None:
    refusals = [OperationalError("UPDATE outbox", {}, Exception("database is away"))] * 8
    posted = threading.Event()  # away from when Slack has the message: the mark meets it

    def flaky() -> Session:
        if posted.is_set() and refusals:
            raise refusals.pop()
        return new_session()

    client = WebClient(token=BOT_TOKEN, base_url=fake_slack.url)
    delivery = Delivery(flaky, SlackFrontEnd(client), senders=4, mark_retry_seconds=0.01)
    fake_slack.on_posted = lambda _recipient, _at: posted.set()
    try:
        with transaction(new_session) as session:
            record_dm(session, "test:marked", "BLINKED", delivery)
        assert wait_until(lambda: len(fake_slack.messages_to(PRACTITIONER)) == 1)
        assert wait_until(lambda: [m.status for m in outbox_rows(new_session)] == ["sent"])
        assert refusals == []  # refused eight times before it could mark
    finally:
        fake_slack.on_posted = None
        delivery.stop()


def test_messages_sent_close_together_are_marked_sent_in_one_write(
    engine: Engine, fake_slack: FakeSlack, new_session: db.SessionFactory
) -> None:
    marks: list[int] = []

    def count_marks(_conn, _cursor, statement, parameters, *_args) -> None:  # type: ignore[no-untyped-def]
        if statement.startswith("UPDATE outbox SET status"):
            marks.append(len(parameters) if isinstance(parameters, list | tuple) else 1)

    client = WebClient(token=BOT_TOKEN, base_url=fake_slack.url)
    delivery = Delivery(new_session, SlackFrontEnd(client), senders=2, mark_gather_seconds=1.0)
    event.listen(engine, "before_cursor_execute", count_marks)
    try:
        for number in range(5):
            with transaction(new_session) as session:
                record_dm(session, f"test:together:{number}", f"M{number}", delivery)
        assert wait_until(lambda: len(fake_slack.messages_to(PRACTITIONER)) == 5)
        assert wait_until(lambda: {m.status for m in outbox_rows(new_session)} == {"sent"})
    finally:
        delivery.stop()
        event.remove(engine, "before_cursor_execute", count_marks)
    assert len(marks) == 1  # one UPDATE for the five, not one each


# ---------------------------------------------------------------- the inbox


def test_what_a_crashed_process_stored_is_handled_again_in_order(
    inline_inbox: tuple[Inbox, SlackDriver], new_session: db.SessionFactory
) -> None:
    box, slack = inline_inbox
    now = slack.clock()
    with transaction(new_session) as session:  # stored, then the process died
        for kind, payload in [
            ("start", {"case_ref": "CSC-9003", "key": "cmd:trig.crash"}),
            ("answer", {"key": "ev:Ev0CRASH", "text": "No, a review of the plan"}),
        ]:
            inbox.add(
                session=session,
                kind=kind,
                user_id=PRACTITIONER,
                payload=payload,
                now=now,
                claimed_until=now + timedelta(seconds=60),
            )
    assert box.recover() == 0  # still claimed by the process that died
    slack.clock.advance(61)
    assert box.recover() == 1  # one person's items, handled in order
    said = slack.texts_to(PRACTITIONER)
    assert QUESTION_ONE in said[0] and QUESTION_TWO in said[1]
    with new_session() as session:
        assert [a.question_id for a in session.exec(select(Answer))] == ["today"]
        assert list(session.exec(select(InboxItem))) == []
    slack.clock.advance(61)
    assert box.recover() == 0


def test_an_item_that_keeps_failing_is_kept_for_an_operator(
    inline_inbox: tuple[Inbox, SlackDriver],
    new_session: db.SessionFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    box, slack = inline_inbox
    attempts: list[int] = []

    def broken(item: Received) -> None:
        attempts.append(item.attempts)
        raise ValueError("a secret the practitioner typed")

    box.on("broken", broken)
    with caplog.at_level(logging.INFO):
        with transaction(new_session) as session:
            box.receive(session, kind="broken", user_id=PRACTITIONER, payload={"text": "private"})
        for _ in range(MAX_TRIES + 2):
            slack.clock.advance(retry_after(MAX_TRIES).total_seconds() + 1)
            box.recover()
    assert attempts == list(range(1, MAX_TRIES + 1))  # tried five times, then set aside
    with new_session() as session:
        [kept] = list(session.exec(select(InboxItem)))
    assert kept.status == "failed" and kept.attempts == MAX_TRIES
    assert "setting it aside" in caplog.text and "(kind broken)" in caplog.text
    assert "secret" not in caplog.text and "private" not in caplog.text


def test_erasure_and_retention_reach_the_inbox(
    inline_inbox: tuple[Inbox, SlackDriver], new_session: db.SessionFactory
) -> None:
    _, slack = inline_inbox
    now = slack.clock()
    with transaction(new_session) as session:
        for user, when in [(PRACTITIONER, now), ("U0SOMEONE", now - timedelta(days=40))]:
            inbox.add(
                session=session,
                kind="answer",
                user_id=user,
                payload={"text": "kept after failing"},
                now=when,
                claimed_until=when,
            )
    report = erase_person(new_session, actor="cli:admin", person_id=PRACTITIONER, now=now)
    assert report.counts["inbox"] == 1
    assert purge_expired(new_session, now=now).inbox == 1
    with new_session() as session:
        assert list(session.exec(select(InboxItem))) == []


def test_erasing_a_case_removes_a_reflect_for_it_still_waiting_in_the_inbox(
    inline_inbox: tuple[Inbox, SlackDriver], new_session: db.SessionFactory
) -> None:
    box, slack = inline_inbox
    now = slack.clock()
    with transaction(new_session) as session:  # stored; its process died before handling it
        for ref in ("CSC-9010", "CSC-90100"):
            inbox.add(
                session=session,
                kind="start",
                user_id=PRACTITIONER,
                payload={"case_ref": ref, "key": f"cmd:trig.{ref}"},
                now=now,
                claimed_until=now,
            )
    report = erase_case(new_session, actor="cli:admin", case_ref="CSC-9010", now=now)
    assert report.found and report.counts["inbox"] == 1
    slack.clock.advance(1)
    assert box.recover() == 1  # only the other case's
    with new_session() as session:
        assert [c.ref for c in session.exec(select(Case))] == ["CSC-90100"]


# ---------------------------------------------------------------- order and pacing


def test_items_are_handled_in_order_per_person_and_a_refusal_stops_that_person_only() -> None:
    handled: list[tuple[str, int]] = []
    given_back: list[tuple[str, int]] = []
    lock = threading.Lock()

    def handle(item: tuple[str, int]) -> bool:
        time.sleep(0.001)
        with lock:
            handled.append(item)
        return item != ("b", 2)

    pool: InOrder[tuple[str, int]] = InOrder(
        handle, given_back.extend, threads=3, name="test-inorder"
    )
    for n in range(20):
        for person in "abc":
            pool.submit(person, [(person, n)])
    assert wait_until(lambda: len(handled) == 20 + 3 + 20)
    pool.stop()
    for person in "ac":
        assert [n for p, n in handled if p == person] == list(range(20))
    assert [n for p, n in handled if p == "b"] == [0, 1, 2]
    assert given_back == [("b", n) for n in range(3, 20)]


def test_senders_wait_while_a_request_is_in_hand_for_a_while_at_most() -> None:
    in_hand = RequestsInHand(longest_wait=5)
    started = time.monotonic()
    in_hand.wait_for_gap()
    assert time.monotonic() - started < 1  # nothing in hand: no wait

    in_hand.started()
    threading.Timer(0.2, in_hand.finished).start()
    started = time.monotonic()
    in_hand.wait_for_gap()
    assert 0.15 <= time.monotonic() - started < 4 and in_hand.count == 0

    bounded = RequestsInHand(longest_wait=0.1)
    bounded.started()  # never finishes
    started = time.monotonic()
    bounded.wait_for_gap()
    assert 0.09 <= time.monotonic() - started < 4


def test_a_request_counts_as_answered_once_the_server_closes_its_body() -> None:
    in_hand = RequestsInHand()
    closed: list[bool] = []

    class Body(list[bytes]):
        def close(self) -> None:
            closed.append(True)

    in_hand.started()
    body = Answered(Body([b"ok"]), in_hand.finished)
    assert b"".join(body) == b"ok" and in_hand.count == 1
    body.close()
    body.close()  # a second close changes nothing
    assert in_hand.count == 0 and closed == [True, True]


# ---------------------------------------------------------------- starting a worker


def test_warm_up_asks_slack_once_before_the_first_burst(
    slack: SlackDriver, database: Database, fake_slack: FakeSlack
) -> None:
    ask_who_the_bot_is(slack.app)
    authorization = [
        m for m in slack.app._middleware_list if isinstance(m, SingleTeamAuthorization)
    ]
    assert authorization and authorization[0].auth_test_result is not None
    threads = [
        threading.Thread(target=slack.command, args=(PRACTITIONER, "help")) for _ in range(5)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(fake_slack.successful("auth.test")) == 1


def test_warm_up_carries_on_when_slack_cannot_be_reached(
    slack: SlackDriver, database: Database, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    fake_slack.fail_next(1, status=503, method="auth.test")
    with caplog.at_level(logging.WARNING):
        ask_who_the_bot_is(slack.app)
    assert "could not reach Slack at start" in caplog.text
    response = slack.command(PRACTITIONER, "help")  # Bolt asks at the first request instead
    assert response.status == 200 and json.loads(response.body)["response_type"] == "ephemeral"
