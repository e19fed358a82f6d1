"""A fresh PostgreSQL schema, migrated by `reflect db upgrade`, for a benchmark run."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

REPO = Path(__file__).resolve().parents[1]
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
# An invented key for benchmark data only.
KEY = "nF2PbLSjG9jh3ci4m7g1YOtZLkFUv4qg_mX2G8BKm3w="


@contextmanager
def migrated_schema(prefix: str) -> Iterator[tuple[str, dict[str, str]]]:
    """The URL of a new schema at the head migration and the environment for `reflect` against
    it; the schema is dropped afterwards."""
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{POSTGRES}?options=-csearch_path%3D{schema}"
    env = {"DATABASE_URL": url, "REFLECT_ENCRYPTION_KEY": KEY, "PATH": "/usr/bin:/bin"}
    try:
        subprocess.run(
            [sys.executable, "-m", "bot", "db", "upgrade"],
            env=env,
            cwd=REPO,
            check=True,
            capture_output=True,
        )
        yield url, env
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
