"""Rows held by a session cut off mid-transaction behind a proxy: delivery and the inbox step
over them (FOR UPDATE SKIP LOCKED) instead of waiting behind them, and the server ends the
cut session after idle_in_transaction_session_timeout, freeing what it held. PostgreSQL only:
SQLite has no row locks (tests/faults/test_sqlite_faults.py holds its one write lock)."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import select

from bot.messaging import outbox as recording
from bot.messaging.message import Message
from bot.reflection.service import utcnow
from storage import db, inbox
from storage.db import transaction
from storage.models import OutboxMessage
from tests.faults.conftest import serve_env, served, through
from tests.faults.proxy import FaultProxy, Mode
from tests.slack.conftest import wait_until
from tools.fake_slack import FakeSlack

pytestmark = pytest.mark.slow
PEOPLE = [f"U0HELD{n:03d}" for n in range(6)]
HELD = PEOPLE[:2]
# The cut session's own limit, shorter than the 30 s a web process sets, to keep the test short.
CUT_IDLE_MS = 8_000  # outlasts starting reflect serve on a loaded machine


def statuses(new_session: db.SessionFactory) -> dict[str, str]:
    with new_session() as session:
        rows = session.exec(select(OutboxMessage.recipient, OutboxMessage.status))
        return dict(rows.all())


def test_messages_go_round_rows_a_cut_session_holds_and_those_go_once_it_is_ended(
    postgres_url: str,
    proxy: FaultProxy,
    tmp_path: Path,
    fake_slack: FakeSlack,
    new_session: db.SessionFactory,
) -> None:
    with transaction(new_session) as session:
        for person in PEOPLE:  # the held ones first: the oldest, met first by every pass
            recording.record(
                session,
                key=f"test:held:{person}",
                recipient=person,
                message=Message.of("slack/stale_button"),
                now=utcnow() - timedelta(seconds=5),
            )
    far = db.make_engine(
        through(proxy, postgres_url), db.Limits(idle_in_transaction_timeout_ms=CUT_IDLE_MS)
    )
    try:
        cut = far.connect()
        cut.execute(
            text("SELECT id FROM outbox WHERE recipient IN (:a, :b) FOR UPDATE"),
            {"a": HELD[0], "b": HELD[1]},
        )
        proxy.set_mode(Mode.BLACKHOLE)  # mid-transaction: it can neither commit nor roll back
        cut_at = time.monotonic()
        env = serve_env(postgres_url, tmp_path, fake_slack)
        with served(env, tmp_path / "serve.log"):
            started = time.monotonic()
            free = [p for p in PEOPLE if p not in HELD]
            assert wait_until(lambda: all(statuses(new_session)[p] == "sent" for p in free), 10)
            others_in = time.monotonic() - started
            assert all(statuses(new_session)[p] != "sent" for p in HELD)
            assert wait_until(lambda: all(statuses(new_session)[p] == "sent" for p in HELD), 15)
            held_in = time.monotonic() - cut_at
        cut.invalidate()
    finally:
        far.dispose()
    assert others_in < 1.5, others_in  # no lock_timeout (1 s) waited out per held row
    # Ended by the server CUT_IDLE_MS after the cut (it was idle in its transaction), then
    # sent at the next pass.
    assert held_in < CUT_IDLE_MS / 1000 + 4, held_in
    assert sorted(m["channel"] for m in fake_slack.posted()) == sorted(PEOPLE)  # each once
    print(
        f"others sent {others_in:.2f} s after start; held rows sent {held_in:.2f} s after the cut"
    )


def test_a_persons_held_head_is_stepped_over_at_once_and_never_overtaken(
    postgres_url: str, proxy: FaultProxy, new_session: db.SessionFactory
) -> None:
    now = utcnow()
    with transaction(new_session) as session:
        ids = {
            (user, n): inbox.add(
                session=session,
                kind="message",
                user_id=user,
                payload={},
                now=now,
                claimed_until=now,
            )
            for n in range(2)
            for user in ("U0HELDHEAD", "U0FREE")
        }
    far = db.make_engine(through(proxy, postgres_url))
    try:
        with far.connect() as cut:
            cut.execute(
                text("SELECT id FROM inbox WHERE id = :id FOR UPDATE"), {"id": ids["U0HELDHEAD", 0]}
            )
            proxy.set_mode(Mode.BLACKHOLE)
            started = time.monotonic()
            with transaction(new_session) as session:
                held = inbox.claim_head(
                    session=session, user_id="U0HELDHEAD", owner="me", now=now, until=now
                )
                free = inbox.claim_head(
                    session=session, user_id="U0FREE", owner="me", now=now, until=now
                )
            waited = time.monotonic() - started
            cut.invalidate()
    finally:
        far.dispose()
    assert held is None  # not the item behind it either
    assert free is not None and free.id == ids["U0FREE", 0]
    assert waited < 0.5, waited  # no lock_timeout (1 s) waited out
