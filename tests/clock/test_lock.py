"""Only one clock acts at a time: an advisory lock on PostgreSQL, a file lock on SQLite."""

from __future__ import annotations

import logging
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import pytest
from sqlalchemy import Engine

from bot.cli import main
from bot.clock.lock import clock_lock, wait_for
from storage import db
from storage.db import SessionFactory
from tests.clock import helpers as h
from tests.clock.test_jobs import outbox_rows


@contextmanager
def second_engine(database_url: str) -> Iterator[Engine]:
    """Another process's view of the database: its own engine and connections."""
    engine = db.make_engine(database_url)
    try:
        yield engine
    finally:
        engine.dispose()


def test_only_one_clock_holds_the_lock(engine: Engine, database_url: str) -> None:
    with second_engine(database_url) as other:
        first = clock_lock(engine, database_url)
        second = clock_lock(other, database_url)
        assert first.try_acquire()
        try:
            assert not second.try_acquire()
            assert first.is_held()
        finally:
            first.release()
        assert second.try_acquire()
        second.release()


def test_a_waiting_clock_says_so_and_takes_over_when_the_other_stops(
    engine: Engine, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with second_engine(database_url) as other:
        leader = clock_lock(engine, database_url)
        waiter = clock_lock(other, database_url)
        assert leader.try_acquire()
        acquired = threading.Event()

        def wait() -> None:
            if wait_for(waiter, retry_seconds=0.02, timeout=10):
                acquired.set()

        with caplog.at_level(logging.WARNING, logger="bot.clock"):
            thread = threading.Thread(target=wait)
            thread.start()
            deadline = time.monotonic() + 5
            while not any("waiting" in r.getMessage() for r in caplog.records):
                assert time.monotonic() < deadline, "the waiting clock never said so"
                time.sleep(0.01)
            assert not acquired.is_set()
            leader.release()
            assert acquired.wait(5)
            thread.join(5)
        waiter.release()
    assert any("now holds the lock" in r.getMessage() for r in caplog.records)


def test_waiting_gives_up_after_its_timeout(engine: Engine, database_url: str) -> None:
    with second_engine(database_url) as other:
        leader = clock_lock(engine, database_url)
        assert leader.try_acquire()
        try:
            started = time.monotonic()
            assert not wait_for(clock_lock(other, database_url), retry_seconds=0.02, timeout=0.2)
            assert time.monotonic() - started < 2
        finally:
            leader.release()


# ------------------------------------------------------------------ two clock processes


class ClockRun:
    """`reflect clock` in a subprocess, its log read line by line."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", "clock"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.put(line)

    def wait_for_line(self, text: str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.05)
            except queue.Empty:
                if self.process.poll() is not None and self.lines.empty():
                    break
                continue
            self.seen.append(line)
            if text in line:
                return line
        raise AssertionError(f"no log line with {text!r}; saw: {self.seen}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=20)


@pytest.mark.slow
def test_two_clock_processes_one_acts_the_other_waits(
    cli_env: dict[str, str], new_session: SessionFactory
) -> None:
    # Opened long ago, never reflected on: due whatever today is.
    h.case(new_session, "CSC-1001", opened_on=date(2020, 1, 6))
    env = dict(cli_env, REFLECT_CLOCK_LOCK_RETRY_SECONDS="0.1")
    first = ClockRun(env)
    second = None
    try:
        first.wait_for_line("this clock holds the lock")
        first.wait_for_line("clock decided 1 prompt")
        assert [m.recipient for m in outbox_rows(new_session)] == [h.PRACTITIONER]
        second = ClockRun(env)
        second.wait_for_line("another clock holds the lock")
        assert first.stop() == 0
        second.wait_for_line("now holds the lock")
        assert second.stop() == 0
    finally:
        for run in (first, second):
            if run is not None and run.process.poll() is None:
                run.process.kill()
                run.process.wait()
    assert not any("Traceback" in line for line in first.seen + (second.seen if second else []))


def test_clock_once_waits_for_a_running_clock_then_says_so(
    engine: Engine,
    database_url: str,
    cli_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in ("DATABASE_URL", "REFLECT_ENCRYPTION_KEY"):
        monkeypatch.setenv(name, cli_env[name])
    with second_engine(database_url) as other:
        leader = clock_lock(other, database_url)
        assert leader.try_acquire()
        try:
            assert main(["clock", "--once", "--wait", "0.3"]) == 3
        finally:
            leader.release()
    assert "Another clock is running against this database" in capsys.readouterr().err


def test_a_clock_that_loses_its_connection_knows_it_lost_the_lock(
    engine: Engine, database_url: str
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("the advisory lock lives on a PostgreSQL connection")
    from sqlalchemy import text

    from bot.clock.lock import AdvisoryLock

    lock = clock_lock(engine, database_url)
    assert isinstance(lock, AdvisoryLock) and lock.try_acquire()
    assert lock.connection is not None
    pid = lock.connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
    lock.connection.commit()
    with second_engine(database_url) as other, other.begin() as connection:
        connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    assert not lock.is_held()
    # The lock went with the connection: any clock can take it now, this one included.
    assert lock.try_acquire()
    lock.release()
