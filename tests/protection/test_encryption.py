"""Free text is encrypted at rest: the plaintext of a known answer is nowhere in the database
(file bytes on SQLite, raw column values on both), the logs, or exception messages; and the
commands refuse to run on PostgreSQL without a key."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

from bot.bootstrap import open_database, sqlite_path
from bot.settings import Settings, SettingsError
from storage import outbox
from storage import reflections as queries
from storage.db import SessionFactory, transaction
from tests.protection.conftest import (
    PRACTITIONER,
    SUPERVISOR,
    RunReflection,
    add_note,
    case_history,
    load_org,
)

# Invented, distinctive, and free of anything the identifier guard would withhold.
SECRET = "Quokka-lantern-marmalade says the attic smells of paraffin 🦘 ويكيبيديا"
SECRET_PARTS = ["Quokka-lantern-marmalade", "attic smells of paraffin", "ويكيبيديا"]
REFLECT = [sys.executable, "-m", "bot"]


def _store_everywhere(
    run_reflection: RunReflection, new_session: SessionFactory, now: datetime
) -> int:
    """The secret in an answer, an action, the summary, a supervisor note and the outbox."""
    load_org(new_session)
    reflection_id = run_reflection(first_answer=SECRET)
    note = add_note(
        new_session, author_id=SUPERVISOR, reflection_id=reflection_id, text=SECRET, now=now
    )
    assert note.done
    with transaction(new_session) as session:
        outbox.enqueue(
            session=session,
            dedupe_key="test:secret",
            surface="conversation",
            recipient=SUPERVISOR,
            payload={"parts": [{"template": "messages/summary", "data": {"text": SECRET}}]},
            now=now,
        )
        reflection = queries.get_reflection(session=session, reflection_id=reflection_id)
        assert reflection is not None and SECRET in str(reflection.summary)
    return reflection_id


def _raw_rows(engine: Engine) -> str:
    """Every row of every table as the database returns it, without our column types."""
    dumped = []
    with engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            rows = connection.execute(text(f'SELECT * FROM "{table.name}"')).all()
            dumped.extend(repr(tuple(row)) for row in rows)
    return "\n".join(dumped)


def test_no_plaintext_in_raw_column_values(
    engine: Engine, new_session: SessionFactory, run_reflection: RunReflection, clock
) -> None:
    _store_everywhere(run_reflection, new_session, clock())
    raw = _raw_rows(engine)
    assert "CSC-1001" in raw and PRACTITIONER in raw  # the dump really holds the rows
    assert "gAAAAA" in raw  # Fernet tokens
    for part in SECRET_PARTS:
        assert part not in raw


def test_no_plaintext_in_the_sqlite_files(
    engine: Engine,
    new_session: SessionFactory,
    run_reflection: RunReflection,
    clock,
    tmp_path: Path,
) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("file scan is for SQLite; raw column values are checked on PostgreSQL")
    _store_everywhere(run_reflection, new_session, clock())
    path = sqlite_path(str(engine.url))
    assert path is not None
    wal = Path(f"{path}-wal")
    assert wal.exists()  # the reflection is (at least partly) still in the write-ahead log
    # Copied by another process: opening the files here would drop this process's SQLite locks
    # (POSIX locks belong to the process), and another process could then remove the WAL.
    copies = [tmp_path / "copy.db", tmp_path / "copy.db-wal"]
    subprocess.run(["cp", str(path), str(wal), str(tmp_path)], check=True, timeout=60)
    subprocess.run(["mv", str(tmp_path / path.name), str(copies[0])], check=True, timeout=60)
    subprocess.run(["mv", str(tmp_path / wal.name), str(copies[1])], check=True, timeout=60)
    contents = b"".join(c.read_bytes() for c in copies)
    assert b"CSC-1001" in contents and b"U0TESTPRAC" in contents  # the scan sees the rows
    for part in SECRET_PARTS:
        assert part.encode("utf-8") not in contents
        assert part.encode("utf-16-le") not in contents


def test_answer_text_never_reaches_the_logs(
    engine: Engine,
    new_session: SessionFactory,
    run_reflection: RunReflection,
    clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)
    try:
        _store_everywhere(run_reflection, new_session, clock())
        case_history(new_session, viewer_id=SUPERVISOR, case_ref="CSC-1001", now=clock())
    finally:
        logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    logged = "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records)
    assert "INSERT INTO answer" in logged  # statements and their parameters were logged
    for part in SECRET_PARTS:
        assert part not in logged


def test_answer_text_never_in_database_exception_messages(
    new_session: SessionFactory, clock
) -> None:
    with pytest.raises(IntegrityError) as failed, transaction(new_session) as session:
        queries.save_answer(
            session=session,
            reflection_id=987654,  # no such reflection: the foreign key refuses it
            question_id="lived_day",
            status="answered",
            value=SECRET,
            now=clock(),
        )
    message = str(failed.value)
    assert "answer" in message.lower()
    for part in SECRET_PARTS:
        assert part not in message


# ------------------------------------------------------------------ keys at start-up


def test_postgresql_without_a_key_is_refused_before_connecting() -> None:
    for url in ("postgresql+psycopg://reflect@127.0.0.1:1/none", "postgres://reflect@[::1]:1/x"):
        with pytest.raises(SettingsError, match="REFLECT_ENCRYPTION_KEY must be set"):
            open_database(Settings(database_url=url))


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "REFLECT_", "DATABASE_URL"))
    }
    env.update(HOME=str(tmp_path), **extra)
    return env


def test_commands_refuse_postgresql_without_a_key(tmp_path: Path) -> None:
    done = subprocess.run(
        [*REFLECT, "history", "CSC-1001"],
        env=_env(tmp_path, DATABASE_URL="postgres://reflect@127.0.0.1:1/none"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "REFLECT_ENCRYPTION_KEY must be set" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_sqlite_demo_makes_a_private_key_file_and_says_where(tmp_path: Path) -> None:
    database = tmp_path / "demo.db"
    env = _env(tmp_path, DATABASE_URL=f"sqlite:///{database}")
    first = subprocess.run(
        [*REFLECT, "demo", "--case", "CSC-2001"],
        env=env,
        input=SECRET + "\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    key_file = tmp_path / "demo.db.key"
    assert first.returncode == 1  # input ended part-way: paused, saved
    assert str(key_file) in first.stderr
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    for part in SECRET_PARTS:
        assert part.encode() not in database.read_bytes() + (
            Path(f"{database}-wal").read_bytes() if Path(f"{database}-wal").exists() else b""
        )
    again = subprocess.run(
        [*REFLECT, "demo", "--case", "CSC-2001"],
        env=env,
        input="",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert str(key_file) not in again.stderr  # created once, then reused
    assert "Welcome back to CSC-2001" in again.stdout
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


SLACK = {"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": "test-secret"}


@pytest.mark.parametrize(
    ("command", "extra"),
    [
        (["demo", "--case", "CSC-2002"], {}),
        # Caught at start, before any worker: a step reads only the answers its rules look at,
        # so a reflection resumed with the wrong key would otherwise carry on unnoticed.
        (["serve", "--port", "9"], SLACK),
    ],
    ids=["demo", "serve"],
)
def test_a_wrong_key_gives_a_clear_message_without_the_text(
    tmp_path: Path, command: list[str], extra: dict[str, str]
) -> None:
    env = _env(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'demo.db'}")
    subprocess.run(
        [*REFLECT, "demo", "--case", "CSC-2002"],
        env=env, input=SECRET + "\n", capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    from storage.encryption import generate_key

    done = subprocess.run(
        [*REFLECT, *command],
        env={**env, **extra, "REFLECT_ENCRYPTION_KEY": generate_key()},
        input="",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "cannot be read with the configured keys" in done.stderr
    assert "Traceback" not in done.stderr
    for part in SECRET_PARTS:
        assert part not in done.stderr + done.stdout
