"""/healthz's extra checks, the 503 for a Slack request the database failed, errors told apart
by their codes, and the limits read from the environment."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError, OperationalError

from bot.backlog import Backlog
from bot.bootstrap import Database
from bot.serving.server import ReflectWSGI
from bot.settings import Settings
from storage import db, health
from storage.db import transaction
from storage.models import InboxItem
from tests.faults.conftest import command_env, reflect, sqlite_database, write_lock_held

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def call(wsgi: ReflectWSGI, path: str, method: str = "GET") -> tuple[str, str, float]:
    statuses: list[str] = []
    started = time.monotonic()
    environ = {"PATH_INFO": path, "REQUEST_METHOD": method}
    body = b"".join(wsgi(environ, lambda status, _headers: statuses.append(status)))
    return statuses[0], body.decode(), time.monotonic() - started


def app_on(engine: Any, handler: Any = None, checks: Iterable[Any] = ()) -> ReflectWSGI:
    return ReflectWSGI(
        {"/slack/events": handler} if handler else {},
        Database(engine, db.session_factory(engine)),
        checks=list(checks),
    )


def test_an_answer_waiting_too_long_trips_the_backlog_alarm_and_healthz_stays_200(
    engine: Any, new_session: db.SessionFactory, caplog: pytest.LogCaptureFixture
) -> None:
    backlog = Backlog(
        new_session, answer_seconds=120, message_seconds=120, owner="me", now=lambda: NOW
    )
    wsgi = ReflectWSGI({}, Database(engine, new_session), backlog=backlog)
    assert call(wsgi, "/healthz")[:2] == ("200 OK", "ok\n")
    status, body, _ = call(wsgi, "/healthz/backlog")
    assert status == "200 OK" and json.loads(body)["ok"] is True
    with transaction(new_session) as session:
        session.add(
            InboxItem(
                kind="answer",
                user_id="U0TESTPRAC",
                payload={"key": "ev:1", "text": "seen at school"},
                received_at=NOW - timedelta(seconds=121),
                claimed_until=NOW + timedelta(seconds=30),
                owner="me",
                attempts=1,
            )
        )
    assert call(wsgi, "/healthz")[:2] == ("200 OK", "ok\n")
    status, body, _ = call(wsgi, "/healthz/backlog")
    assert status == "503 Service Unavailable"
    [problem] = json.loads(body)["problems"]
    assert problem.startswith("oldest unhandled answer (inbox item ")
    assert problem.endswith("waiting 121 s (over 120 s), held by this process, 1 try")
    backlog.check()
    backlog.check()
    assert caplog.text.count("backlog: oldest unhandled answer") == 1
    assert "seen at school" not in body + caplog.text


def test_a_check_that_hangs_is_a_503_within_a_second_and_runs_once(engine: Any) -> None:
    release = threading.Event()
    runs: list[int] = []

    def handlers_stuck() -> str | None:
        runs.append(1)
        release.wait(10)
        return None

    wsgi = app_on(engine, checks=[handlers_stuck])
    try:
        for _ in range(3):
            status, body, seconds = call(wsgi, "/healthz")
            assert status == "503 Service Unavailable"
            assert body == "unavailable: the health check did not answer within 0.8 s\n"
            assert seconds < 1.0
        assert len(runs) == 1
    finally:
        release.set()


def test_a_check_that_fails_is_a_503_not_a_500(engine: Any) -> None:
    def broken() -> str | None:
        raise RuntimeError("a bug")

    status, body, _ = call(app_on(engine, checks=[broken]), "/healthz")
    assert status == "503 Service Unavailable"
    assert body == "unavailable: health check failed (RuntimeError)\n"


def bolt_answering(status: str, fault: BaseException | None) -> Any:
    """A stand-in for Bolt's handler: meets ``fault`` on the database (or not) and answers."""

    def handler(_environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if fault is not None:
            health.note(fault, log=False)
        start_response(status, [("Content-Type", "application/json")])
        return [b"{}"]

    return handler


def busy() -> OperationalError:
    error = sqlite3.OperationalError("database is locked")
    error.sqlite_errorcode = sqlite3.SQLITE_BUSY  # type: ignore[attr-defined]
    error.sqlite_errorname = "SQLITE_BUSY"  # type: ignore[attr-defined]
    return OperationalError("INSERT INTO inbox", {"text": "seen at school"}, error)


def test_a_slack_request_the_database_failed_is_a_503_and_others_are_untouched(
    engine: Any,
) -> None:
    failed = app_on(engine, bolt_answering("500 Internal Server Error", busy()))
    assert call(failed, "/slack/events", "POST")[:2] == (
        "503 Service Unavailable",
        "database locked\n",
    )
    bug = app_on(engine, bolt_answering("500 Internal Server Error", None))
    assert call(bug, "/slack/events", "POST")[0] == "500 Internal Server Error"
    handled = app_on(engine, bolt_answering("200 OK", busy()))  # e.g. /reflect said "unavailable"
    assert call(handled, "/slack/events", "POST")[0] == "200 OK"


class FakePostgresError(Exception):
    def __init__(self, sqlstate: str | None) -> None:
        super().__init__("statement with parameter 'seen at school'")
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("sqlstate", "fault"),
    [
        ("55P03", health.Fault.LOCKED),
        ("57014", health.Fault.TIMED_OUT),
        ("25006", health.Fault.READ_ONLY),
        ("53100", health.Fault.DISK_FULL),
        ("08006", health.Fault.UNREACHABLE),
        ("57P01", health.Fault.UNREACHABLE),
        ("23505", None),  # a unique constraint: not the database's availability
    ],
)
def test_postgresql_errors_are_told_apart_by_sqlstate(
    sqlstate: str, fault: health.Fault | None
) -> None:
    diagnosis = health.diagnose(OperationalError("UPDATE", {}, FakePostgresError(sqlstate)))
    assert (diagnosis.fault if diagnosis else None) is fault
    if diagnosis is not None:
        assert "seen at school" not in diagnosis.log_line() and sqlstate in diagnosis.log_line()


