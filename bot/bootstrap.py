"""Opening the database for a command: encryption keys, and migrations on a fresh SQLite file."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from bot.protection.keys import check_stored_text_readable
from bot.settings import Settings, SettingsError
from storage import db, health
from storage.encryption import keyring, load_or_create_key_file
from storage.health import Diagnosis


@dataclass(frozen=True)
class Database:
    engine: Engine
    new_session: db.SessionFactory
    key_file: Path | None = None
    key_file_created: bool = False

    def ping(self) -> bool:
        """Whether the database answers, on a connection of the pool (which this opens)."""
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def health(self) -> str | None:
        """Why the database cannot be written now (unreachable, read-only, disk full, locked),
        or None when it can. Probed apart from the pool, within HEALTH_LIMITS; only opening a
        PostgreSQL connection can take longer (libpq's minimum is 2 s), so a caller that must
        answer sooner bounds its wait (see HealthChecks in bot/serving/background.py)."""
        problem = self._probe()
        return None if problem is None else problem.reason

    def _probe(self) -> Diagnosis | None:
        path = health.sqlite_file(self.engine.url)
        if path is not None:
            return health.probe_sqlite(path, busy_timeout=db.HEALTH_LIMITS.lock_timeout_s)
        if self.engine.dialect.name == "sqlite":  # in memory: this process's own
            return None if self.ping() else health.unreachable("ping", "no answer")
        return self._probe_postgresql()

    def _probe_postgresql(self) -> Diagnosis | None:
        try:
            with self._probe_engine.connect() as connection:
                return health.probe_postgresql(connection)
        except SQLAlchemyError as error:
            return health.diagnose(error) or health.unreachable("probe", type(error).__name__)

    @cached_property
    def _probe_engine(self) -> Engine:
        url = self.engine.url.render_as_string(hide_password=False)
        return db.make_engine(url, db.HEALTH_LIMITS, pool_size=1, max_overflow=0)


def sqlite_path(database_url: str) -> Path | None:
    return health.sqlite_file(database_url)


def key_file_for(database_url: str) -> Path | None:
    """The key file kept beside a SQLite database file (None for PostgreSQL or in-memory)."""
    path = sqlite_path(database_url)
    return None if path is None else path.with_name(path.name + ".key")


def configure_encryption(settings: Settings) -> tuple[Path | None, bool]:
    """Use REFLECT_ENCRYPTION_KEY; on SQLite without one, a key file beside the database."""
    if settings.encryption_keys:
        keyring.configure(settings.encryption_keys)
        return None, False
    key_path = key_file_for(settings.database_url)
    if key_path is None:
        if settings.is_sqlite:
            from storage.encryption import generate_key

            keyring.configure([generate_key()])
            return None, False
        raise SettingsError(
            "REFLECT_ENCRYPTION_KEY must be set when using PostgreSQL: reflections are encrypted "
            "at rest. Make a key with `reflect keys generate` and keep it in your secrets store."
        )
    key, created = load_or_create_key_file(key_path)
    keyring.configure([key])
    return key_path, created


def open_database(settings: Settings, *, migrate: bool = True) -> Database:
    """Open the configured database. SQLite is migrated to head on first use; PostgreSQL must
    be migrated explicitly with `reflect db upgrade` (the Procfile's release step)."""
    database = database_for(settings)
    if migrate:
        prepare(database, settings)
    return database


def database_for(settings: Settings) -> Database:
    """The configured database, its keys set up, without connecting to it yet."""
    key_file, created = configure_encryption(settings)
    engine = db.make_engine(
        settings.database_url, settings.database_limits, log_faults=settings.serving_requests
    )
    return Database(engine, db.session_factory(engine), key_file, created)


def prepare(database: Database, settings: Settings) -> None:
    """Check that the schema is current (migrating a SQLite file to it) and that the keys read
    what is stored. Raises the database's error when it cannot be reached."""
    engine = database.engine
    if not db.is_up_to_date(engine):
        if settings.is_sqlite:
            db.upgrade(engine)
        else:
            raise SettingsError(
                "The database schema is not up to date. Run `reflect db upgrade` first."
            )
    check_stored_text_readable(engine)
