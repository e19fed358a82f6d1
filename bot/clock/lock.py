"""Only one clock acts at a time: a PostgreSQL session-level advisory lock held on a dedicated
connection for the life of the process, or on SQLite a file lock beside the database file.

A clock that cannot take the lock waits, trying again every few seconds, and says so in its log.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from pathlib import Path
from typing import Protocol

from filelock import FileLock, Timeout
from sqlalchemy import Connection, Engine, text

from bot.bootstrap import sqlite_path

log = logging.getLogger(__name__)

# How often a waiting clock repeats that it is still waiting.
WAITING_LOG_EVERY = 60.0


class ClockLock(Protocol):
    def try_acquire(self) -> bool: ...

    def is_held(self) -> bool: ...

    def release(self) -> None: ...


class AdvisoryLock:
    """pg_try_advisory_lock on a connection kept open; the lock goes when the connection does."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.connection: Connection | None = None
        self.key: int | None = None

    def _lock_key(self, connection: Connection) -> int:
        # One clock per database and schema (tests give each run its own schema).
        name = connection.execute(text("SELECT current_database() || '.' || current_schema()"))
        digest = hashlib.blake2b(f"reflect-clock:{name.scalar_one()}".encode(), digest_size=8)
        return int.from_bytes(digest.digest(), "big") & 0x7FFF_FFFF_FFFF_FFFF

    def try_acquire(self) -> bool:
        if self.connection is None:
            self.connection = self.engine.connect()
            self.key = self._lock_key(self.connection)
        got = self.connection.execute(
            text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}
        ).scalar_one()
        # Session-level: the lock outlives this transaction; don't sit idle in one.
        self.connection.commit()
        return bool(got)

    def is_held(self) -> bool:
        if self.connection is None:
            return False
        try:
            # A session-level lock lasts as long as its connection: alive means held.
            self.connection.execute(text("SELECT 1"))
            self.connection.commit()
            return True
        except Exception:
            self._drop()
            return False

    def release(self) -> None:
        if self.connection is None:
            return
        try:
            self.connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
            self.connection.commit()
        finally:
            self._drop()

    def _drop(self) -> None:
        if self.connection is not None:
            try:
                self.connection.invalidate()
                self.connection.close()
            except Exception:
                pass
            self.connection = None


class SQLiteFileLock:
    """A file lock beside the SQLite database (reflect.db -> reflect.db.clock.lock)."""

    def __init__(self, path: Path) -> None:
        self.lock = FileLock(str(path.with_name(path.name + ".clock.lock")), thread_local=False)

    def try_acquire(self) -> bool:
        try:
            self.lock.acquire(timeout=0)
            return True
        except Timeout:
            return False

    def is_held(self) -> bool:
        return self.lock.is_locked

    def release(self) -> None:
        if self.lock.is_locked:
            self.lock.release(force=True)


class ProcessLock:
    """An in-memory SQLite database lives in one process; a thread lock is enough."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.held = False

    def try_acquire(self) -> bool:
        self.held = self.lock.acquire(blocking=False)
        return self.held

    def is_held(self) -> bool:
        return self.held

    def release(self) -> None:
        if self.held:
            self.held = False
            self.lock.release()


def clock_lock(engine: Engine, database_url: str) -> ClockLock:
    if engine.dialect.name == "postgresql":
        return AdvisoryLock(engine)
    path = sqlite_path(database_url)
    return SQLiteFileLock(path) if path is not None else ProcessLock()


def wait_for(
    lock: ClockLock,
    *,
    retry_seconds: float,
    timeout: float | None = None,
    stop: threading.Event | None = None,
) -> bool:
    """Take the lock, waiting while another clock holds it. False if ``timeout`` (seconds) ran
    out or ``stop`` was set first."""
    stop = stop or threading.Event()
    started = time.monotonic()
    last_said = None
    while not stop.is_set():
        if lock.try_acquire():
            if last_said is not None:
                log.warning("the other clock has stopped; this clock now holds the lock")
            return True
        waited = time.monotonic() - started
        if last_said is None or time.monotonic() - last_said >= WAITING_LOG_EVERY:
            log.warning(
                "another clock holds the lock for this database; waiting (trying every %ss)",
                retry_seconds,
            )
            last_said = time.monotonic()
        if timeout is not None and waited >= timeout:
            return False
        remaining = retry_seconds if timeout is None else min(retry_seconds, timeout - waited)
        stop.wait(max(remaining, 0.01))
    return False
