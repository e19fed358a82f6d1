"""SQLite that cannot be written: locked by another process, read-only, on a full disk.

Slack gets a 503 within its three seconds (and retries later), /healthz a 503 within one
second naming the fault, and a command a message naming it, with exit code 2."""

from __future__ import annotations

import io
import sqlite3
import threading
import time
from pathlib import Path
from wsgiref.util import setup_testing_defaults

import pytest
from sqlalchemy import text

from bot.bootstrap import Database
from bot.serving.server import ReflectWSGI
from bot.settings import Settings
from bot.slack.app import build_app
from bot.slack.guard import GuardedRequestHandler, RequestGuard
from storage import db, health
from tests.faults.conftest import (
    BOT_TOKEN,
    SIGNING_SECRET,
    command_env,
    event_body,
    fill,
    read_only,
    reflect,
    serve_env,
    served,
    sign,
    sqlite_database,
    timed,
    tiny_disk,
    write_lock_held,
)
from tools.fake_slack import FakeSlack

pytestmark = pytest.mark.slow
PRACTITIONER = "U0TESTPRAC"


def healthz(database_url: str) -> tuple[str, str, float]:
    """GET /healthz of an app on ``database_url``, in this process: status, body, seconds."""
    engine = db.make_engine(database_url)
    wsgi = ReflectWSGI(endpoints={}, database=Database(engine, db.session_factory(engine)))
    statuses: list[str] = []

    def get() -> bytes:
        environ = {"PATH_INFO": "/healthz", "REQUEST_METHOD": "GET"}
        return b"".join(wsgi(environ, lambda status, _headers: statuses.append(status)))

    try:
        body, seconds = timed(get)
    finally:
        engine.dispose()
    return statuses[0], body.decode(), seconds


def stored(path: Path) -> tuple[int, int]:
    """Inbox items and handled-once keys, read past any lock (WAL readers never wait)."""
    with sqlite3.connect(path) as connection:
        inbox = connection.execute("SELECT count(*) FROM inbox").fetchone()[0]
        keys = connection.execute("SELECT count(*) FROM handled_key").fetchone()[0]
    return inbox, keys


def test_with_the_write_lock_held_elsewhere_slack_and_healthz_get_a_quick_503(
    tmp_path: Path, fake_slack: FakeSlack
) -> None:
    url = sqlite_database(tmp_path / "data")
    path = tmp_path / "data" / "reflect.db"
    env = serve_env(url, tmp_path, fake_slack)
    with served(env, tmp_path / "serve.log") as server:
        with write_lock_held(path):
            (status, body), slack_seconds = timed(
                lambda: server.answer(PRACTITIONER, "seen at school", "Ev0LOCKED1")
            )
            assert (status, body.strip()) == (503, "database locked")
            assert slack_seconds < 3.0
            assert stored(path) == (0, 0)  # nothing half-stored

            (status, body), health_seconds = timed(server.healthz)
            assert (status, body) == (503, "unavailable: database locked\n")
            assert health_seconds < 1.0

        # The lock is gone: Slack's retry of the same event is stored, once.
        assert server.answer(PRACTITIONER, "seen at school", "Ev0LOCKED1")[0] == 200
        assert server.healthz() == (200, "ok\n")
    log = (tmp_path / "serve.log").read_text()
    assert "answered 503" in log and "database locked: another process holds" in log
    assert "seen at school" not in log
    print(
        f"SQLite lock held: Slack 503 in {slack_seconds:.2f} s, /healthz in {health_seconds:.2f} s"
    )


def test_writers_of_one_process_wait_their_turn_for_a_bounded_time(tmp_path: Path) -> None:
    url = sqlite_database(tmp_path)
    engine = db.make_engine(url, db.Limits(lock_timeout_ms=200))
    new_session = db.session_factory(engine)
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with db.transaction(new_session):
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(5)
        started = time.monotonic()
        with pytest.raises(db.WriterQueueTimeoutError) as waited, db.transaction(new_session):
            pass
        assert 0.2 <= time.monotonic() - started < 1.0
        diagnosis = health.diagnose(waited.value)
        assert diagnosis is not None and diagnosis.fault is health.Fault.LOCKED
    finally:
        release.set()
        holder.join(10)
        engine.dispose()


