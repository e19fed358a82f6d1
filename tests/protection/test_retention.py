"""Retention: purge_expired deletes exactly what is past its period, in batches, and audits it."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import Engine, func, insert, text
from sqlmodel import select

from bot.config.retention import RetentionPolicy
from bot.requests import Requests
from bot.retention import purge_expired
from bot.settings import Settings
from storage import audit, outbox
from storage import retention as retention_queries
from storage.db import SessionFactory, transaction
from storage.models import (
    Action,
    Answer,
    AuditEntry,
    Case,
    ClockPrompt,
    HandledKey,
    OutboxMessage,
    Reflection,
)
from tests.protection.conftest import (
    OTHER_PRACTITIONER,
    PRACTITIONER,
    SUPERVISOR,
    RunReflection,
    load_org,
)


def count(new_session: SessionFactory, model: type) -> int:
    with new_session() as session:
        return session.exec(select(func.count()).select_from(model)).one()


def test_defaults_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert RetentionPolicy() == RetentionPolicy(365, 90, 30, 7, 2190)
    monkeypatch.setenv("REFLECT_RETENTION_DAYS", "730")
    policy = Settings().retention
    assert policy.completed_days == 730 and policy.unfinished_days == 90
    monkeypatch.setenv("REFLECT_RETENTION_OUTBOX_DAYS", "a month")
    with pytest.raises(ValidationError, match="REFLECT_RETENTION_OUTBOX_DAYS"):
        Settings()


def test_purge_keeps_what_is_in_date_and_deletes_what_is_not(
    new_session: SessionFactory, run_reflection: RunReflection, service: Requests, clock
) -> None:
    load_org(new_session)
    start = clock.current
    old = [run_reflection(case_ref=f"CSC-10{n}") for n in range(3)]  # completed a year+ ago
    service.start(practitioner_id=SUPERVISOR, case_ref="CSC-2001")
    service.respond(practitioner_id=SUPERVISOR, text="Left part-way")  # abandoned
    with transaction(new_session) as session:
        outbox.enqueue(
            session=session, dedupe_key="old-sent", surface="conversation",
            recipient=PRACTITIONER, payload={"text": "x"}, now=start,
        )  # fmt: skip
        outbox.enqueue(
            session=session, dedupe_key="old-pending", surface="conversation",
            recipient=PRACTITIONER, payload={"text": "x"}, now=start,
        )  # fmt: skip
        session.flush()
        sent = session.exec(
            select(OutboxMessage).where(OutboxMessage.dedupe_key == "old-sent")
        ).one()
        sent.status, sent.sent_at = "sent", start
        session.add(HandledKey(event_id="Ev0OLD", received_at=start))
        audit.record(session=session, actor="x", action="view", subject="s", now=start)

    clock.current = start + timedelta(days=300)
    recent = run_reflection(case_ref="CSC-3001")
    service.start(practitioner_id=OTHER_PRACTITIONER, case_ref="CSC-2002")  # unfinished, recent

    now = start + timedelta(days=366)
    report = purge_expired(new_session, now=now, batch_size=2)

    assert report.reflections == 4  # three old completed, one abandoned
    assert report.answers > 60 and report.actions == 6
    assert (report.outbox, report.handled_keys, report.audit) == (1, 1, 0)
    assert report.batches >= 3
    with new_session() as session:
        remaining = {r.id for r in session.exec(select(Reflection))}
        left = session.exec(select(OutboxMessage.dedupe_key)).all()
        answers_left = session.exec(select(Answer.reflection_id)).all()
        purge_row = session.exec(select(AuditEntry).where(AuditEntry.action == "purge")).one()
    assert recent in remaining and not set(old) & remaining and len(remaining) == 2
    assert set(answers_left) <= remaining
    assert left == ["old-pending"]  # never delete what has not been sent yet
    assert purge_row.detail["reflections"] == 4 and purge_row.at == now
    assert count(new_session, Case) == 6  # the case list is the administrator's

    again = purge_expired(new_session, now=now)
    assert again.total == 0

    audit_expiry = start + timedelta(days=6 * 365 + 1)
    later = purge_expired(new_session, now=audit_expiry, policy=RetentionPolicy())
    assert later.audit == 1 and later.reflections == 2
    assert count(new_session, Action) == 0


def test_the_clocks_prompts_go_with_their_reflection_or_once_past_any_look_back(
    new_session: SessionFactory, run_reflection: RunReflection, clock
) -> None:
    start = clock.current
    old = run_reflection(case_ref="CSC-4001")
    clock.current = start + timedelta(days=300)
    recent = run_reflection(case_ref="CSC-4002")
    with new_session() as session:
        old_action = session.exec(select(Action.id).where(Action.reflection_id == old)).first()
        recent_action = session.exec(
            select(Action.id).where(Action.reflection_id == recent)
        ).first()
        case_id = session.exec(select(Case.id).where(Case.ref == "CSC-4002")).one()
    assert old_action is not None and recent_action is not None

    def prompt(job: str, key: str, subject: int | None, days_after_start: int) -> ClockPrompt:
        decided = start + timedelta(days=days_after_start)
        return ClockPrompt(
            job=job, key=key, subject_id=subject, recipient_id=PRACTITIONER, decided_at=decided
        )

    with transaction(new_session) as session:
        session.add_all(
            [
                prompt("unfinished", f"unfinished:{old}", old, 1),
                prompt("lead_followup", f"lead_followup:{old}", old, 3),
                prompt("action_due", f"action_due:{old_action}:{PRACTITIONER}", old_action, 5),
                prompt("lead_followup", f"lead_followup:{recent}", recent, 1),  # kept: in date
                prompt("action_due", f"action_due:{recent_action}:x", recent_action, 1),  # kept
                prompt("long_open", f"long_open:{case_id}:old", case_id, 0),
                prompt("digest", f"digest:{SUPERVISOR}:old", None, 0),
                prompt("long_open", f"long_open:{case_id}:new", case_id, 300),  # kept
                # A reflection's old prompt is kept while the reflection is: it is asked about.
                prompt("unfinished", f"unfinished:{recent}", recent, 0),
            ]
        )

    report = purge_expired(new_session, now=start + timedelta(days=367))

    assert report.reflections == 1 and report.clock_prompts == 5
    with new_session() as session:
        left = set(session.exec(select(ClockPrompt.key)).all())
    assert left == {
        f"lead_followup:{recent}",
        f"action_due:{recent_action}:x",
        f"long_open:{case_id}:new",
        f"unfinished:{recent}",
    }


def test_the_purges_on_every_tick_search_through_their_indexes(
    engine: Engine, new_session: SessionFactory, clock
) -> None:
    # Days of traffic, none of it expired: a search that read the table would read it all.
    now = clock()
    rows = range(3000)

    def ago(n: int) -> datetime:
        return now - timedelta(minutes=2 * n)  # spread over four days

    with engine.begin() as connection:
        connection.execute(
            insert(OutboxMessage),
            [
                {
                    "dedupe_key": f"recent:{n}", "surface": "conversation",
                    "recipient": PRACTITIONER, "payload": {"text": "x"}, "status": "sent",
                    "attempts": 1, "next_attempt_at": ago(n), "created_at": ago(n),
                    "sent_at": ago(n),
                }
                for n in rows
            ],
        )  # fmt: skip
        connection.execute(
            insert(HandledKey), [{"event_id": f"Ev0RECENT{n}", "received_at": ago(n)} for n in rows]
        )
        connection.execute(
            insert(ClockPrompt),
            [
                {"job": "long_open", "key": f"long_open:{n}", "subject_id": n,
                 "recipient_id": PRACTITIONER, "decided_at": ago(n)}
                for n in rows
            ],
        )  # fmt: skip
    assert purge_expired(new_session, now=now).total == 0
    with engine.connect() as connection:
        # The planner's statistics, as PostgreSQL's autovacuum keeps them for a month of traffic.
        connection.execute(text("ANALYZE"))
        sqlite = connection.dialect.name == "sqlite"
        expired = now - timedelta(days=30)
        searches = {
            "ix_outbox_finished": retention_queries.finished_outbox_batch(expired, 500),
            "ix_handled_key_received_at": retention_queries.old_handled_keys_batch(expired, 500),
            "ix_clock_prompt_decided_at": retention_queries.old_clock_prompts_batch(expired, 500),
        }
        for index, search in searches.items():
            sql = str(search.compile(connection, compile_kwargs={"literal_binds": True}))
            explain = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
            plan = " ".join(str(row) for row in connection.exec_driver_sql(explain + sql))
            assert index in plan, plan


def test_every_clock_job_has_a_retention_rule() -> None:
    from bot.clock.jobs import JOBS

    ruled = (
        retention_queries.REFLECTION_PROMPTS
        + retention_queries.ACTION_PROMPTS
        + retention_queries.DATED_PROMPTS
    )
    assert set(JOBS) - {"retention"} == set(ruled)


def test_purge_with_nothing_to_do_leaves_no_trace(new_session: SessionFactory, clock) -> None:
    report = purge_expired(new_session, now=clock())
    assert report.total == 0
    with new_session() as session:
        assert session.exec(select(AuditEntry.action)).all() == []


def test_the_purge_command_reports_counts_and_refuses_a_bad_period(
    cli_env: dict[str, str], new_session: SessionFactory
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot", "retention", "purge"],
        env=cli_env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "removed 0 records" in done.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "bot", "retention", "purge"],
        env={**cli_env, "REFLECT_RETENTION_DAYS": "a year"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert bad.returncode == 2 and "REFLECT_RETENTION_DAYS" in bad.stderr
    assert "Traceback" not in bad.stderr
    with new_session() as session:
        assert session.exec(select(AuditEntry.action)).all() == []
