"""Engines, sessions and migrations, and how long database work may wait.

Every connection carries limits (Limits): how long to wait to connect, for a statement, for a
lock, and for the server's answer at all. Requests from Slack must be answered within three
seconds, so the web process uses REQUEST_LIMITS; commands and the clock, whose statements can
run over many rows, use BATCH_LIMITS; /healthz probes with HEALTH_LIMITS. docs/operations.md
lists the values and the variables that set them.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import CursorResult, Engine, Executable, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL, ExceptionContext, make_url
from sqlmodel import Session

from storage import health

MIGRATIONS = Path(__file__).parent / "migrations"
# Where the data is when DATABASE_URL is not set: a SQLite file in the working directory.
DEFAULT_DATABASE_URL = "sqlite:///reflect.db"

SessionFactory = Callable[[], Session]
# session.info key: callables to run once the session's transaction has committed.
AFTER_COMMIT = "reflect.after_commit"
# Marks a connection that will write, so SQLite takes its write lock when the transaction begins.
WRITE_OPTION = "reflect_write"

# TCP keepalives, on our side (libpq) and the server's (the same settings, sent as options): a
# peer that has gone away is noticed after about IDLE + INTERVAL * COUNT = 25 s of silence, and
# data left unacknowledged for TCP_USER_TIMEOUT_MS ends the connection. So a network partition
# cannot leave the server holding a dead session's row locks for long.
KEEPALIVE_IDLE_S = 10
KEEPALIVE_INTERVAL_S = 5
KEEPALIVE_COUNT = 3
TCP_USER_TIMEOUT_MS = 10_000


@dataclass(frozen=True)
class Limits:
    """How long one kind of database work may wait before it fails, rather than hang."""

    # PostgreSQL: to open a connection (libpq's minimum is 2 s).
    connect_timeout_s: int = 2
    # PostgreSQL: statement_timeout, the server's limit on one statement.
    statement_timeout_ms: int = 1_200
    # PostgreSQL: lock_timeout. SQLite: busy_timeout, and the wait for this process's turn to
    # write (so a SQLite write waits at most twice this).
    lock_timeout_ms: int = 1_000
    # PostgreSQL: idle_in_transaction_session_timeout; the server ends a session that sits in
    # a transaction this long without sending anything, and its locks go with it.
    idle_in_transaction_timeout_ms: int = 30_000
    # How long to wait for a free connection when every pooled one is in use.
    pool_timeout_s: float = 1.0
    # PostgreSQL: the check that a pooled connection is alive, before it is handed out.
    ping_timeout_ms: int = 300
    # PostgreSQL: how long past statement_timeout to wait for the server's answer before the
    # connection is taken for dead and closed (a silent peer never sends the timeout error).
    answer_grace_ms: int = 300

    @property
    def answer_timeout_s(self) -> float:
        return (self.statement_timeout_ms + self.answer_grace_ms) / 1000

    @property
    def lock_timeout_s(self) -> float:
        return self.lock_timeout_ms / 1000

    def server_settings(self) -> dict[str, int]:
        """PostgreSQL settings for each session, sent when it starts."""
        return {
            "statement_timeout": self.statement_timeout_ms,
            "lock_timeout": self.lock_timeout_ms,
            "idle_in_transaction_session_timeout": self.idle_in_transaction_timeout_ms,
            "tcp_keepalives_idle": KEEPALIVE_IDLE_S,
            "tcp_keepalives_interval": KEEPALIVE_INTERVAL_S,
            "tcp_keepalives_count": KEEPALIVE_COUNT,
            "tcp_user_timeout": TCP_USER_TIMEOUT_MS,
        }

    def client_settings(self) -> dict[str, int]:
        """libpq connection parameters."""
        return {
            "connect_timeout": self.connect_timeout_s,
            "keepalives": 1,
            "keepalives_idle": KEEPALIVE_IDLE_S,
            "keepalives_interval": KEEPALIVE_INTERVAL_S,
            "keepalives_count": KEEPALIVE_COUNT,
            "tcp_user_timeout": TCP_USER_TIMEOUT_MS,
        }


# The web process: a request must fail within Slack's three seconds rather than go unanswered.
REQUEST_LIMITS = Limits()
# Commands, the clock, retention, imports and migrations: statements over many rows; nobody is
# waiting on a three-second deadline, and requests' locks are short, so waiting for them is fine.
BATCH_LIMITS = Limits(
    connect_timeout_s=5,
    statement_timeout_ms=300_000,
    lock_timeout_ms=10_000,
    idle_in_transaction_timeout_ms=60_000,
    pool_timeout_s=10.0,
    ping_timeout_ms=2_000,
    answer_grace_ms=2_000,
)
# /healthz: answered within a second, whatever the database does. On SQLite the probe waits up
# to lock_timeout_ms for the write lock, which busy writers hold for milliseconds at a time.
HEALTH_LIMITS = Limits(
    statement_timeout_ms=400,
    lock_timeout_ms=500,
    idle_in_transaction_timeout_ms=5_000,
    pool_timeout_s=0.2,
    ping_timeout_ms=300,
    answer_grace_ms=200,
)


class _WriteTurn:
    """SQLite has one writer at a time. Threads of this process queue for it on a lock held
    until COMMIT returns (see transaction()): a prompt hand-over, where SQLite's busy handler
    sleeps in steps of up to 100 ms. Never forever: after ``timeout`` seconds the wait fails."""

    def __init__(self, timeout: float) -> None:
        self.lock = threading.RLock()
        self.timeout = timeout

    @contextmanager
    def taken(self) -> Iterator[None]:
        if not self.lock.acquire(timeout=self.timeout):
            waited = WriterQueueTimeoutError(self.timeout)
            health.note(waited, log=False)
            raise waited
        try:
            yield
        finally:
            self.lock.release()


class WriterQueueTimeoutError(sa_exc.OperationalError):
    """A SQLite write waited longer than the lock timeout for this process's other writers."""

    def __init__(self, timeout: float) -> None:
        reason = health.WriterQueueTimeout(f"waited {timeout:g} s for this process's turn to write")
        super().__init__("(waiting for the write lock)", None, reason)


