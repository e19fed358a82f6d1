"""Test fixtures: a real database (SQLite, or PostgreSQL when REFLECT_TEST_DATABASE_URL is set)
with a clean schema per test run, migrated by Alembic, emptied after every test."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from bot.settings import variables as settings_variables
from storage import db
from storage.db import normalise_database_url
from storage.encryption import generate_key, keyring

REPO = Path(__file__).resolve().parents[1]
SLACK_VARIABLES = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "SLACK_API_URL")
TEST_KEY = generate_key()


@pytest.fixture(autouse=True)
def _no_developer_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own settings (Slack tokens, database, thresholds) never leak into a test."""
    for name, _default, _meaning in settings_variables():
        monkeypatch.delenv(name, raising=False)


def _postgres_url() -> str | None:
    url = os.environ.get("REFLECT_TEST_DATABASE_URL")
    return normalise_database_url(url) if url else None


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of this run's own empty database (a fresh schema on PostgreSQL)."""
    base = _postgres_url()
    if base is None:
        path = tmp_path_factory.mktemp("db") / "reflect-test.db"
        yield f"sqlite:///{path}"
        return
    schema = f"reflect_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    keyring.configure([TEST_KEY])
    engine = db.make_engine(database_url)
    db.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def new_session(engine: Engine) -> Iterator[db.SessionFactory]:
    keyring.configure([TEST_KEY])
    yield db.session_factory(engine)
    _empty(engine)


def _empty(engine: Engine) -> None:
    tables = list(reversed(SQLModel.metadata.sorted_tables))
    # DELETE beats TRUNCATE on tables this small (TRUNCATE takes locks and syncs files).
    with engine.begin() as connection:
        for table in tables:
            connection.execute(table.delete())


@pytest.fixture
def cli_env(database_url: str, engine: Engine, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Environment for running `reflect` in a subprocess against this run's database, empty
    when the test starts (a test that counts rows must not see another's)."""
    _empty(engine)
    env = {k: v for k, v in os.environ.items() if k not in SLACK_VARIABLES}
    env.update(DATABASE_URL=database_url, REFLECT_ENCRYPTION_KEY=TEST_KEY, HOME=str(tmp_path))
    yield env
    _empty(engine)


class FixedClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime) -> None:
        self.current = start

    def __call__(self) -> datetime:
        return self.current


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 11, 26, 10, 0, tzinfo=UTC))


def run_reflect(
    env: dict[str, str], *args: str, timeout: float = 60, **options: object
) -> subprocess.CompletedProcess[str]:
    """`reflect ARGS` in a subprocess of its own, as an administrator would run it; text out.
    ``options`` go to subprocess.run (a memory cap, for one)."""
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-m", "bot", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        **options,
    )
