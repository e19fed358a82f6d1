"""PostgreSQL behind a proxy that can be cut: nothing waits for it forever.

A connection that goes silent is given up on by the client and dropped from the pool; a
server that cannot be reached fails a connection within connect_timeout; another session's
row lock fails a writer within lock_timeout, and a partitioned session's locks are freed by
the server; /healthz says 503 within a second while all this lasts, and 200 after; a Slack
request gets a 503 within its three seconds. Skipped on SQLite runs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from bot.bootstrap import Database
from bot.serving.server import ReflectWSGI
from storage import db, health
from storage.db import transaction
from storage.models import Agency
from tests.faults.conftest import serve_env, served, through, timed
from tests.faults.proxy import FaultProxy, Mode
from tools.fake_slack import FakeSlack

pytestmark = pytest.mark.slow
CUTS = [Mode.BLACKHOLE, Mode.SILENT_AFTER_CONNECT, Mode.RESET, Mode.REFUSE]


@pytest.fixture
def proxied(proxy: FaultProxy, postgres_url: str) -> Iterator[Engine]:
    """An engine of the web process (REQUEST_LIMITS) reaching PostgreSQL by way of the proxy."""
    engine = db.make_engine(through(proxy, postgres_url))
    yield engine
    engine.dispose()


def backend(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def fails_within(engine: Engine, statement: str = "SELECT 1") -> tuple[health.Diagnosis, float]:
    started = time.monotonic()
    with pytest.raises(OperationalError) as failed, engine.connect() as connection:
        connection.execute(text(statement))
    diagnosis = health.diagnose(failed.value)
    assert diagnosis is not None
    return diagnosis, time.monotonic() - started


def test_every_connection_carries_its_limits_and_keeps_the_urls_options(
    proxied: Engine, postgres_url: str
) -> None:
    with proxied.connect() as connection:
        settings = dict(
            connection.execute(
                text(
                    "SELECT name, setting FROM pg_settings WHERE name IN ('statement_timeout', "
                    "'lock_timeout', 'idle_in_transaction_session_timeout', "
                    "'tcp_keepalives_idle', 'tcp_user_timeout', 'search_path')"
                )
            ).all()
        )
    assert settings == {
        "statement_timeout": "1200",
        "lock_timeout": "1000",
        "idle_in_transaction_session_timeout": "30000",
        "tcp_keepalives_idle": "10",
        "tcp_user_timeout": "10000",
        "search_path": postgres_url.rsplit("search_path%3D", 1)[1],
    }


def test_a_connection_gone_silent_is_given_up_on_and_dropped_from_the_pool(
    proxied: Engine, proxy: FaultProxy
) -> None:
    before = backend(proxied)
    with proxied.connect() as connection:
        proxy.set_mode(Mode.SILENT_AFTER_CONNECT)
        started = time.monotonic()
        with pytest.raises(OperationalError) as failed:
            connection.execute(text("SELECT 1"))
        in_flight = time.monotonic() - started
        assert connection.invalidated
    assert 1.4 < in_flight < 2.0  # statement_timeout 1.2 s + 0.3 s: the client gave up
    assert health.diagnose(failed.value).fault is health.Fault.TIMED_OUT  # type: ignore[union-attr]

    # A new checkout: the pooled connection fails its ping, the new one goes silent too.
    diagnosis, checkout = fails_within(proxied)
    assert diagnosis.fault is health.Fault.TIMED_OUT and checkout < 2.5

    proxy.set_mode(Mode.PASS)
    after, healed = timed(lambda: backend(proxied))
    assert after != before and healed < 0.5
    assert proxied.pool.checkedout() == 0  # type: ignore[attr-defined]
    print(f"silent: in flight given up after {in_flight:.2f} s, a checkout after {checkout:.2f} s")


@pytest.mark.parametrize("mode", [Mode.BLACKHOLE, Mode.RESET, Mode.REFUSE])
def test_an_unreachable_server_fails_within_the_connect_timeout_and_the_pool_recovers(
    proxied: Engine, proxy: FaultProxy, mode: Mode
) -> None:
    backend(proxied)
    proxy.set_mode(mode)
    diagnosis, seconds = fails_within(proxied)
    assert diagnosis.fault is health.Fault.UNREACHABLE
    assert seconds < 2.5  # the ping (0.3 s) and connect_timeout (2 s)
    proxy.set_mode(Mode.PASS)
    assert timed(lambda: backend(proxied))[1] < 0.5
    print(f"{mode.value}: unreachable after {seconds:.2f} s")


def healthz(wsgi: ReflectWSGI) -> tuple[str, str, float]:
    statuses: list[str] = []
    environ = {"PATH_INFO": "/healthz", "REQUEST_METHOD": "GET"}
    body, seconds = timed(
        lambda: b"".join(wsgi(environ, lambda status, _headers: statuses.append(status)))
    )
    return statuses[0], body.decode(), seconds


def healthy_again(wsgi: ReflectWSGI, within: float = 6.0) -> float:
    started = time.monotonic()
    while healthz(wsgi)[0] != "200 OK":
        assert time.monotonic() - started < within, "/healthz did not recover"
        time.sleep(0.1)
    return time.monotonic() - started


@pytest.mark.parametrize("mode", CUTS)
def test_healthz_is_503_within_a_second_while_cut_off_and_200_after(
    proxied: Engine, proxy: FaultProxy, mode: Mode
) -> None:
    wsgi = ReflectWSGI(endpoints={}, database=Database(proxied, db.session_factory(proxied)))
    assert healthz(wsgi)[:2] == ("200 OK", "ok\n")
    proxy.set_mode(mode)
    for _ in range(3):  # the first, and those that find a probe still waiting
        status, body, seconds = healthz(wsgi)
        assert status == "503 Service Unavailable" and body.startswith("unavailable: database")
        assert seconds < 1.0
    proxy.set_mode(Mode.PASS)
    recovered = healthy_again(wsgi)
    print(f"{mode.value}: /healthz {body.strip()!r} in {seconds:.2f} s; 200 {recovered:.2f} s on")


def test_a_row_lock_held_elsewhere_fails_a_writer_within_lock_timeout(
    proxied: Engine, engine: Engine, new_session: db.SessionFactory
) -> None:
    with transaction(new_session) as session:
        session.add(Agency(id="csc", name="Children's Social Care", options={}))
    with engine.connect() as holder:
        holder.execute(text("SELECT * FROM agency WHERE id = 'csc' FOR UPDATE"))
        diagnosis, seconds = fails_within(
            proxied, "UPDATE agency SET name = 'CSC' WHERE id = 'csc'"
        )
        holder.rollback()
    assert (diagnosis.fault, diagnosis.code) == (health.Fault.LOCKED, "55P03")
    assert 0.9 < seconds < 1.5
    print(f"row lock: the second writer failed after {seconds:.2f} s")


def test_a_partitioned_sessions_row_locks_are_freed_by_the_server(
    proxy: FaultProxy, postgres_url: str, engine: Engine, new_session: db.SessionFactory
) -> None:
    with transaction(new_session) as session:
        session.add(Agency(id="csc", name="Children's Social Care", options={}))
    limits = db.Limits(idle_in_transaction_timeout_ms=500)
    far = db.make_engine(through(proxy, postgres_url), limits)
    try:
        with far.connect() as partitioned:
            partitioned.execute(text("SELECT * FROM agency WHERE id = 'csc' FOR UPDATE"))
            proxy.set_mode(Mode.BLACKHOLE)  # it can never commit, nor roll back
            started = time.monotonic()
            with engine.begin() as writer:
                writer.execute(text("SET LOCAL lock_timeout = 5000"))
                writer.execute(text("UPDATE agency SET name = 'CSC' WHERE id = 'csc'"))
            waited = time.monotonic() - started
            partitioned.invalidate()
    finally:
        far.dispose()
    assert waited < 1.5
    print(f"partition: the row lock was freed after {waited:.2f} s")


def test_slack_gets_a_503_within_three_seconds_while_the_database_is_cut_off(
    proxy: FaultProxy,
    postgres_url: str,
    tmp_path: Path,
    fake_slack: FakeSlack,
    new_session: db.SessionFactory,  # empties the tables after
) -> None:
    env = serve_env(through(proxy, postgres_url), tmp_path, fake_slack)
    with served(env, tmp_path / "serve.log") as server:
        timings = {}
        for number, mode in enumerate([Mode.SILENT_AFTER_CONNECT, Mode.BLACKHOLE]):
            proxy.set_mode(mode)
            event_id = f"Ev0CUTOFF{number}"
            (status, body), slack_seconds = timed(
                lambda event_id=event_id: server.answer("U0TESTPRAC", "seen at home", event_id)
            )
            assert status == 503 and body.startswith("database ")
            assert slack_seconds < 3.0
            (status, _), health_seconds = timed(server.healthz)
            assert status == 503 and health_seconds < 1.0
            timings[mode.value] = (slack_seconds, health_seconds)

            proxy.set_mode(Mode.PASS)
            deadline = time.monotonic() + 8
            while server.healthz()[0] != 200:
                assert time.monotonic() < deadline, "/healthz did not recover"
                time.sleep(0.1)
            assert server.answer("U0TESTPRAC", "seen at home", event_id)[0] == 200
    log = (tmp_path / "serve.log").read_text()
    assert "answered 503" in log and "seen at home" not in log
    print(f"Slack and /healthz while cut off (seconds): {timings}")