# One queue per SQLite engine, taken by write transactions of this process.
_WRITE_TURNS: weakref.WeakKeyDictionary[Engine, _WriteTurn] = weakref.WeakKeyDictionary()


def normalise_database_url(url: str) -> str:
    """Accept Heroku-style ``postgres://`` URLs and pick the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def database_url_from(environ: Mapping[str, str]) -> str:
    """The database DATABASE_URL names, as the app reads it."""
    return normalise_database_url(environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)


def make_engine(
    database_url: str,
    limits: Limits = REQUEST_LIMITS,
    *,
    pool_size: int = 10,
    max_overflow: int = 20,
    log_faults: bool = False,
) -> Engine:
    """An engine whose connections work within ``limits``. ``log_faults``: log what is wrong
    when the database cannot be reached or written (for a long-running process; a command
    says so itself when it stops)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        engine = _sqlite_engine(url, limits)
    else:
        engine = _postgresql_engine(url, limits, pool_size, max_overflow)
    _note_faults(engine, log_faults)
    return engine


def _sqlite_engine(url: URL, limits: Limits) -> Engine:
    engine = create_engine(
        url, connect_args={"timeout": limits.lock_timeout_s, "check_same_thread": False}
    )

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        # Let SQLAlchemy's begin event below issue BEGIN itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Another process holding the write lock makes a write fail after this long.
        cursor.execute(f"PRAGMA busy_timeout={int(limits.lock_timeout_ms)}")
        cursor.close()

    # A write transaction takes the write lock up front (BEGIN IMMEDIATE): a deferred one that
    # reads then writes can fail at once with "database is locked" when another thread wrote in
    # between. Reads stay deferred and never wait: WAL gives them a snapshot.
    _WRITE_TURNS[engine] = _WriteTurn(limits.lock_timeout_s)

    @event.listens_for(engine, "begin")
    def _begin(connection):  # type: ignore[no-untyped-def]
        write = connection.get_execution_options().get(WRITE_OPTION)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def _postgresql_engine(url: URL, limits: Limits, pool_size: int, max_overflow: int) -> Engine:
    engine = create_engine(
        url, pool_size=pool_size, max_overflow=max_overflow, pool_timeout=limits.pool_timeout_s
    )
    connection_class = _answering_connection_class()

    @event.listens_for(engine, "do_connect")
    def _connect(_dialect, record, cargs, cparams):  # type: ignore[no-untyped-def]
        _add_limits(cparams, limits)
        connection = connection_class.connect(*cargs, **cparams)
        connection.answer_timeout = limits.answer_timeout_s
        record.info["fresh"] = True
        return connection

    # SQLAlchemy's pool_pre_ping, but within ping_timeout_ms: a pooled connection whose peer
    # went silent is found out quickly and replaced, not handed to a request.
    @event.listens_for(engine, "checkout")
    def _ping(dbapi_connection, record, _proxy):  # type: ignore[no-untyped-def]
        if record.info.pop("fresh", False):
            return
        previous = dbapi_connection.answer_timeout
        dbapi_connection.answer_timeout = limits.ping_timeout_ms / 1000
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise sa_exc.DisconnectionError("the pooled connection did not answer") from error
        finally:
            dbapi_connection.answer_timeout = previous

    return engine


def _add_limits(cparams: dict[str, Any], limits: Limits) -> None:
    """Our settings go first in ``options``; any from DATABASE_URL follow, and so win."""
    ours = " ".join(f"-c {name}={value}" for name, value in limits.server_settings().items())
    theirs = cparams.get("options")
    cparams["options"] = f"{ours} {theirs}" if theirs else ours
    for name, value in limits.client_settings().items():
        cparams.setdefault(name, value)


