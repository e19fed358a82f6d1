"""No one message holds a person's queue: one Slack refuses for itself is set aside at once, one
that keeps failing while Slack takes everyone else's is set aside after five minutes, and during
an outage nothing is. `reflect outbox list` shows what was set aside, `retry` sends it again."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlmodel import select

from bot.messaging.delivery import SET_ASIDE_AFTER, failing_for, retry_wait
from storage.models import AuditEntry, OutboxMessage
from tests.conftest import run_reflect
from tests.slack.conftest import (
    OTHER_PRACTITIONER,
    PRACTITIONER,
    SlackDriver,
)

reflect = run_reflect
QUESTION_TWO = "What is this visit for, and what worries you most"  # after today


def outbox(slack: SlackDriver, user: str = PRACTITIONER) -> list[OutboxMessage]:
    with slack.new_session() as session:
        return list(
            session.exec(
                select(OutboxMessage)
                .where(OutboxMessage.recipient == user)
                .order_by(OutboxMessage.id)  # type: ignore[arg-type]
            )
        )


def set_aside(slack: SlackDriver) -> list[OutboxMessage]:
    with slack.new_session() as session:
        return list(session.exec(select(OutboxMessage).where(OutboxMessage.status == "failed")))


def at_the_first_question(slack: SlackDriver, case_ref: str) -> None:
    assert slack.command(PRACTITIONER, case_ref).status == 200
    assert "First: does anything need action today?" in slack.texts_to(PRACTITIONER)[-1]


def test_a_message_slack_refuses_for_itself_is_set_aside_at_once_and_the_next_arrives(
    slack: SlackDriver, caplog: pytest.LogCaptureFixture
) -> None:
    at_the_first_question(slack, "CSC-4001")
    slack.fake.fail_next(1, error="msg_blocks_too_long", channel=PRACTITIONER)
    with caplog.at_level(logging.INFO):
        assert slack.message(PRACTITIONER, "No, to meet the childminder").status == 200
        report = slack.deliver()

    [refused] = set_aside(slack)
    assert (refused.attempts, refused.last_error) == (1, "msg_blocks_too_long")
    assert report.failed == 1
    assert f"set aside outbox message {refused.id} (conversation)" in caplog.text
    assert "childminder" not in caplog.text
    # The question did not arrive: the practitioner is told so at once, not left waiting.
    told = slack.texts_to(PRACTITIONER)[-1]
    assert "couldn't be shown" in told and "/reflect" in told
    # Their later messages go on: the question is asked again when they carry on.
    assert slack.command(PRACTITIONER, "CSC-4001").status == 200
    assert QUESTION_TWO in slack.texts_to(PRACTITIONER)[-1]


def fail_for(slack: SlackDriver, user: str | None) -> None:
    """Slack answers 500 to every post to ``user`` (None: to everyone, and every other call)."""
    if user is None:
        slack.fake.fail_next(10_000, status=500)
    else:
        slack.fake.fail_next(10_000, status=500, method="chat.postMessage", channel=user)


def tries_until(slack: SlackDriver, message_id: int, seconds: float) -> str:
    """Deliver at each retry of a failing message while its next try comes within ``seconds``
    of its first; its status then."""
    while True:
        with slack.new_session() as session:
            message = session.get(OutboxMessage, message_id)
        assert message is not None
        wait = retry_wait(message.attempts)
        next_try = failing_for(message.attempts) + wait
        if message.status != "pending" or next_try > timedelta(seconds=seconds):
            return message.status
        slack.clock.advance(wait.total_seconds())
        slack.deliver()


def test_a_message_failing_alone_for_five_minutes_is_set_aside_and_the_queue_goes_on(
    slack: SlackDriver,
) -> None:
    at_the_first_question(slack, "CSC-4002")
    fail_for(slack, PRACTITIONER)
    assert slack.message(PRACTITIONER, "No, to meet the childminder").status == 200
    slack.deliver()
    [failing] = [m for m in outbox(slack) if m.status == "pending"]
    # Meanwhile Slack takes another practitioner's messages.
    assert slack.command(OTHER_PRACTITIONER, "CSC-4003").status == 200
    slack.deliver()

    assert tries_until(slack, failing.id or 0, SET_ASIDE_AFTER.total_seconds() - 1) == "pending"
    assert slack.message(OTHER_PRACTITIONER, "No, mornings with dad").status == 200
    assert QUESTION_TWO in slack.texts_to(OTHER_PRACTITIONER)[-1]
    assert tries_until(slack, failing.id or 0, SET_ASIDE_AFTER.total_seconds()) == "failed"
    [kept] = set_aside(slack)
    assert (kept.id, kept.attempts, kept.last_error) == (failing.id, 7, "http_500")
    assert not kept.uncertain  # an answer typed meanwhile is not kept waiting for it

    slack.fake.failures.clear()
    assert "couldn't be shown" in slack.texts_to(PRACTITIONER)[-1]
    assert slack.command(PRACTITIONER, "CSC-4002").status == 200
    assert QUESTION_TWO in slack.texts_to(PRACTITIONER)[-1]


def test_during_an_outage_nothing_is_set_aside_but_what_slack_refuses_for_itself(
    slack: SlackDriver,
) -> None:
    at_the_first_question(slack, "CSC-4004")
    assert slack.command(OTHER_PRACTITIONER, "CSC-4005").status == 200
    slack.deliver()
    slack.fake.fail_next(1, error="msg_blocks_too_long", channel=OTHER_PRACTITIONER)
    assert slack.message(OTHER_PRACTITIONER, "No, mornings with dad").status == 200
    slack.deliver()
    fail_for(slack, None)  # Slack fails everything: 500s, for posts and looks alike
    assert slack.message(PRACTITIONER, "No, to meet the childminder").status == 200
    assert slack.message(OTHER_PRACTITIONER, "No, evenings with mum").status == 200
    slack.deliver()

    [failing] = [m for m in outbox(slack) if m.status == "pending"]
    assert tries_until(slack, failing.id or 0, 4 * SET_ASIDE_AFTER.total_seconds()) == "pending"
    [refused] = set_aside(slack)
    assert (refused.recipient, refused.last_error) == (OTHER_PRACTITIONER, "msg_blocks_too_long")

    slack.fake.failures.clear()
    slack.clock.advance(3600)
    assert QUESTION_TWO in slack.texts_to(PRACTITIONER)[-1]
    assert all(m.status == "sent" for m in outbox(slack))
    assert [m.id for m in set_aside(slack)] == [refused.id]


def test_reflect_outbox_lists_and_retries_what_was_set_aside(
    slack: SlackDriver, cli_env: dict[str, str]
) -> None:
    at_the_first_question(slack, "CSC-4006")
    slack.fake.fail_next(1, error="invalid_blocks", channel=PRACTITIONER)
    assert slack.message(PRACTITIONER, "No, to meet the childminder").status == 200
    slack.deliver()
    [kept] = set_aside(slack)

    listed = reflect(cli_env, "outbox", "list")
    assert listed.returncode == 0, listed.stderr
    assert f"{kept.id}  conversation to {PRACTITIONER}, recorded 2026-11-26" in listed.stdout
    assert "tried 1 time, last error: invalid_blocks" in listed.stdout
    assert QUESTION_TWO not in listed.stdout and "childminder" not in listed.stdout

    retried = reflect(cli_env, "outbox", "retry", str(kept.id), "999999")
    assert retried.returncode == 1
    assert "Put 1 message back" in retried.stdout and "999999" in retried.stdout
    with slack.new_session() as session:
        again = session.get(OutboxMessage, kept.id)
        audit = session.exec(select(AuditEntry).where(AuditEntry.action == "outbox_retry")).all()
    assert again is not None and (again.status, again.attempts) == ("pending", 0)
    assert again.uncertain  # looked for before it is sent again: it may have arrived
    assert [a.subject for a in audit] == [f"outbox:{kept.id}"]
    slack.deliver()
    assert any(QUESTION_TWO in t for t in slack.texts_to(PRACTITIONER))
    assert "Nothing is set aside" in reflect(cli_env, "outbox", "list").stdout

    refused = reflect(cli_env, "outbox", "retry")
    assert refused.returncode == 2 and "--all" in refused.stderr
    assert "Traceback" not in listed.stderr + retried.stderr + refused.stderr
