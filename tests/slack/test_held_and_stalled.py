"""A post Slack holds before posting it, and a process stopped while it holds a claim: `reflect
serve` is killed or stopped (SIGSTOP) at those moments, and every part still arrives once, in
order. benchmarks/stalled_send.py repeats the stop at random moments."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import select

from bot.messaging import outbox as recording
from bot.messaging.message import Message
from bot.reflection.service import utcnow
from bot.slack.frontend import STAMP
from storage import db
from storage.db import transaction
from storage.models import OutboxMessage, Process
from tests.slack.conftest import OTHER_PRACTITIONER, PRACTITIONER, wait_until
from tests.slack.test_outbox_parts import long_history
from tests.slack.test_serve import Server, running_server
from tools.fake_slack import FakeSlack

pytestmark = pytest.mark.slow


def parts_held(fake: FakeSlack, user: str) -> list[tuple[int, int]]:
    """(outbox id, part) of each post in the DM with ``user``, in the order Slack posted them."""
    held = fake.held(user)
    assert all(m["metadata"]["event_type"] == STAMP for m in held)
    return [
        (m["metadata"]["event_payload"]["outbox_id"], m["metadata"]["event_payload"]["part"])
        for m in held
    ]


def record(new_session: db.SessionFactory, key: str, user: str, message: Message) -> int:
    with transaction(new_session) as session:
        assert recording.record(session, key=key, recipient=user, message=message, now=utcnow())
    with new_session() as session:
        row = session.exec(select(OutboxMessage).where(OutboxMessage.dedupe_key == key)).one()
    assert row.id is not None
    return row.id


def rows(new_session: db.SessionFactory) -> list[OutboxMessage]:
    with new_session() as session:
        return list(session.exec(select(OutboxMessage).order_by(OutboxMessage.id)))  # type: ignore[arg-type]


def all_sent(new_session: db.SessionFactory) -> bool:
    return all(m.status == "sent" for m in rows(new_session))


def test_a_post_slack_holds_when_the_process_is_killed_arrives_once_and_before_the_next_part(
    serve_env: dict[str, str],
    tmp_path: Path,
    fake_slack: FakeSlack,
    new_session: db.SessionFactory,
) -> None:
    """Killed while Slack holds the first part of a long message for 8 s; restarted at once,
    the successor takes over, finds nothing yet, and waits until the held send's deadline (the
    client's timeout) has passed before it looks: it finds it then, and sends the rest."""
    people = [PRACTITIONER, OTHER_PRACTITIONER]
    with running_server(serve_env, tmp_path / "first.log") as server:
        fake_slack.hold_posts(1, 8.0)
        ids = [record(new_session, f"test:held:{p}", p, long_history()) for p in people]
        assert fake_slack.wait_for(lambda: fake_slack.holding == 1)
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait(10)
    assert all(not fake_slack.held(p) for p in people)  # nothing posted yet

    with running_server(serve_env, tmp_path / "second.log"):
        started = time.monotonic()
        assert wait_until(lambda: all_sent(new_session), 25)
        recovered_in = time.monotonic() - started
    assert fake_slack.wait_for(lambda: fake_slack.holding == 0, 15)  # the held post is posted
    for message_id, person in zip(ids, people, strict=True):
        held = parts_held(fake_slack, person)
        assert held == [(message_id, part) for part in range(len(held))], held
        assert len(held) > 2
    print(f"held posts taken over: all parts once and in order {recovered_in:.1f} s after restart")


@contextmanager
def two_servers(env: dict[str, str], tmp_path: Path) -> Iterator[list[Server]]:
    with (
        running_server(env, tmp_path / "a.log") as first,
        running_server(env, tmp_path / "b.log") as second,
    ):
        yield [first, second]


def claimed_by(new_session: db.SessionFactory, message_id: int, servers: list[Server]) -> Server:
    """The server whose process holds the claim on the message (its worker is in the
    server's process group)."""
    found: list[Server] = []

    def claimed() -> bool:
        with new_session() as session:
            row = session.get(OutboxMessage, message_id)
            if row is None or row.status != "sending" or row.owner is None:
                return False
            process = session.get(Process, row.owner)
        if process is None:
            return False
        found.extend(s for s in servers if os.getpgid(process.pid) == s.process.pid)
        return True

    assert wait_until(claimed, 10)
    return found[0]


def test_a_process_stopped_between_its_claim_and_its_send_does_not_send_when_it_resumes(
    serve_env: dict[str, str],
    tmp_path: Path,
    fake_slack: FakeSlack,
    new_session: db.SessionFactory,
) -> None:
    """Two web processes. The one that claims an uncertain message is stopped while it looks
    for it (Slack is slow to answer the look); the other finds it stalled, takes the message
    over, looks, and sends it. Resumed, the first finds its claim taken and sends nothing."""
    with two_servers(serve_env, tmp_path) as servers:
        fake_slack.slow_history(1, 2.0)
        with transaction(new_session) as session:  # a send before had an unknown outcome
            recording.record(
                session,
                key="test:stalled",
                recipient=PRACTITIONER,
                message=Message.of("slack/stale_button"),
                now=utcnow(),
            )
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.dedupe_key == "test:stalled")  # type: ignore[arg-type]
                .values(uncertain=True)
            )
        [message_id] = [m.id or 0 for m in rows(new_session)]
        stalled = claimed_by(new_session, message_id, servers)
        os.killpg(stalled.process.pid, signal.SIGSTOP)
        stopped_at = time.monotonic()
        try:
            assert fake_slack.wait_for(lambda: len(fake_slack.held(PRACTITIONER)) == 1, 30)
            taken_over_in = time.monotonic() - stopped_at
        finally:
            os.killpg(stalled.process.pid, signal.SIGCONT)
        time.sleep(3)  # the resumed process reads the look's answer: not there
        assert wait_until(lambda: all_sent(new_session), 10)
    assert parts_held(fake_slack, PRACTITIONER) == [(message_id, 0)]
    # Resumed, it tried nothing: it found its claim taken (at the renewal or the send's check).
    assert [c.method for c in fake_slack.calls].count("chat.postMessage") == 1
    print(f"stopped between claim and send: taken over and sent once {taken_over_in:.1f} s on")
