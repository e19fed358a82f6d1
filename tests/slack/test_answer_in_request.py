"""An answer handled in its request: the handled-once key, the answer, the reflection's state and
the next question in one transaction before Slack's 200. Nothing acknowledged is lost, nothing
is handled twice, and one person's answers stay in order."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from slack_bolt import BoltResponse
from sqlalchemy.exc import OperationalError
from sqlmodel import col, func, select

from bot.bootstrap import Database
from bot.reflection.service import ReflectionService
from bot.settings import Settings
from bot.slack.app import build_app
from storage import reflections
from storage.db import transaction
from storage.models import InboxItem, OutboxMessage, Reflection, SlackEvent
from storage.reflections import answers_of
from tests.fake_slack import FakeSlack
from tests.slack.conftest import (
    PRACTITIONER,
    SlackDriver,
    TickingClock,
    assert_valid_payloads,
    dm_event,
    event_body,
)


@pytest.fixture
def direct(
    settings: Settings,
    database: Database,
    fake_slack: FakeSlack,
    ticking_clock: TickingClock,
    organisation: None,
) -> Iterator[SlackDriver]:
    app = build_app(settings, database, now=ticking_clock, answers_in_request=True)
    driver = SlackDriver(app, fake_slack, database.new_session, ticking_clock)
    yield driver
    assert_valid_payloads(fake_slack)


def started(slack: SlackDriver) -> None:
    assert slack.command(PRACTITIONER, "csc-2001").status == 200
    slack.deliver()  # the first question reaches them


def written(slack: SlackDriver) -> dict[str, str | None]:
    with slack.new_session() as session:
        reflection = session.exec(select(Reflection)).one()
        stored = answers_of(session=session, reflection_id=reflection.id or 0)
        return {qid: answer.value for qid, answer in stored.items()}


def current_question(slack: SlackDriver) -> str | None:
    with slack.new_session() as session:
        return session.exec(select(Reflection)).one().current_question


def count(slack: SlackDriver, model: type) -> int:
    with slack.new_session() as session:
        return session.exec(select(func.count()).select_from(model)).one()


def questions_recorded(slack: SlackDriver) -> int:
    with slack.new_session() as session:
        query = select(func.count()).where(
            OutboxMessage.recipient == PRACTITIONER, col(OutboxMessage.prompt).is_not(None)
        )
        return session.exec(query).one()


def test_an_answer_is_handled_before_the_200_without_the_inbox(direct: SlackDriver) -> None:
    started(direct)
    response = direct.message(PRACTITIONER, "1")
    assert response.status == 200
    assert written(direct) == {"purpose": "A planned visit"}
    assert current_question(direct) == "worry"
    assert count(direct, InboxItem) == 0
    assert "What worries you most" in direct.texts_to(PRACTITIONER)[-1]


def test_a_database_failure_before_the_commit_stores_nothing_and_slacks_retry_is_handled(
    direct: SlackDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process fails (or dies) mid-step: nothing was acknowledged, so nothing may be kept,
    not even the handled-once key, or Slack's retry would be thrown away."""
    started(direct)
    keys_before = count(direct, SlackEvent)

    def database_away(**_kwargs: object) -> None:
        raise OperationalError("INSERT INTO answer", {}, Exception("server closed the connection"))

    monkeypatch.setattr(reflections, "save_answer", database_away)
    failed = direct.message(PRACTITIONER, "1", event_id="EvRETRIED01")
    assert failed.status != 200
    assert count(direct, SlackEvent) == keys_before
    assert count(direct, InboxItem) == 0
    assert written(direct) == {}
    monkeypatch.undo()

    retried = direct.message(PRACTITIONER, "1", event_id="EvRETRIED01")
    assert retried.status == 200
    assert written(direct) == {"purpose": "A planned visit"}
    assert current_question(direct) == "worry"