@cache
def _answering_connection_class() -> type[Any]:
    """A psycopg connection that gives up on an answer that does not come.

    statement_timeout is the server's: a peer that accepts our bytes and never forwards them
    (a proxy or firewall gone quiet) never runs the statement, so never sends the error, and
    TCP sees nothing wrong while its bytes are acknowledged. Every wait for the server goes
    through Connection.wait(); given a timeout, psycopg stops waiting then. The connection is
    closed, as its protocol state is unknown, and SQLAlchemy, seeing it closed, drops it from
    the pool rather than hand it out again.
    """
    import psycopg
    from psycopg.errors import _WaitTimeout  # psycopg's own, raised by wait(timeout=...)

    class NoAnswerError(psycopg.OperationalError, health.NoAnswer):
        pass

    class AnsweringConnection(psycopg.Connection[Any]):
        answer_timeout: float | None = None

        def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
            if timeout is not None or self.answer_timeout is None:
                return super().wait(gen, interval=interval, timeout=timeout)
            try:
                return super().wait(gen, interval=interval, timeout=self.answer_timeout)
            except _WaitTimeout:
                self.pgconn.finish()
                raise NoAnswerError(
                    f"no answer from the database within {self.answer_timeout:g} s; "
                    "the connection was closed"
                ) from None

    return AnsweringConnection


# SQLite faults after which pooled connections are closed and opened afresh.
_REOPEN = frozenset({health.Fault.READ_ONLY, health.Fault.UNREACHABLE, health.Fault.DISK_ERROR})


def _note_faults(engine: Engine, log_faults: bool) -> None:
    """Each failing statement's fault is diagnosed and remembered for the thread (so the web
    server can answer 503 rather than 500), and logged now and then if ``log_faults``."""
    path = health.sqlite_file(engine.url)

    @event.listens_for(engine, "handle_error")
    def _note(context: ExceptionContext) -> None:
        error = context.sqlalchemy_exception or context.original_exception
        diagnosis = health.note(error, path, log=log_faults)
        if path is not None and diagnosis is not None and diagnosis.fault in _REOPEN:
            # SQLite opens a file it cannot write read-only, and such a connection stays so:
            # dropped from the pool, the next one sees the file as it is now.
            context.is_disconnect = True


@dataclass(frozen=True)
class PerDialect:
    """One statement built for each database; execute() picks the one that applies."""

    postgresql: Executable
    sqlite: Executable


def insert_if_new(model: type[Any], returning: Any = None) -> PerDialect:
    """INSERT ... ON CONFLICT DO NOTHING into ``model``'s table, built once per database."""
    on_postgresql = postgres_insert(model).on_conflict_do_nothing()
    on_sqlite = sqlite_insert(model).on_conflict_do_nothing()
    if returning is not None:
        return PerDialect(on_postgresql.returning(returning), on_sqlite.returning(returning))
    return PerDialect(on_postgresql, on_sqlite)


def execute(
    session: Session, statement: Executable | PerDialect, params: dict[str, Any] | list[Any]
) -> CursorResult[*tuple[Any, ...]]:
    """Run a Core statement built once at import on the session's connection and transaction,
    without the ORM's bookkeeping (no autoflush): for the statements on every answer."""
    connection = session.connection()
    if isinstance(statement, PerDialect):
        on_postgresql = connection.dialect.name == "postgresql"
        statement = statement.postgresql if on_postgresql else statement.sqlite
    return connection.execute(statement, params)


def session_factory(engine: Engine) -> SessionFactory:
    def new_session() -> Session:
        return Session(engine, expire_on_commit=False)

    return new_session


@contextmanager
def transaction(new_session: SessionFactory) -> Iterator[Session]:
    """A session for writing: commits on success and rolls back on any error."""
    with new_session() as session:
        turn = _WRITE_TURNS.get(session.get_bind())  # type: ignore[arg-type]
        with turn.taken() if turn is not None else nullcontext():
            try:
                session.connection(execution_options={WRITE_OPTION: True})
                yield session
                session.commit()
            except BaseException as error:
                session.info.pop(AFTER_COMMIT, None)
                session.rollback()
                if isinstance(error, sa_exc.TimeoutError):  # the pool's: no statement failed
                    health.note(error, log=False)
                raise
        for callback in session.info.pop(AFTER_COMMIT, ()):
            callback()


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run ``callback`` once the transaction() that ``session`` belongs to has committed; never
    if it rolls back. For work that must only follow durable changes, such as sending."""
    session.info.setdefault(AFTER_COMMIT, []).append(callback)


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    command.downgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def is_up_to_date(engine: Engine) -> bool:
    return current_revision(engine) == head_revision()
