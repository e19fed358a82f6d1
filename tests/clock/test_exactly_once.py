"""Exactly once: reruns, a crash part-way, and Slack answering 429 or 5xx."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from slack_sdk.web import WebClient
from sqlalchemy import Engine

from bot.bootstrap import Database
from bot.clock import jobs
from bot.clock.scheduler import tick
from bot.config.clock import ClockConfig
from bot.messaging.message import CONVERSATION, Message
from bot.settings import Settings
from bot.slack.directory import directory_for
from bot.slack.frontend import front_end_for
from storage import outbox
from storage.db import SessionFactory, transaction
from tests.clock import helpers as h
from tests.clock.test_jobs import outbox_rows, prompt_rows
from tests.conftest import FixedClock
from tools.fake_slack import fake_slack


def _long_open_cases(new_session: SessionFactory, count: int) -> None:
    for number in range(count):
        h.case(new_session, f"CSC-{9000 + number}", opened_on=date(2026, 1, 5))


def test_rerun_decides_nothing_new(new_session: SessionFactory) -> None:
    _long_open_cases(new_session, 3)
    first = jobs.run_jobs(h.context_at(new_session, "2026-12-07T09:30"))
    again = jobs.run_jobs(h.context_at(new_session, "2026-12-07T09:30"))
    assert first.decided["long_open"] == 3
    assert again.total == 0
    assert len(outbox_rows(new_session)) == len(prompt_rows(new_session)) == 3


def test_a_crash_part_way_then_a_rerun_gives_each_prompt_exactly_once(
    new_session: SessionFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    _long_open_cases(new_session, 7)
    config = ClockConfig(batch_size=2)
    real_enqueue = outbox.enqueue_many
    calls = {"n": 0}

    def enqueue_then_crash(**kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:  # the second page: its prompts are recorded, then the crash
            raise RuntimeError("process killed")
        return real_enqueue(**kwargs)

    monkeypatch.setattr(outbox, "enqueue_many", enqueue_then_crash)
    crashed = jobs.run_jobs(h.context_at(new_session, "2026-12-07T09:30", config=config))
    assert crashed.failed_jobs == ["long_open"]
    # The first page was committed; the page that crashed left nothing behind.
    assert len(prompt_rows(new_session)) == len(outbox_rows(new_session)) == 2

    monkeypatch.setattr(outbox, "enqueue_many", real_enqueue)
    rerun = jobs.run_jobs(h.context_at(new_session, "2026-12-07T09:40", config=config))
    assert rerun.decided["long_open"] == 5
    keys = [m.dedupe_key for m in outbox_rows(new_session)]
    assert len(keys) == len(set(keys)) == 7
    assert sorted(p.key for p in prompt_rows(new_session)) == sorted(keys)


def test_a_prompt_held_for_working_hours_does_not_hold_up_the_conversation(
    new_session: SessionFactory,
) -> None:
    case_id = h.case(new_session, "CSC-1001", opened_on=date(2026, 1, 5))
    saturday = h.context_at(new_session, "2026-12-05T10:00")
    assert jobs.long_open_cases(saturday) == 1
    with transaction(new_session) as session:
        outbox.enqueue(
            session=session,
            dedupe_key="reply:1",
            surface=CONVERSATION,
            recipient=h.PRACTITIONER,
            payload=Message.of("slack/stale_button").to_json(),
            now=saturday.now,
        )
    with new_session() as session:
        due_now = outbox.due_ids(session=session, now=saturday.now, limit=10)
        # On Monday morning the held prompt goes first.
        due_monday = outbox.due_ids(session=session, now=h.local("2026-12-07T09:00"), limit=10)
    keys = {m.id: m.dedupe_key for m in outbox_rows(new_session)}
    assert [keys[i] for i in due_now] == ["reply:1"]
    assert [keys[i] for i in due_monday] == [f"long_open:{case_id}:2026-12-05"]


def test_429_and_5xx_from_slack_are_retried_and_delivered_exactly_once(
    new_session: SessionFactory,
) -> None:
    h.case(new_session, "CSC-1001", opened_on=date(2026, 1, 5))
    h.case(new_session, "CSC-1002", opened_on=date(2026, 1, 5), practitioner="U0TESTOTHR")
    clock = FixedClock(h.local("2026-12-07T09:30"))
    assert jobs.long_open_cases(h.context_at(new_session, clock.current)) == 2
    with fake_slack() as slack:
        client = WebClient(token="xoxb-test", base_url=slack.url)
        slack.fail_next(1, status=429, retry_after=30, method="chat.postMessage")
        first = h.deliver(new_session, client, now=clock)
        # The first message was rate limited and waits; the other recipient's still went.
        assert (first.sent, first.retrying) == (1, 1)
        assert [p["channel"] for p in slack.posted()] == ["U0TESTOTHR"]

        clock.current += timedelta(seconds=29)
        assert h.deliver(new_session, client, now=clock).sent == 0  # Retry-After honoured

        clock.current += timedelta(seconds=1)
        slack.fail_next(1, status=503, method="chat.postMessage")
        assert h.deliver(new_session, client, now=clock).retrying == 1

        clock.current += timedelta(minutes=5)
        assert h.deliver(new_session, client, now=clock).sent == 1
        clock.current += timedelta(hours=1)
        assert h.deliver(new_session, client, now=clock).sent == 0
    channels = sorted(p["channel"] for p in slack.posted())
    assert channels == sorted([h.PRACTITIONER, "U0TESTOTHR"])
    assert {m.status for m in outbox_rows(new_session)} == {"sent"}


def test_slack_down_for_an_hour_loses_nothing(new_session: SessionFactory) -> None:
    h.case(new_session, "CSC-1001", opened_on=date(2026, 1, 5))
    clock = FixedClock(h.local("2026-12-07T09:30"))
    jobs.long_open_cases(h.context_at(new_session, clock.current))
    with fake_slack() as slack:
        # Nothing listens on the discard port; no client-side retries, the outbox retries.
        down = WebClient(token="xoxb-test", base_url="http://127.0.0.1:9/api/", retry_handlers=[])
        for _ in range(6):
            assert h.deliver(new_session, down, now=clock).sent == 0
            clock.current += timedelta(minutes=10)
        client = WebClient(token="xoxb-test", base_url=slack.url)
        clock.current += timedelta(hours=1)
        assert h.deliver(new_session, client, now=clock).sent == 1
    assert len(slack.posted()) == 1


def test_tick_decides_then_delivers_through_the_web_api(
    engine: Engine, new_session: SessionFactory
) -> None:
    h.case(new_session, "CSC-1001", opened_on=date(2026, 1, 5))
    h.case(new_session, "CSC-1002", opened_on=date(2026, 1, 5), practitioner="who@example.org")
    with fake_slack() as slack:
        slack.users_by_email["who@example.org"] = "U0TESTWHOO"
        settings = Settings(slack_bot_token="xoxb-test", slack_api_url=slack.url)
        database = Database(engine, new_session)
        now = FixedClock(h.local("2026-12-07T09:30"))
        front_end = front_end_for(settings)
        directory = directory_for(settings)
        outcome = tick(
            database, settings, ClockConfig(), now=now, front_end=front_end, directory=directory
        )
        again = tick(
            database, settings, ClockConfig(), now=now, front_end=front_end, directory=directory
        )
    assert outcome.jobs.decided["long_open"] == 2
    assert outcome.delivery is not None and outcome.delivery.sent == 2
    assert again.jobs.total == 0 and again.delivery is not None and again.delivery.sent == 0
    assert sorted(p["channel"] for p in slack.posted()) == [h.PRACTITIONER, "U0TESTWHOO"]
    assert outcome.waiting == 0