def test_slacks_retry_after_the_commit_changes_nothing(direct: SlackDriver) -> None:
    """Committed, then the process died before its 200 (or the 200 came too late): Slack
    sends the event again, which finds its key taken."""
    started(direct)
    assert direct.message(PRACTITIONER, "1", event_id="EvTWICE0001").status == 200
    questions = questions_recorded(direct)
    again = direct.message(PRACTITIONER, "1", event_id="EvTWICE0001")
    assert again.status == 200
    assert questions_recorded(direct) == questions
    assert written(direct) == {"purpose": "A planned visit"}
    assert current_question(direct) == "worry"


def at_once(slack: SlackDriver, bodies: list[str]) -> list[BoltResponse]:
    """Dispatch each body on a thread of its own, all released together."""
    start = threading.Barrier(len(bodies))
    responses: list[BoltResponse | None] = [None] * len(bodies)

    def send(index: int) -> None:
        start.wait()
        responses[index] = slack.dispatch(bodies[index], content_type="application/json")

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert all(r is not None for r in responses)
    return [r for r in responses if r is not None]


def test_the_same_event_delivered_twice_at_once_is_handled_once(direct: SlackDriver) -> None:
    started(direct)
    body = event_body(dm_event(PRACTITIONER, "1"), "EvRACING001")
    assert [r.status for r in at_once(direct, [body, body])] == [200, 200]
    assert written(direct) == {"purpose": "A planned visit"}
    assert current_question(direct) == "worry"
    assert questions_recorded(direct) == 2


def test_two_answers_from_one_person_at_once_are_both_kept_in_turn(direct: SlackDriver) -> None:
    """Typed under the same question and handled at once: one answers it, the other (typed
    before the next question reached them) is added to it, never taken as the next answer."""
    started(direct)
    assert direct.message(PRACTITIONER, "1").status == 200
    direct.deliver()  # "worry" is on screen
    bodies = [
        event_body(dm_event(PRACTITIONER, "Tired and hungry"), "EvTOGETHER1"),
        event_body(dm_event(PRACTITIONER, "Missed the nursery"), "EvTOGETHER2"),
    ]
    assert [r.status for r in at_once(direct, bodies)] == [200, 200]
    worry = written(direct)["worry"] or ""
    assert "Tired and hungry" in worry and "Missed the nursery" in worry
    assert current_question(direct) == "working_well"
    assert questions_recorded(direct) == 3


def test_a_failure_other_than_the_databases_leaves_the_answer_to_the_inbox(
    direct: SlackDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Acknowledged only once stored: the inbox keeps it, tries it again, and (if it never
    succeeds) sets it aside and tells the person."""
    started(direct)
    respond_in = ReflectionService.respond_in
    calls: list[int] = []

    def fails_once(self: ReflectionService, *args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a bug")
        return respond_in(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ReflectionService, "respond_in", fails_once)
    assert direct.message(PRACTITIONER, "1").status == 200
    assert len(calls) == 2  # in the request, then by the inbox (here, at once)
    assert written(direct) == {"purpose": "A planned visit"}
    assert count(direct, InboxItem) == 0


def test_an_answer_queues_behind_one_of_theirs_still_in_the_inbox(
    direct: SlackDriver, ticking_clock: TickingClock
) -> None:
    started(direct)
    later = ticking_clock() + timedelta(minutes=5)
    with transaction(direct.new_session) as session:
        session.add(
            InboxItem(
                kind="answer",
                user_id=PRACTITIONER,
                payload={"key": "ev:EvEARLIER01", "text": "1", "ts": ""},
                received_at=ticking_clock(),
                claimed_until=later,
                owner="another-process",
                attempts=1,
                status="waiting",
            )
        )
    assert direct.message(PRACTITIONER, "Behind the first").status == 200
    assert written(direct) == {}
    with direct.new_session() as session:
        waiting = session.exec(select(InboxItem).order_by(col(InboxItem.id))).all()
    assert [item.payload["text"] for item in waiting] == ["1", "Behind the first"]
