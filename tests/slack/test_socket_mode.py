"""`reflect serve` over Socket Mode as a real process, against a local imitation of Socket Mode
(tests/fake_socket_mode.py): it gets back to acknowledging within seconds when the connection
drops or goes silent, stays fast across Slack's routine refresh, and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from slack_bolt import BoltResponse
from sqlmodel import select

from bot.slack.socket_mode import acknowledgement
from storage import db
from storage.db import transaction
from storage.models import Answer, InboxItem, Person, Process, Reflection
from tests.fake_socket_mode import (
    FakeSocketMode,
    event_callback,
    running_socket_mode,
    slash_command,
)
from tests.slack.conftest import PRACTITIONER, dm_event
from tools.fake_slack import FakeSlack

pytestmark = pytest.mark.slow
APP_TOKEN = "xapp-test-0001"


@pytest.fixture
def socket_mode(fake_slack: FakeSlack) -> Iterator[FakeSocketMode]:
    with running_socket_mode(lifetime=120) as fake:
        fake_slack.methods["apps.connections.open"] = fake.connections_open
        yield fake


@contextmanager
def serving(env: dict[str, str], socket_mode: FakeSocketMode, log: Path) -> Iterator[Any]:
    """`reflect serve` in Socket Mode, connected on return, always ended."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve"],
            env={**env, "SLACK_APP_TOKEN": APP_TOKEN},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            connected = socket_mode.wait_for_connections(1, timeout=20)
            assert connected, log.read_text()
            yield process
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def start_reflection(socket_mode: FakeSocketMode, user: str, case: str) -> dict[str, Any]:
    """/reflect CASE by ``user``; what the app acknowledged it with."""
    envelope_id = socket_mode.send(
        "slash_commands", slash_command(user, case, f"trig.{user}"), accepts_response_payload=True
    )
    acked = socket_mode.wait_for_ack(envelope_id, timeout=10)
    assert acked is not None and acked.response is not None
    return acked.response


def acknowledged_in(socket_mode: FakeSocketMode, started: float, envelope_id: str) -> float:
    acked = socket_mode.wait_for_ack(envelope_id, timeout=30)
    assert acked is not None and acked.acked_at is not None, "never acknowledged"
    return acked.acked_at - started


def answered(new_session: db.SessionFactory, user: str) -> list[str]:
    with new_session() as session:
        rows = session.exec(
            select(Answer.question_id)
            .join(Reflection, Reflection.id == Answer.reflection_id)  # type: ignore[arg-type]
            .where(Reflection.practitioner_id == user)
        )
        return list(rows.all())


def test_after_an_abrupt_drop_slack_is_acknowledged_again_within_seconds(
    serve_env: dict[str, str],
    socket_mode: FakeSocketMode,
    fake_slack: FakeSlack,
    tmp_path: Path,
) -> None:
    with serving(serve_env, socket_mode, tmp_path / "serve.log"):
        time.sleep(0.3)  # connected and settled
        socket_mode.drop()  # the network goes: no close frame
        dropped = time.monotonic()
        envelope_id = socket_mode.send(
            "slash_commands",
            slash_command(PRACTITIONER, "CSC-8001", "trig.drop"),
            accepts_response_payload=True,
        )
        took = acknowledged_in(socket_mode, dropped, envelope_id)
        response = socket_mode.envelopes[envelope_id].response
        assert fake_slack.wait_for(lambda: len(fake_slack.messages_to(PRACTITIONER)) == 1)

    assert took < 5, took  # not the 40 to 60 s of a connection left for dead by pings
    assert response is not None and response["response_type"] == "ephemeral"
    assert len(socket_mode.links) == 2


def test_a_silent_connection_is_given_up_and_replaced_within_seconds(
    serve_env: dict[str, str], socket_mode: FakeSocketMode, tmp_path: Path
) -> None:
    with serving(serve_env, socket_mode, tmp_path / "serve.log"):
        time.sleep(0.3)
        socket_mode.silence()  # open, but nothing comes back: not even a pong
        silenced = time.monotonic()
        envelope_id = socket_mode.send(
            "slash_commands", slash_command(PRACTITIONER, "CSC-8002", "trig.silent")
        )
        took = acknowledged_in(socket_mode, silenced, envelope_id)
    assert took < 8, took  # a ping every 2 s, unanswered for 2 s; then a new connection


