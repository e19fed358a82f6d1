"""A web process killed mid-conversation: its successor takes over at once, handles what was
stranded first, and files every answer under the question it was typed under."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlmodel import select

from storage import db, inbox
from storage.db import transaction
from storage.models import Answer, InboxItem, Person, Process, Reflection
from tests.slack.conftest import (
    LONE_PRACTITIONER,
    OTHER_PRACTITIONER,
    PRACTITIONER,
    command_body,
    wait_until,
)
from tests.slack.test_serve import running_server
from tools.fake_slack import FakeSlack

pytestmark = pytest.mark.slow
FORM = "application/x-www-form-urlencoded"
QUESTION_ONE = "First: does anything need action today?"  # today
QUESTION_TWO = "What is this visit for, and what worries you most"  # worry
QUESTION_THREE = "And what is working well?"  # working_well


def a_dead_pid() -> int:
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(finished.stdout)


def answers_of(new_session: db.SessionFactory, user: str) -> dict[str, str | None]:
    with new_session() as session:
        rows = session.exec(
            select(Answer.question_id, Answer.value)
            .join(Reflection, Reflection.id == Answer.reflection_id)  # type: ignore[arg-type]
            .where(Reflection.practitioner_id == user)
        )
        return dict(rows.all())


def texts_to(fake: FakeSlack, user: str) -> list[str]:
    return [str(m.get("blocks")) for m in fake.messages_to(user)]


def test_an_answer_stranded_by_a_dead_process_is_handled_first_and_at_once(
    serve_env: dict[str, str],
    tmp_path: Path,
    fake_slack: FakeSlack,
    new_session: db.SessionFactory,
) -> None:
    with running_server(serve_env, tmp_path / "serve.log") as server:
        assert server.post(command_body(PRACTITIONER, "CSC-7001", "trig.crash.1"), FORM)[0] == 200
        assert fake_slack.wait_for(lambda: len(fake_slack.messages_to(PRACTITIONER)) == 1)
        time.sleep(0.3)  # the first question is marked sent
        server.typed(PRACTITIONER, "3", "Ev0TODAY1")  # nothing for today
        assert fake_slack.wait_for(lambda: len(fake_slack.messages_to(PRACTITIONER)) == 2)
        time.sleep(0.3)  # the worry question is marked sent
        # What `kill -9` leaves: an answer stored and acknowledged, claimed by a process that
        # no longer exists, for another minute.
        now = datetime.now(UTC)
        with transaction(new_session) as session:
            session.add(
                Process(
                    id="deadbeef" * 4,
                    host=os.uname().nodename,
                    pid=a_dead_pid(),
                    started_at=now - timedelta(minutes=5),
                    seen_at=now,
                )
            )
            inbox.add(
                session=session,
                kind="answer",
                user_id=PRACTITIONER,
                payload={
                    "key": "ev:Ev0STRANDED",
                    "text": "To see where she sleeps and what there is to eat",
                    "ts": f"{time.time():.6f}",
                },
                now=now,
                claimed_until=now + timedelta(seconds=60),
                owner="deadbeef" * 4,
            )
        started = time.monotonic()
        # Before seeing any reply, the practitioner adds to what they said.
        server.typed(PRACTITIONER, "And to meet her grandmother", "Ev0AFTER1")

        assert wait_until(lambda: "worry" in answers_of(new_session, PRACTITIONER), 10)
        taken_over_in = time.monotonic() - started
        assert wait_until(lambda: _inbox_empty(new_session), 10)
        assert fake_slack.wait_for(lambda: len(fake_slack.messages_to(PRACTITIONER)) == 4)

    assert taken_over_in < 5, taken_over_in  # not the minute a claim lasts
    answers = answers_of(new_session, PRACTITIONER)
    assert answers == {  # the second message answered nothing unseen
        "today": "no",
        "worry": "To see where she sleeps and what there is to eat\n\nAnd to meet her grandmother",
    }
    said = texts_to(fake_slack, PRACTITIONER)
    assert QUESTION_ONE in said[0] and QUESTION_TWO in said[1]
    assert QUESTION_THREE in said[2] and "Added that to your answer" in said[3]
    with new_session() as session:
        assert session.exec(select(Process).where(Process.id == "deadbeef" * 4)).first() is None


def _inbox_empty(new_session: db.SessionFactory) -> bool:
    with new_session() as session:
        return session.exec(select(InboxItem)).first() is None


def test_killed_mid_conversation_nothing_is_lost_misfiled_or_waits_a_minute(
    serve_env: dict[str, str],
    tmp_path: Path,
    fake_slack: FakeSlack,
    new_session: db.SessionFactory,
) -> None:
    people = [f"U0KILL{n:03d}" for n in range(12)]
    with transaction(new_session) as session:
        for person in people:
            session.add(Person(person_id=person, agency_id="csc", role="practitioner"))
    with running_server(serve_env, tmp_path / "first.log") as server:
        for n, person in enumerate(people):
            assert server.post(command_body(person, f"CSC-72{n:02d}", f"trig.k{n}"), FORM)[0] == 200
        assert fake_slack.wait_for(lambda: len(fake_slack.posted()) == len(people))
        time.sleep(0.3)
        threads = [
            threading.Thread(
                target=server.typed,
                args=(p, f"No. Visit {n}: her room and the fridge", f"Ev0K{n:03d}"),
            )
            for n, p in enumerate(people)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        os.killpg(server.process.pid, signal.SIGKILL)  # every answer acknowledged, then gone
        server.process.wait(10)
    with new_session() as session:
        stranded = len(list(session.exec(select(InboxItem))))

    with running_server(serve_env, tmp_path / "second.log") as server:
        started = time.monotonic()
        assert wait_until(lambda: _inbox_empty(new_session), 15)
        recovered_in = time.monotonic() - started
        for n, person in enumerate(people):
            server.typed(person, "Hunger", f"Ev0K2{n:03d}")  # the worry, under question two
        assert wait_until(lambda: all(len(answers_of(new_session, p)) == 2 for p in people), 15)

    print(f"stranded by the kill: {stranded}; recovered in {recovered_in:.2f} s")
    assert recovered_in < 8, (stranded, recovered_in)
    for n, person in enumerate(people):
        answers = answers_of(new_session, person)
        assert answers["today"] == f"No. Visit {n}: her room and the fridge", person
        assert answers["worry"] == "Hunger", person


def test_locked_rows_hold_up_nobody_elses_answers(
    serve_env: dict[str, str],
    tmp_path: Path,
    fake_slack: FakeSlack,
    new_session: db.SessionFactory,
    engine: Engine,
) -> None:
    """As many practitioners' rows locked by a lost session as there are answer handlers: each
    handler gives up on its locked row within the lock timeout, and someone else's answer is
    handled meanwhile; the locked ones are handled once the lock goes."""
    if engine.dialect.name != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite has one write lock (tests/faults)")
    locked = [PRACTITIONER, LONE_PRACTITIONER]  # two, as `reflect serve` has two handlers
    people = [*locked, OTHER_PRACTITIONER]
    with running_server(serve_env, tmp_path / "serve.log") as server:
        for n, person in enumerate(people):
            assert server.post(command_body(person, f"CSC-74{n}1", f"trig.lock{n}"), FORM)[0] == 200
        assert fake_slack.wait_for(lambda: len(fake_slack.posted()) == len(people))
        time.sleep(0.3)
        with engine.connect() as holder:  # a session cut off mid-transaction, holding locks
            held = holder.begin()
            holder.execute(
                text("SELECT id FROM reflection WHERE practitioner_id IN (:a, :b) FOR UPDATE"),
                {"a": locked[0], "b": locked[1]},
            )
            for n, person in enumerate(locked):
                server.typed(person, f"No, to meet dad at home ({n})", f"Ev0LOCKED{n}")
            time.sleep(0.2)  # both handlers are now waiting on a locked row
            server.typed(OTHER_PRACTITIONER, "No, a review of the plan with school", "Ev0FREE01")
            started = time.monotonic()
            assert wait_until(lambda: "today" in answers_of(new_session, OTHER_PRACTITIONER), 8)
            other_handled_in = time.monotonic() - started
            assert all("today" not in answers_of(new_session, p) for p in locked)
            held.rollback()
        assert wait_until(lambda: all("today" in answers_of(new_session, p) for p in locked), 15)
        assert wait_until(lambda: _inbox_empty(new_session), 5)
    assert other_handled_in < 3, other_handled_in
    for n, person in enumerate(locked):
        assert answers_of(new_session, person)["today"] == f"No, to meet dad at home ({n})"
