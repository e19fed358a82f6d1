"""What an answer costs the database: from taking the stored answer to the next question
recorded in the outbox, one transaction of at most eight statements, on SQLite and PostgreSQL
alike (the whole suite runs on either). The latency benchmark (benchmarks/latency.py) measures
what that buys; this keeps it from growing back unnoticed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk.web import WebClient
from sqlalchemy import Engine, select, text
from sqlmodel import col

from bot.messaging.delivery import Delivery
from bot.requests import Requests
from bot.slack.frontend import SlackFrontEnd
from storage import db
from storage.db import transaction
from storage.models import InboxItem, OutboxMessage, Reflection
from tests.conftest import FixedClock
from tests.statements import counted
from tools.fake_slack import FakeSlack

PRAC = "U0STEPCOST"
MOST_STATEMENTS = 8
STEPS = 10
# What a practitioner types, by the kind of question asked: a choice's last option (where the
# first ones are the worrying answers, which would stop the reflection for today), a point on a
# scale, their own words; anything else is skipped.
TYPED = {
    "scale": "4",
    "text": "Dad's drinking again and the children were alone on Saturday night",
}


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    server = FakeSlack().start()
    yield server
    server.stop()


@dataclass
class Served:
    """Requests as a test drives them (the next question recorded, not sent), or as `reflect
    serve` runs them: a sender claims each message as it is recorded and sends it after the
    commit, here to the fake Slack Web API."""

    requests: Requests
    delivery: Delivery | None = None

    def typed_at(self, clock: FixedClock) -> datetime:
        # Served, a question reaches the fake Slack now, and the answer is typed after it.
        return datetime.now(UTC) if self.delivery else clock()


@pytest.fixture(params=[False, True], ids=["recorded", "served"])
def served(
    request: pytest.FixtureRequest,
    new_session: db.SessionFactory,
    clock: FixedClock,
    fake_slack: FakeSlack,
) -> Iterator[Served]:
    if not request.param:
        yield Served(Requests(new_session, now=clock))
        return
    client = WebClient(token="xoxb-step-cost", base_url=fake_slack.url)
    delivery = Delivery(new_session, SlackFrontEnd(client), now=clock, senders=1, owner="step-cost")
    yield Served(Requests(new_session, now=clock, delivery=delivery), delivery)
    delivery.stop()


def all_sent(new_session: db.SessionFactory) -> bool:
    with new_session() as session:
        statuses = session.execute(select(col(OutboxMessage.status))).scalars().all()
    return all(status == "sent" for status in statuses)


def wait_until_sent(new_session: db.SessionFactory, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not all_sent(new_session):
        assert time.monotonic() < deadline, "the question was never sent"
        time.sleep(0.01)


def what_to_type(requests: Requests, new_session: db.SessionFactory) -> str:
    with new_session() as session:
        asked = session.execute(select(col(Reflection.current_question))).scalar_one()
    question = requests.service.questions.questions.get(asked or "")
    if question is None:
        return "skip"
    if question.kind == "choice":
        return str(len(question.options))
    return TYPED.get(question.kind, "skip")


def answer(served: Served, clock: FixedClock, number: int, words: str) -> None:
    clock.current += timedelta(seconds=40)
    stored = served.requests.receive_answer(
        practitioner_id=PRAC,
        text=words,
        typed_at=served.typed_at(clock),
        key=f"ev:step-cost-{number}",
    )
    assert stored


def last_said(new_session: db.SessionFactory) -> list[str]:
    """The templates of the last message recorded, for an assertion's message."""
    with new_session() as session:
        payload = session.execute(
            select(col(OutboxMessage.payload)).order_by(col(OutboxMessage.id).desc()).limit(1)
        ).scalar_one()
    return [part.get("template", "?") for part in payload.get("parts", [])]


def questions_recorded(new_session: db.SessionFactory) -> int:
    with new_session() as session:
        asks = select(col(OutboxMessage.prompt)).where(col(OutboxMessage.prompt).is_not(None))
        return len(session.execute(asks).all())


def test_an_answers_step_is_one_transaction_of_at_most_eight_statements(
    served: Served, new_session: db.SessionFactory, engine: Engine, clock: FixedClock
) -> None:
    served.requests.start(practitioner_id=PRAC, case_ref="CSC-2001", key="start:step-cost")
    for number in range(1, STEPS + 1):
        if served.delivery:
            wait_until_sent(new_session)
        words = what_to_type(served.requests, new_session)
        asked_before = questions_recorded(new_session)
        # This thread's: the sender's own statements, sending and marking, are not the step's.
        with counted(engine, this_thread_only=True) as sql:
            answer(served, clock, number, words)
        # The first transaction stores the answer before the platform is acknowledged; what
        # comes after it is the step: taking it, answering, recording the next question.
        step = sql.after_commits(1)
        assert step.transactions == 1, f"answer {number}: {step.transactions} transactions\n" + (
            step.shown()
        )
        assert len(step.statements) <= MOST_STATEMENTS, (
            f"answer {number}: {len(step.statements)} statements\n" + step.shown()
        )
        # The next question was recorded (the same one again, for words it could not read).
        assert questions_recorded(new_session) == asked_before + 1, (
            f"answer {number}: {words!r}: {last_said(new_session)}"
        )
        with new_session() as session:
            assert session.execute(select(InboxItem)).all() == []  # the answer was taken


def test_the_counter_sees_each_statement_and_transaction(
    new_session: db.SessionFactory, engine: Engine
) -> None:
    with counted(engine) as sql:
        with transaction(new_session) as session:
            session.execute(text("SELECT 1"))
            session.execute(text("SELECT 2"))
        with new_session() as session:
            session.execute(text("SELECT 3"))
    assert sql.transactions == 2
    assert sql.statements == ["SELECT 1", "SELECT 2", "SELECT 3"]
    after = sql.after_commits(1)
    assert (after.transactions, after.statements) == (1, ["SELECT 3"])