def test_across_slacks_refresh_a_slash_command_is_acknowledged_at_once(
    serve_env: dict[str, str], socket_mode: FakeSocketMode, tmp_path: Path
) -> None:
    """Slack says disconnect (refresh_requested) and closes the connection a moment later:
    commands sent all along, before and after the close, are acknowledged without a wait."""
    with serving(serve_env, socket_mode, tmp_path / "serve.log"):
        time.sleep(0.3)
        socket_mode.refresh(close_after=2.0)
        refreshed = time.monotonic()
        sent: list[tuple[str, float]] = []
        while time.monotonic() - refreshed < 2.5:
            at = time.monotonic()
            payload = slash_command(f"U0REFR{len(sent):03d}", "", f"trig.refresh.{len(sent)}")
            sent.append((socket_mode.send("slash_commands", payload), at))
            time.sleep(0.1)
        latencies = [acknowledged_in(socket_mode, at, envelope_id) for envelope_id, at in sent]
        first, second = socket_mode.links[:2]

    # Slack's deadline is 3 s; Slack's built-in client made these wait for the old connection to
    # close (2 s here).
    assert max(latencies) < 1, latencies
    assert second.opened_at - refreshed < 1.0  # opened before the first one closed
    assert first.closed


def test_on_sigterm_the_work_in_hand_is_finished_or_released_and_sends_flushed(
    serve_env: dict[str, str],
    socket_mode: FakeSocketMode,
    fake_slack: FakeSlack,
    new_session: db.SessionFactory,
    tmp_path: Path,
) -> None:
    """Answers acknowledged just before SIGTERM are handled, their next questions reach Slack,
    or they wait in the inbox, unclaimed, for the next process; then the process exits 0."""
    people = [f"U0TERM{n:03d}" for n in range(4)]
    with transaction(new_session) as session:
        for person in people:
            session.add(Person(person_id=person, agency_id="csc", role="practitioner"))
    # One sender and a slow Slack: the next questions queue up behind each other.
    env = {**serve_env, "REFLECT_SENDERS": "1"}
    with serving(env, socket_mode, tmp_path / "serve.log") as process:
        for n, person in enumerate(people):
            start_reflection(socket_mode, person, f"CSC-81{n:02d}")
        assert fake_slack.wait_for(lambda: len(fake_slack.posted()) == len(people))
        time.sleep(0.3)  # the first questions are marked sent
        fake_slack.post_delay = 0.2
        answers = [
            socket_mode.send(
                "events_api",
                event_callback(
                    dm_event(person, f"No, a planned visit, after school ({n})"), f"Ev0TERM{n:03d}"
                ),
            )
            for n, person in enumerate(people)
        ]
        for envelope_id in answers:
            assert socket_mode.wait_for_ack(envelope_id, timeout=10) is not None
        os.killpg(process.pid, signal.SIGTERM)
        signalled = time.monotonic()
        code = process.wait(15)
        stopped_in = time.monotonic() - signalled

    log = (tmp_path / "serve.log").read_text()
    assert code == 0, log
    assert stopped_in < 5, stopped_in
    assert "A planned visit, after school" not in log  # what practitioners typed is never logged
    with new_session() as session:
        waiting = {item.user_id: item for item in session.exec(select(InboxItem))}
        assert session.exec(select(Process)).first() is None  # it left the process table
    for person in people:
        if person in waiting:  # released for the next process, not held by a claim
            assert waiting[person].owner is None, person
            continue
        assert answered(new_session, person) == ["today"], person
        assert len(fake_slack.messages_to(person)) == 2, person  # the next question went out


def test_the_acknowledgement_carries_bolts_reply_and_nothing_when_bolt_did_not_acknowledge() -> (
    None
):
    ephemeral = BoltResponse(
        status=200,
        body=json.dumps({"response_type": "ephemeral", "text": "Starting"}),
        headers={"content-type": "application/json;charset=utf-8"},
    )
    assert acknowledgement("e1", ephemeral) == {
        "envelope_id": "e1",
        "payload": {"response_type": "ephemeral", "text": "Starting"},
    }
    assert acknowledgement("e2", BoltResponse(status=200, body="")) == {"envelope_id": "e2"}
    assert acknowledgement("e3", BoltResponse(status=200, body="Thanks")) == {
        "envelope_id": "e3",
        "payload": {"text": "Thanks"},
    }
    assert acknowledgement("e4", BoltResponse(status=404, body="")) is None