def test_sqlite_errors_are_told_apart_by_result_code(tmp_path: Path) -> None:
    assert health.diagnose(busy()).fault is health.Fault.LOCKED  # type: ignore[union-attr]
    connection = sqlite3.connect(tmp_path / "x.db")
    connection.execute("CREATE TABLE t (x UNIQUE)")
    connection.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(sqlite3.IntegrityError) as duplicate:
        connection.execute("INSERT INTO t VALUES (1)")
    assert health.diagnose(IntegrityError("INSERT", {}, duplicate.value)) is None


def test_a_command_names_a_lock_held_by_another_process(tmp_path: Path) -> None:
    url = sqlite_database(tmp_path / "data")
    env = {**command_env(url, tmp_path), "REFLECT_DB_BATCH_LOCK_TIMEOUT_MS": "300"}
    with write_lock_held(tmp_path / "data" / "reflect.db"):
        done = reflect(env, "history", "CSC-1")
    assert done.returncode == 2
    assert done.stderr.startswith("The database is locked: another process holds")
    assert "Traceback" not in done.stderr


def test_database_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFLECT_DB_STATEMENT_TIMEOUT_MS", "900")
    monkeypatch.setenv("REFLECT_DB_LOCK_TIMEOUT_MS", "500")
    monkeypatch.setenv("REFLECT_DB_BATCH_STATEMENT_TIMEOUT_MS", "600000")
    monkeypatch.setenv("REFLECT_HEALTH_OLDEST_UNHANDLED_SECONDS", "300")
    settings = Settings()
    assert settings.database_limits.statement_timeout_ms == 600_000  # commands: batch
    serving = settings.for_requests().database_limits
    assert (serving.statement_timeout_ms, serving.lock_timeout_ms) == (900, 500)
    assert serving.answer_timeout_s == pytest.approx(1.2)
    assert settings.oldest_unhandled_seconds == 300
    monkeypatch.setenv("REFLECT_DB_LOCK_TIMEOUT_MS", "0")
    with pytest.raises(ValidationError, match="REFLECT_DB_LOCK_TIMEOUT_MS"):
        Settings()
