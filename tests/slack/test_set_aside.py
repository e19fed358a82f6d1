"""An answer that cannot be handled is not dropped: tried five times, set aside, logged without
its content, the practitioner told; `reflect inbox list` shows it and `retry` hands it back."""

from __future__ import annotations

import logging
import threading

import pytest
from sqlmodel import select

from bot.bootstrap import Database
from bot.messaging.inbox import MAX_TRIES, Inbox, retry_after
from bot.serving.background import handling_stuck_check
from bot.serving.server import ReflectWSGI
from storage import db, inbox
from storage.db import transaction
from storage.models import AuditEntry, InboxItem
from tests.conftest import run_reflect
from tests.slack.conftest import PRACTITIONER, SlackDriver, TickingClock, wait_until

reflect = run_reflect


def test_an_answer_that_cannot_be_handled_is_set_aside_told_and_can_be_retried(
    inline_inbox: tuple[Inbox, SlackDriver],
    new_session: db.SessionFactory,
    cli_env: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    box, slack = inline_inbox
    assert slack.command(PRACTITIONER, "CSC-8801").status == 200
    # An answer stored by an older release without its text: no try can handle it.
    now = slack.clock()
    with transaction(new_session) as session:
        inbox.add(
            session=session,
            kind="answer",
            user_id=PRACTITIONER,
            payload={"key": "ev:Ev0BROKEN", "ts": "", "note": "the private words"},
            now=now,
            claimed_until=now,
        )
    with caplog.at_level(logging.INFO):
        for _ in range(MAX_TRIES + 1):
            box.recover()
            slack.clock.advance(retry_after(MAX_TRIES).total_seconds() + 1)
    with new_session() as session:
        [kept] = session.exec(select(InboxItem)).all()
    assert (kept.status, kept.attempts, kept.last_error) == ("failed", MAX_TRIES, "KeyError")
    assert f"set aside inbox item {kept.id} (kind answer)" in caplog.text
    assert "private" not in caplog.text
    told = slack.texts_to(PRACTITIONER)[-1]
    assert "couldn't take in one of your messages" in told and "kept safely" in told

    # A later answer is not held up behind the one set aside.
    assert (
        slack.message(PRACTITIONER, "No, to meet her gran, who has her after school").status == 200
    )
    assert "what worries you most" in slack.texts_to(PRACTITIONER)[-1]

    listed = reflect(cli_env, "inbox", "list")
    assert listed.returncode == 0, listed.stderr
    assert f"{kept.id}  an answer from {PRACTITIONER}" in listed.stdout
    assert "KeyError" in listed.stdout and "private" not in listed.stdout

    retried = reflect(cli_env, "inbox", "retry", str(kept.id), "999999")
    assert retried.returncode == 1
    assert "Handed 1 item back" in retried.stdout and "999999" in retried.stdout
    with new_session() as session:
        again = session.get(InboxItem, kept.id)
        audit = session.exec(select(AuditEntry).where(AuditEntry.action == "inbox_retry")).all()
    assert again is not None and (again.status, again.attempts) == ("waiting", 0)
    assert [a.subject for a in audit] == [f"inbox:{kept.id}"]

    refused = reflect(cli_env, "inbox", "retry")
    assert refused.returncode == 2 and "--all" in refused.stderr
    assert "Traceback" not in listed.stderr + retried.stderr + refused.stderr


def test_an_answer_in_hand_for_long_is_reported_as_stuck(
    database: Database, ticking_clock: TickingClock
) -> None:
    box = Inbox(database.new_session, threads=1, now=ticking_clock)
    release = threading.Event()
    box.on("slow", lambda item: release.wait(10) and None)
    try:
        assert box.longest_in_hand() == 0.0
        with transaction(database.new_session) as session:
            box.receive(session, kind="slow", user_id=PRACTITIONER, payload={})
        assert wait_until(lambda: box.longest_in_hand() > 0.2, 5)
        release.set()
        assert wait_until(lambda: box.longest_in_hand() == 0.0, 5)
    finally:
        release.set()
        box.stop()


def test_healthz_is_503_while_an_answer_is_stuck_in_hand(
    database: Database, ticking_clock: TickingClock
) -> None:
    box = Inbox(database.new_session, threads=1, now=ticking_clock)
    release = threading.Event()
    box.on("slow", lambda item: release.wait(10) and None)
    wsgi = ReflectWSGI({}, database, checks=[handling_stuck_check(box, stuck_after=0.3)])
    statuses: list[str] = []

    def healthz() -> tuple[str, bytes]:
        body = b"".join(
            wsgi(
                {"PATH_INFO": "/healthz", "REQUEST_METHOD": "GET"}, lambda s, h: statuses.append(s)
            )
        )
        return statuses[-1], body

    try:
        assert healthz()[0] == "200 OK"
        with transaction(database.new_session) as session:
            box.receive(session, kind="slow", user_id=PRACTITIONER, payload={})
        assert wait_until(lambda: box.longest_in_hand() > 0.4, 5)
        status, body = healthz()
        assert status == "503 Service Unavailable" and b"answer handling stuck" in body
        release.set()
        assert wait_until(lambda: healthz()[0] == "200 OK", 5)
    finally:
        release.set()
        box.stop()
