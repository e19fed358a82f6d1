"""`reflect serve` starts whatever state the database is in, and /healthz (can this process
serve?) is told apart from the backlog alarm (/healthz/backlog: what waits too long).

Real processes: the server, a killed predecessor, a session holding a row, another process
holding SQLite's write lock, a proxy refusing or blackholing PostgreSQL."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlmodel import select

from bot.liveness import pid_started
from bot.messaging.message import CONVERSATION, Message
from bot.reflection.service import utcnow
from storage import db
from storage.db import transaction
from storage.models import InboxItem, OutboxMessage, Process
from tests.faults.conftest import (
    Served,
    read_only,
    serve_env,
    served,
    sqlite_database,
    through,
    timed,
    write_lock_held,
)
from tests.faults.proxy import FaultProxy, Mode
from tests.slack.conftest import (  # noqa: F401  (a fixture)
    OTHER_PRACTITIONER,
    PRACTITIONER,
    organisation,
    wait_until,
)
from tools.fake_slack import FakeSlack

pytestmark = pytest.mark.slow

NEVER_IN_THE_LOG = ("Traceback", "Exception in worker process", "Worker failed to boot")


def clean(log: Path) -> str:
    text = log.read_text()
    for bad in NEVER_IN_THE_LOG:
        assert bad not in text, text
    return text


def served_now(server: Served, user: str, event_id: str, fake: FakeSlack) -> None:
    """``user`` types in the DM: Slack gets its 200 and a reply arrives."""
    before = len(fake.messages_to(user))
    assert server.answer(user, "hello", event_id)[0] == 200
    assert fake.wait_for(lambda: len(fake.messages_to(user)) > before, timeout=10)


def killed_process(new_session: db.SessionFactory, owner: str) -> None:
    """A process of this host that was killed with a message claimed, mid-send."""
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    started = pid_started(victim.pid)
    victim.kill()
    victim.wait(10)
    now = utcnow()
    with transaction(new_session) as session:
        session.add(
            Process(
                id=owner,
                host=socket.gethostname()[:255],
                pid=victim.pid,
                pid_started=started,
                started_at=now,
                seen_at=now,
            )
        )
        session.add(
            OutboxMessage(
                dedupe_key=f"msg:{owner}",
                surface=CONVERSATION,
                recipient=PRACTITIONER,
                payload=Message.of("slack/close_refused", found=False, case_ref="CSC-1").to_json(),
                status="sending",
                attempts=1,
                next_attempt_at=now + timedelta(seconds=60),
                created_at=now,
                owner=owner,
            )
        )


def test_serve_starts_and_serves_while_a_killed_predecessors_claim_is_locked(
    postgres_url: str,
    engine: Engine,
    new_session: db.SessionFactory,
    organisation: None,  # noqa: F811
    fake_slack: FakeSlack,
    tmp_path: Path,
) -> None:
    killed_process(new_session, "killed")
    log = tmp_path / "serve.log"
    with engine.connect() as holder:  # a session left open by a cut holds the row
        holder.execute(text("SELECT id FROM outbox WHERE owner = 'killed' FOR UPDATE"))
        with served(serve_env(postgres_url, tmp_path, fake_slack), log) as server:
            assert server.healthz() == (200, "ok\n")
            served_now(server, OTHER_PRACTITIONER, "Ev0LOCKSTART", fake_slack)
            time.sleep(4.5)  # the takeover is tried again every 2 s, logged once
            assert fake_slack.messages_to(PRACTITIONER) == []
            holder.rollback()
            _, took_over = timed(
                lambda: fake_slack.wait_for(lambda: len(fake_slack.messages_to(PRACTITIONER)) == 1)
            )
            assert fake_slack.messages_to(PRACTITIONER)
            with new_session() as session:
                assert session.get(Process, "killed") is None
    logged = clean(log)
    assert logged.count("could not take over the work of 1 stopped process(es)") == 1
    assert logged.count("database locked: another session held a lock") == 1
    assert took_over < 4.0
    print(f"row locked at start: served at once; taken over {took_over:.2f} s after the release")


def test_serve_starts_while_another_process_holds_sqlites_write_lock(
    tmp_path: Path, fake_slack: FakeSlack
) -> None:
    url = sqlite_database(tmp_path / "data")
    log = tmp_path / "serve.log"
    with (
        ExitStack() as lock,
        served(serve_env(url, tmp_path, fake_slack), log, healthy=False) as (server),
    ):
        lock.enter_context(write_lock_held(tmp_path / "data" / "reflect.db"))
        for _ in range(3):
            assert server.healthz() == (503, "unavailable: database locked\n")
            time.sleep(1)
        assert server.process.poll() is None
        lock.close()
        recovered = server.healthy_within(10)
        served_now(server, OTHER_PRACTITIONER, "Ev0SQLITELOCK", fake_slack)
    logged = clean(log)
    assert logged.count("database locked: another process holds the SQLite") == 1
    print(f"SQLite locked at start: 503, no exit; healthy {recovered:.2f} s after the release")


def test_serve_starts_on_a_read_only_sqlite_file_and_serves_once_it_is_writable(
    tmp_path: Path, fake_slack: FakeSlack
) -> None:
    url = sqlite_database(tmp_path / "data")
    path = tmp_path / "data" / "reflect.db"
    log = tmp_path / "serve.log"
    with ExitStack() as mounted, ExitStack() as running:
        mounted.enter_context(read_only(path))
        server = running.enter_context(
            served(serve_env(url, tmp_path, fake_slack), log, healthy=False)
        )
        for _ in range(3):
            assert server.healthz() == (503, "unavailable: database read-only\n")
            time.sleep(0.5)
        status, body = server.answer(OTHER_PRACTITIONER, "hello", "Ev0READONLY1")
        assert (status, body.strip()) == (503, "database read-only")
        assert server.process.poll() is None
        mounted.close()
        recovered = server.healthy_within(10)
        served_now(server, OTHER_PRACTITIONER, "Ev0READONLY2", fake_slack)
    logged = clean(log)
    assert logged.count(f"storage.health: database read-only: the database file {path}") == 1
    print(f"read-only file at start: 503 naming it, no exit; healthy {recovered:.2f} s after")


@pytest.mark.parametrize("mode", [Mode.REFUSE, Mode.BLACKHOLE])
def test_serve_starts_with_postgresql_unreachable_and_serves_when_it_answers(
    postgres_url: str,
    proxy: FaultProxy,
    new_session: db.SessionFactory,
    organisation: None,  # noqa: F811
    fake_slack: FakeSlack,
    tmp_path: Path,
    mode: Mode,
) -> None:
    proxy.set_mode(mode)
    log = tmp_path / "serve.log"
    env = serve_env(through(proxy, postgres_url), tmp_path, fake_slack)
    with served(env, log, healthy=False) as server:
        (status, body), seconds = timed(server.healthz)
        assert status == 503 and body.startswith("unavailable: database")
        assert seconds < 1.0
        assert server.answer(OTHER_PRACTITIONER, "hello", "Ev0UNREACH1")[0] == 503
        time.sleep(2)
        assert server.process.poll() is None
        proxy.set_mode(Mode.PASS)
        recovered = server.healthy_within(10)
        served_now(server, OTHER_PRACTITIONER, "Ev0UNREACH2", fake_slack)
    logged = clean(log)
    assert "database unreachable" in logged or "database timed out" in logged
    assert logged.count("not serving yet") == 1
    print(f"{mode.value} at start: 503 {body.strip()!r}; healthy {recovered:.2f} s after")


def test_a_stuck_answer_trips_the_backlog_alarm_not_healthz(
    database_url: str,
    new_session: db.SessionFactory,
    organisation: None,  # noqa: F811
    fake_slack: FakeSlack,
    tmp_path: Path,
) -> None:
    now = utcnow()
    with transaction(new_session) as session:
        # Another live process (elsewhere) holds an answer that has waited 200 s, and a
        # message waits 150 s for its retry.
        session.add(
            Process(id="elsewhere", host="another-host", pid=1, started_at=now, seen_at=now)
        )
        session.add(
            InboxItem(
                kind="answer",
                user_id=PRACTITIONER,
                payload={"key": "ev:stuck", "text": "seen at school"},
                received_at=now - timedelta(seconds=200),
                claimed_until=now + timedelta(seconds=60),
                owner="elsewhere",
                attempts=1,
            )
        )
        session.add(
            OutboxMessage(
                dedupe_key="msg:late",
                surface=CONVERSATION,
                recipient=PRACTITIONER,
                payload=Message.of("slack/close_refused", found=False, case_ref="CSC-1").to_json(),
                status="pending",
                attempts=3,
                next_attempt_at=now + timedelta(seconds=60),
                created_at=now - timedelta(seconds=150),
                last_error="ratelimited",
            )
        )
    with new_session() as session:
        [stuck] = session.exec(select(InboxItem)).all()
    log = tmp_path / "serve.log"
    with served(serve_env(database_url, tmp_path, fake_slack), log) as server:
        assert server.healthz() == (200, "ok\n")  # a fresh process: not its failure
        status, backlog = server.backlog()
        assert status == 503 and backlog["ok"] is False
        assert backlog["answers"]["oldest"]["id"] == stuck.id
        assert backlog["answers"]["oldest"]["held_by"] == "another process"
        assert backlog["answers"]["oldest"]["waiting_seconds"] >= 200
        assert backlog["messages"]["oldest"]["held_by"] is None
        assert backlog["messages"]["oldest"]["last_error"] == "ratelimited"
        assert len(backlog["problems"]) == 2
        assert "seen at school" not in str(backlog)
        served_now(server, OTHER_PRACTITIONER, "Ev0BACKLOG1", fake_slack)  # others are served
        assert server.healthz() == (200, "ok\n")

        with transaction(new_session) as session:  # handled, and the message set aside
            session.execute(text("DELETE FROM inbox"))
            session.execute(text("UPDATE outbox SET status = 'failed' WHERE status = 'pending'"))
        status, backlog = server.backlog()
        assert (status, backlog["ok"], backlog["problems"]) == (200, True, [])
        assert wait_until(lambda: "nothing waits too long" in log.read_text(), timeout=8)
    logged = clean(log)
    tripped = [line for line in logged.splitlines() if "backlog: oldest" in line]
    assert len(tripped) == 1 and f"inbox item {stuck.id}" in tripped[0]
    assert "held by another process" in tripped[0] and "seen at school" not in logged
    print(tripped[0].split(" bot.backlog: ", 1)[1])