def test_a_read_only_database_file_is_named(tmp_path: Path) -> None:
    url = sqlite_database(tmp_path / "data")
    path = tmp_path / "data" / "reflect.db"
    with read_only(path):
        status, body, seconds = healthz(url)
        assert (status, body) == ("503 Service Unavailable", "unavailable: database read-only\n")
        assert seconds < 1.0
        done = reflect(command_env(url, tmp_path), "history", "CSC-1")
    print(f"read-only file: /healthz 503 in {seconds:.2f} s")
    assert done.returncode == 2
    assert "read-only" in done.stderr and f"the database file {path} is read-only" in done.stderr
    assert "Traceback" not in done.stderr and "Could not reach" not in done.stderr


def slack_app(database_url: str, fake: FakeSlack) -> ReflectWSGI:
    """The web app as `reflect serve` builds it, on this process's threads."""
    engine = db.make_engine(database_url, log_faults=True)
    database = Database(engine, db.session_factory(engine))
    settings = Settings(
        slack_bot_token=BOT_TOKEN, slack_signing_secret=SIGNING_SECRET, slack_api_url=fake.url
    )
    app = build_app(settings, database)
    handler = GuardedRequestHandler(app, RequestGuard(app, SIGNING_SECRET), path="/slack/events")
    return ReflectWSGI({"/slack/events": handler}, database)


def post_answer(wsgi: ReflectWSGI, text: str) -> tuple[str, str]:
    event = {"type": "message", "channel": "D0TESTDM", "channel_type": "im", "user": PRACTITIONER}
    body = event_body({**event, "text": text, "ts": "1700000001.000100"}, "Ev0READONLY").encode()
    environ: dict[str, object] = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/slack/events",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    setup_testing_defaults(environ)
    for name, value in sign(body.decode()).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    statuses: list[str] = []
    answer = b"".join(wsgi(environ, lambda status, _headers: statuses.append(status)))
    return statuses[0], answer.decode()


def test_an_answer_to_a_read_only_database_is_a_503_that_says_so(
    tmp_path: Path, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    url = sqlite_database(tmp_path / "data")
    path = tmp_path / "data" / "reflect.db"
    with read_only(path):
        wsgi = slack_app(url, fake_slack)
        try:
            assert post_answer(wsgi, "seen at school") == (
                "503 Service Unavailable",
                "database read-only\n",
            )
        finally:
            wsgi.database.engine.dispose()
    assert stored(path) == (0, 0)
    logged = caplog.text
    assert f"database read-only: the database file {path} is read-only" in logged
    assert "answered 503" in logged and "seen at school" not in logged


def test_a_read_only_folder_is_named(tmp_path: Path) -> None:
    url = sqlite_database(tmp_path / "data")
    with read_only(tmp_path / "data"):
        status, body, seconds = healthz(url)
        assert (status, body) == ("503 Service Unavailable", "unavailable: database read-only\n")
        assert seconds < 1.0
        done = reflect(command_env(url, tmp_path), "history", "CSC-1")
    print(f"read-only folder: /healthz 503 in {seconds:.2f} s")
    assert done.returncode == 2
    assert f"the folder {tmp_path / 'data'} is read-only" in done.stderr
    assert "Traceback" not in done.stderr and "Could not reach" not in done.stderr


def test_a_full_disk_is_named(tmp_path: Path) -> None:
    with tiny_disk(tmp_path / "disk") as disk:
        url = sqlite_database(disk)
        fill(disk)
        status, body, seconds = healthz(url)
        assert (status, body) == ("503 Service Unavailable", "unavailable: database disk full\n")
        assert seconds < 1.0
        done = reflect(command_env(url, tmp_path), "history", "CSC-1")
    print(f"disk full: /healthz 503 in {seconds:.2f} s")
    assert done.returncode == 2
    assert "The database's disk is full" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_database_at_its_page_limit_is_full(tmp_path: Path) -> None:
    """SQLITE_FULL without a small disk: max_page_count caps the file where it is."""
    url = sqlite_database(tmp_path)
    engine = db.make_engine(url)
    new_session = db.session_factory(engine)
    with engine.connect() as connection:
        pages = connection.execute(text("PRAGMA page_count")).scalar_one()
    sqlalchemy_event = pytest.importorskip("sqlalchemy.event")

    @sqlalchemy_event.listens_for(engine, "connect")
    def _cap(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")

    engine.dispose()
    with pytest.raises(Exception) as full, db.transaction(new_session) as session:
        session.execute(text("CREATE TABLE filler (x BLOB)"))
        session.execute(text("INSERT INTO filler VALUES (zeroblob(1000000))"))
    diagnosis = health.diagnose(full.value, tmp_path / "reflect.db")
    assert diagnosis is not None and diagnosis.fault is health.Fault.DISK_FULL
    assert diagnosis.code == "SQLITE_FULL" and str(tmp_path) in diagnosis.detail
    engine.dispose()
