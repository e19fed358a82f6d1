"""alembic.ini at the repository root: the `alembic` command, run from the checkout as a developer
adding a migration runs it, builds the same schema as `reflect db upgrade`, and sees one head."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

from storage import db
from tests.conftest import TEST_KEY, run_reflect

REPO = Path(__file__).resolve().parents[2]
ALEMBIC = str(Path(sys.executable).with_name("alembic"))


def schema(path: Path) -> list[tuple[str, str, str | None]]:
    with sqlite3.connect(path) as connection:
        rows = connection.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name"
        ).fetchall()
        version = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    return [*rows, ("version", version[0][0], None)]


def test_alembic_upgrade_head_builds_the_schema_reflect_db_upgrade_builds(tmp_path: Path) -> None:
    by_alembic, by_reflect = tmp_path / "alembic.db", tmp_path / "reflect.db"
    base = {"PATH": str(Path(sys.executable).parent), "HOME": str(tmp_path)}

    ran = subprocess.run(
        [ALEMBIC, "-c", "alembic.ini", "upgrade", "head"],
        env={**base, "DATABASE_URL": f"sqlite:///{by_alembic}"},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr
    assert f"-> {db.head_revision()}" in ran.stderr  # it says what it ran

    upgraded = run_reflect(
        {**base, "DATABASE_URL": f"sqlite:///{by_reflect}", "REFLECT_ENCRYPTION_KEY": TEST_KEY},
        "db",
        "upgrade",
        timeout=120,
    )
    assert upgraded.returncode == 0, upgraded.stderr

    built = schema(by_alembic)
    assert any(kind == "table" and name == "reflection" for kind, name, _ in built)
    assert built == schema(by_reflect)


def test_there_is_exactly_one_head_and_alembic_heads_says_so() -> None:
    scripts = ScriptDirectory.from_config(Config(str(REPO / "alembic.ini")))
    assert scripts.get_heads() == [db.head_revision()]

    heads = subprocess.run(
        [ALEMBIC, "-c", "alembic.ini", "heads"], cwd=REPO, capture_output=True, text=True
    )
    assert heads.returncode == 0, heads.stderr
    assert heads.stdout.split() == [db.head_revision(), "(head)"]


def test_each_version_is_named_after_its_revision_and_follows_the_one_before() -> None:
    scripts = ScriptDirectory.from_config(Config(str(REPO / "alembic.ini")))
    chain = list(reversed(list(scripts.walk_revisions())))
    for number, script in enumerate(chain, start=1):
        assert script.path is not None
        stem = Path(script.path).stem
        assert stem == script.revision or stem.startswith(f"{script.revision}_"), script.path
        assert re.fullmatch(rf"{number:04d}(_[a-z0-9_]+)?", script.revision), script.revision
        if number > 1:
            assert script.down_revision == chain[number - 2].revision
