"""Opening the database for a command: encryption keys, and migrations on a fresh SQLite file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from bot.protection.keys import check_stored_text_readable
from bot.settings import Settings, SettingsError
from storage import db
from storage.encryption import keyring, load_or_create_key_file


@dataclass(frozen=True)
class Database:
    engine: Engine
    new_session: db.SessionFactory
    key_file: Path | None = None
    key_file_created: bool = False

    def ping(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return True
        except Exception:
            return False


def sqlite_path(database_url: str) -> Path | None:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database).expanduser().resolve()


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
    key_file, created = configure_encryption(settings)
    engine = db.make_engine(settings.database_url)
    if migrate and not db.is_up_to_date(engine):
        if settings.is_sqlite:
            db.upgrade(engine)
        else:
            raise SettingsError(
                "The database schema is not up to date. Run `reflect db upgrade` first."
            )
    if migrate:
        check_stored_text_readable(engine)
    return Database(engine, db.session_factory(engine), key_file, created)
