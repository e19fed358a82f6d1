"""`reflect keys generate` and `reflect keys rotate`: re-encryption in batches, idempotent,
resumable, and never overwriting a value changed while it runs."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet
from sqlalchemy import Engine, event, text

from bot import casework
from bot.protection.keys import encrypted_columns, rotate_keys
from storage.db import SessionFactory
from storage.encryption import generate_key, keyring
from tests.conftest import TEST_KEY
from tests.protection.conftest import RunReflection, load_org
from tests.protection.test_encryption import SECRET, _store_everywhere

REFLECT = [sys.executable, "-m", "bot"]


def _tokens(engine: Engine) -> list[str]:
    found = []
    with engine.connect() as connection:
        for table, names in encrypted_columns():
            for name in names:
                found += [
                    row[0]
                    for row in connection.execute(text(f'SELECT "{name}" FROM "{table.name}"'))
                    if row[0] is not None
                ]
    return found


def test_every_free_text_column_is_encrypted() -> None:
    columns = {f"{t.name}.{n}" for t, names in encrypted_columns() for n in names}
    assert columns == {
        "reflection.summary",
        "answer.value",
        "action.what",
        "action.owner",
        "action.contingency",
        "action.meanwhile",
        "supervisor_note.text",
        "supervisor_decision.text",
        "outbox.payload",
        "inbox.payload",
    }


def test_rotation_moves_everything_to_the_new_key_in_batches(
    engine: Engine, new_session: SessionFactory, run_reflection: RunReflection, clock
) -> None:
    _store_everywhere(run_reflection, new_session, clock())
    stored = len(_tokens(engine))
    new_key = generate_key()

    report = rotate_keys(engine, [new_key, TEST_KEY], batch_size=3)
    assert report.rotated == stored and report.unreadable == 0
    assert report.batches > 7  # several batches for the answers table alone
    assert report.columns["answer.value"].rotated > 3
    only_new = Fernet(new_key.encode())
    for token in _tokens(engine):
        only_new.decrypt(token.encode())  # raises if any value is still under the old key

    before = _tokens(engine)
    again = rotate_keys(engine, [new_key, TEST_KEY], batch_size=3)
    assert again.rotated == 0 and again.already_current == stored
    assert _tokens(engine) == before  # a second run rewrites nothing

    keyring.configure([new_key])  # the old key is gone; everything still reads
    try:
        summaries = casework.administrator_history(
            new_session, actor="cli:test", case_ref="CSC-1001", now=clock()
        )
        assert SECRET in str(summaries)
    finally:
        keyring.configure([TEST_KEY])


def test_rotation_resumes_after_an_interruption(
    engine: Engine, new_session: SessionFactory, run_reflection: RunReflection, clock
) -> None:
    load_org(new_session)
    run_reflection(first_answer=SECRET)
    new_key = generate_key()
    tokens = _tokens(engine)
    # An earlier run stopped after re-encrypting some answers: only those are under the new key.
    with engine.begin() as connection:
        rows = connection.execute(text("SELECT id, value FROM answer ORDER BY id LIMIT 4")).all()
        for row in rows:
            fresh = Fernet(new_key.encode()).encrypt(Fernet(TEST_KEY.encode()).decrypt(row[1]))
            connection.execute(
                text("UPDATE answer SET value = :v WHERE id = :i"),
                {"v": fresh.decode(), "i": row[0]},
            )
    report = rotate_keys(engine, [new_key, TEST_KEY], batch_size=5)
    assert report.columns["answer.value"].already_current == 4
    assert report.rotated == len(tokens) - 4


def test_rotation_never_overwrites_an_answer_changed_after_it_was_read(
    engine: Engine, new_session: SessionFactory, run_reflection: RunReflection
) -> None:
    load_org(new_session)
    run_reflection(first_answer=SECRET)
    new_key = generate_key()
    with engine.connect() as connection:
        first_id = connection.execute(text("SELECT min(id) FROM answer")).scalar_one()
    # The app saves a changed answer (under the new key, as it now writes) in the moment between
    # rotation reading the batch and writing it back.
    changed = Fernet(new_key.encode()).encrypt(b"Changed while rotating").decode()
    marker = "?" if engine.dialect.paramstyle == "qmark" else "%s"
    written: list[bool] = []

    def app_writes_first(connection, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if written or not statement.lstrip().upper().startswith("UPDATE ANSWER"):
            return
        other = connection.connection.dbapi_connection.cursor()
        other.execute(
            f"UPDATE answer SET value = {marker} WHERE id = {marker}", (changed, first_id)
        )
        other.close()
        written.append(True)

    event.listen(engine, "before_cursor_execute", app_writes_first)
    try:
        report = rotate_keys(engine, [new_key, TEST_KEY])
    finally:
        event.remove(engine, "before_cursor_execute", app_writes_first)

    assert written and report.unreadable == 0
    with engine.connect() as connection:
        value = connection.execute(
            text("SELECT value FROM answer WHERE id = :i"), {"i": first_id}
        ).scalar_one()
    assert value == changed  # the rotation's copy of the older answer was not written over it
    only_new = Fernet(new_key.encode())
    for token in _tokens(engine):
        only_new.decrypt(token.encode())


def test_rotation_reports_values_no_key_can_read(
    engine: Engine, new_session: SessionFactory, run_reflection: RunReflection, clock
) -> None:
    load_org(new_session)
    run_reflection(first_answer=SECRET)
    report = rotate_keys(engine, [generate_key(), generate_key()])
    assert report.rotated == 0 and report.unreadable == len(_tokens(engine))


def test_keys_commands(
    cli_env: dict[str, str], new_session: SessionFactory, run_reflection: RunReflection
) -> None:
    generated = subprocess.run(
        [*REFLECT, "keys", "generate"], env=cli_env, capture_output=True, text=True, timeout=60
    )
    assert generated.returncode == 0
    new_key = generated.stdout.strip()
    Fernet(new_key.encode())  # a usable key, alone on standard output
    assert "REFLECT_ENCRYPTION_KEY" in generated.stderr

    load_org(new_session)
    run_reflection(first_answer=SECRET)
    rotated = subprocess.run(
        [*REFLECT, "keys", "rotate"],
        env={**cli_env, "REFLECT_ENCRYPTION_KEY": f"{new_key},{TEST_KEY}"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert rotated.returncode == 0, rotated.stderr
    assert "Re-encrypted" in rotated.stdout and "answer.value" in rotated.stdout
    history = subprocess.run(
        [*REFLECT, "history", "CSC-1001"],
        env={**cli_env, "REFLECT_ENCRYPTION_KEY": new_key},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert history.returncode == 0 and "Quokka-lantern-marmalade" in history.stdout

    no_keys = {k: v for k, v in cli_env.items() if k != "REFLECT_ENCRYPTION_KEY"}
    refused = subprocess.run(
        [*REFLECT, "keys", "rotate"], env=no_keys, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 2 and "NEWKEY,OLDKEY" in refused.stderr


def test_rotating_a_sqlite_trial_moves_its_key_file_to_the_new_key(tmp_path: Path) -> None:
    database = tmp_path / "trial.db"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "REFLECT_", "DATABASE_URL"))
    }
    env.update(HOME=str(tmp_path), DATABASE_URL=f"sqlite:///{database}")

    def reflect(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*REFLECT, *args], env={**env, **extra}, input=SECRET + "\n",
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    reflect("demo", "--case", "CSC-3001")
    key_file = tmp_path / "trial.db.key"
    old_key = key_file.read_text().strip()
    new_key = generate_key()
    rotated = reflect("keys", "rotate", REFLECT_ENCRYPTION_KEY=f"{new_key},{old_key}")
    assert rotated.returncode == 0, rotated.stderr
    assert str(key_file) in rotated.stdout
    assert key_file.read_text().strip() == new_key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    resumed = reflect("demo", "--case", "CSC-3001")  # no variable: the key file alone opens it
    assert resumed.returncode == 1, resumed.stderr
    assert "Welcome back to CSC-3001" in resumed.stdout
