"""Signed requests only; the outbox delivered with Slack's 429s and 5xx, exactly once."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from sqlmodel import select

from bot.messaging import outbox
from bot.messaging.delivery import Delivery
from bot.messaging.message import Message
from bot.reflection.service import utcnow
from bot.slack.frontend import SlackFrontEnd
from storage.db import transaction
from storage.models import Answer, Case, OutboxMessage
from tests.slack.conftest import (
    PRACTITIONER,
    SlackDriver,
    command_body,
    event_body,
    sign,
)


def test_forged_and_stale_signatures_are_refused(slack: SlackDriver) -> None:
    body = command_body(PRACTITIONER, "CSC-3001", "trig.1")
    form = "application/x-www-form-urlencoded"
    forged = dict(sign(body))
    forged["X-Slack-Signature"] = "v0=" + "0" * 64
    assert slack.dispatch(body, content_type=form, signed=forged).status == 401
    stale = sign(body, timestamp=int(time.time()) - 10 * 60)
    assert slack.dispatch(body, content_type=form, signed=stale).status == 401
    tampered = sign(body)
    altered = body.replace("CSC-3001", "CSC-3002")
    assert slack.dispatch(altered, content_type=form, signed=tampered).status == 401
    event = event_body(
        {"type": "message", "channel_type": "im", "user": PRACTITIONER, "text": "hi", "ts": "1"},
        "Ev0FORGED",
    )
    assert slack.dispatch(event, content_type="application/json", signed=forged).status == 401
    with slack.new_session() as session:
        assert list(session.exec(select(Case))) == []
        assert list(session.exec(select(OutboxMessage))) == []
    assert slack.fake.calls == []  # not even auth.test


def test_url_verification_is_answered(slack: SlackDriver) -> None:
    body = '{"type": "url_verification", "token": "x", "challenge": "abc123"}'
    response = slack.dispatch(body, content_type="application/json")
    assert response.status == 200 and "abc123" in response.body


def test_rate_limits_are_waited_out_and_each_message_sent_once(slack: SlackDriver) -> None:
    slack.fake.fail_next(2, status=429, retry_after=2, method="chat.postMessage")
    slack.command(PRACTITIONER, "CSC-3003")
    slack.message(PRACTITIONER, "To see her with her nan, who has her after school")

    report = slack.deliver()
    assert report.retrying == 1 and report.sent == 0  # the second waits behind the first
    slack.clock.advance(1)
    assert slack.deliver().sent == 0  # Retry-After: 2 not yet over
    slack.clock.advance(1.1)
    assert slack.deliver().retrying == 1  # 429 again
    slack.clock.advance(2.1)
    assert slack.deliver().sent == 2
    assert slack.deliver().sent == 0

    attempts = [c for c in slack.fake.calls if c.method == "chat.postMessage"]
    assert [c.status for c in attempts] == [429, 429, 200, 200]
    assert attempts[0].body == attempts[2].body  # the same message, delivered once
    texts = [m["text"] for m in slack.fake.messages_to(PRACTITIONER)]
    assert len(texts) == len(set(texts)) == 2


def test_server_errors_are_retried_with_back_off(slack: SlackDriver) -> None:
    slack.fake.fail_next(1, status=503, method="chat.postMessage")
    slack.command(PRACTITIONER, "CSC-3004")
    assert slack.deliver().retrying == 1
    with slack.new_session() as session:
        message = session.exec(select(OutboxMessage)).one()
        assert message.last_error == "http_503"
    slack.clock.advance(6)
    assert slack.deliver().sent == 1
    assert len(slack.fake.messages_to(PRACTITIONER)) == 1


def test_the_delivery_worker_is_woken_and_honours_retry_after(slack: SlackDriver) -> None:
    """The worker runs on the real clock, as in `reflect serve`; polled with a deadline."""
    slack.fake.fail_next(1, status=429, retry_after=1, method="chat.postMessage")
    worker = Delivery(slack.new_session, SlackFrontEnd(slack.client), interval=0.2)
    worker.start()
    try:
        with transaction(slack.new_session) as session:
            outbox.record(
                session,
                key="test:worker",
                recipient=PRACTITIONER,
                message=Message.of("slack/stale_button"),
                now=utcnow(),
            )
        worker.wake()
        assert slack.fake.wait_for(lambda: len(slack.fake.messages_to(PRACTITIONER)) == 1, 10)
    finally:
        worker.stop()
    calls = [c for c in slack.fake.calls if c.method == "chat.postMessage"]
    assert [c.status for c in calls] == [429, 200]
    assert calls[1].at - calls[0].at >= 0.95  # Retry-After: 1 was waited out


def test_an_answer_is_committed_before_slack_gets_its_200(slack: SlackDriver) -> None:
    slack.command(PRACTITIONER, "CSC-3005")
    response = slack.message(PRACTITIONER, "No, to see where she sleeps")
    assert response.status == 200
    with slack.new_session() as session:  # a fresh session: committed, not just flushed
        assert session.exec(select(Answer)).one().question_id == "today"
        pending = session.exec(select(OutboxMessage).where(OutboxMessage.status == "pending"))
        assert len(list(pending)) == 2


def test_the_same_event_racing_on_two_threads_is_handled_once(slack: SlackDriver) -> None:
    """As when two web processes receive Slack's original and its retry at once."""
    slack.command(PRACTITIONER, "CSC-3006")
    slack.deliver()
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def send() -> None:
        barrier.wait()
        statuses.append(
            slack.message(PRACTITIONER, "No, a review of the plan", event_id="Ev0RACE").status
        )

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(statuses) == [200, 200]
    with slack.new_session() as session:
        assert [a.question_id for a in session.exec(select(Answer))] == ["today"]
    assert sum("what worries you most" in t for t in slack.texts_to(PRACTITIONER)) == 1


def test_answer_text_never_reaches_the_logs(
    slack: SlackDriver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    slack.fake.fail_next(1, status=500, method="chat.postMessage")
    slack.command(PRACTITIONER, "CSC-3007")
    slack.message(PRACTITIONER, "Distinctive-answer-text-4417")
    slack.message(PRACTITIONER, "Distinctive-answer-text-4417", event_id="Ev0DUP")
    slack.message(PRACTITIONER, "Distinctive-answer-text-4417", event_id="Ev0DUP")
    slack.deliver()
    slack.clock.advance(10)
    slack.deliver()
    assert "http_500" in caplog.text  # delivery did log, without the content
    assert "Distinctive-answer-text" not in caplog.text
