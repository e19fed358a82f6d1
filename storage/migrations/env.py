"""Alembic environment; metadata is SQLModel's. `reflect db upgrade` hands the engine in through
``storage.db``; the ``alembic`` command (alembic.ini) opens DATABASE_URL as the app does."""

from __future__ import annotations

import os
from logging.config import fileConfig

from alembic import context
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from storage import db

target_metadata = SQLModel.metadata
if context.config.config_file_name is not None:  # the alembic command: say what it does
    fileConfig(context.config.config_file_name, disable_existing_loggers=False)
engine = context.config.attributes.get("engine")
if engine is None:
    engine = db.make_engine(db.database_url_from(os.environ), db.BATCH_LIMITS)

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    context.run_migrations()
