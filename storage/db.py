"""Engines, sessions and migrations."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import CursorResult, Engine, Executable, create_engine, event
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlmodel import Session

MIGRATIONS = Path(__file__).parent / "migrations"

SessionFactory = Callable[[], Session]
# One lock per SQLite engine, taken by write transactions of this process (see make_engine).
_WRITERS: weakref.WeakKeyDictionary[Engine, threading.RLock] = weakref.WeakKeyDictionary()
# session.info key: callables to run once the session's transaction has committed.
AFTER_COMMIT = "reflect.after_commit"
# Marks a connection that will write, so SQLite takes its write lock when the transaction begins.
WRITE_OPTION = "reflect_write"


def make_engine(database_url: str) -> Engine:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            # Let SQLAlchemy's begin event below issue BEGIN itself.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        # SQLite has one writer at a time. A write transaction takes the write lock up front
        # (BEGIN IMMEDIATE): a deferred one that reads then writes can fail at once with
        # "database is locked" when another thread wrote in between. Threads of this process
        # queue for it on a Python lock held until COMMIT returns (see transaction()), a prompt
        # hand-over, rather than on SQLite's busy handler, which sleeps in steps of up to
        # 100 ms; other processes queue on busy_timeout. Reads stay deferred and never wait:
        # WAL gives them a snapshot.
        _WRITERS[engine] = threading.RLock()

        @event.listens_for(engine, "begin")
        def _begin(connection):  # type: ignore[no-untyped-def]
            write = connection.get_execution_options().get(WRITE_OPTION)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


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
) -> CursorResult[Any]:
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
        writer = _WRITERS.get(session.get_bind())  # type: ignore[arg-type]
        with writer if writer is not None else nullcontext():
            session.connection(execution_options={WRITE_OPTION: True})
            try:
                yield session
                session.commit()
            except BaseException:
                session.info.pop(AFTER_COMMIT, None)
                session.rollback()
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
