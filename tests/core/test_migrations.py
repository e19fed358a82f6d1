"""Migrations from empty, on whichever database this run uses."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect
from sqlmodel import SQLModel

from storage import db


def test_migrated_schema_has_every_table(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names())
    assert {t.name for t in SQLModel.metadata.sorted_tables} <= tables
    assert db.current_revision(engine) == db.head_revision()


# SQLite cannot report an index on an expression (ix_outbox_finished), so Alembic leaves it out
# of the comparison there; tests/protection/test_retention.py checks the purge searches use it.
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based")
def test_models_and_migrations_agree(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        differences = compare_metadata(context, SQLModel.metadata)
    assert differences == []


def test_downgrade_to_empty_and_back(engine: Engine) -> None:
    db.downgrade(engine, "base")
    assert db.current_revision(engine) is None
    assert not set(inspect(engine).get_table_names()) - {"alembic_version"}
    db.upgrade(engine)
    assert db.current_revision(engine) == db.head_revision()
