"""Migrations from empty, on whichever database this run uses."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel, col, select

from storage import db
from storage import organisation as org_queries
from storage.db import SessionFactory, transaction
from storage.models import Action, Agency, Case, HandledKey, Person, Reflection


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


BEFORE_PERSON_ID = "0009_action_kind"


def test_people_and_handled_keys_keep_their_rows_when_renamed(
    engine: Engine, new_session: SessionFactory
) -> None:
    """Rows written by the release keyed by slack_id are all there, under their new names."""
    with transaction(new_session) as session:
        session.add(Agency(id="csc", name="Children's Social Care"))
        session.add(
            case := Case(
                ref="CSC-9001",
                practitioner_id="U0TESTPRAC",
                opened_on=date(2026, 1, 5),
                created_at=datetime(2026, 1, 5, tzinfo=UTC),
            )
        )
        session.flush()
        at = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
        session.add(
            reflection := Reflection(
                case_id=case.id or 0,
                practitioner_id="U0TESTPRAC",
                status="completed",
                question_set_version="test",
                started_at=at,
                updated_at=at,
            )
        )
        session.flush()
        reflection_id = reflection.id
    received = datetime(2026, 11, 30, 9, 0)
    db.downgrade(engine, BEFORE_PERSON_ID)
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO person (slack_id, agency_id, role, supervisor_id) VALUES "
                    "('U0TESTSUPV', 'csc', 'supervisor', NULL), "
                    "('U0TESTPRAC', 'csc', 'practitioner', 'U0TESTSUPV')"
                )
            )
            connection.execute(
                sa.text(
                    "INSERT INTO safeguarding_lead (agency_id, slack_id) "
                    "VALUES ('csc', 'U0TESTLEAD')"
                )
            )
            connection.execute(
                sa.text(
                    "INSERT INTO action (reflection_id, position, owner_slack_id, status) "
                    "VALUES (:reflection, 1, 'U0TESTOWNR', 'complete')"
                ),
                {"reflection": reflection_id},
            )
            connection.execute(
                sa.text("INSERT INTO slack_event (event_id, received_at) VALUES ('Ev0KEPT', :at)"),
                {"at": received},
            )
    finally:
        db.upgrade(engine)

    assert db.current_revision(engine) == db.head_revision()
    with new_session() as session:
        people = session.exec(select(Person).order_by(col(Person.person_id))).all()
        assert [(p.person_id, p.supervisor_id) for p in people] == [
            ("U0TESTPRAC", "U0TESTSUPV"),
            ("U0TESTSUPV", None),
        ]
        assert org_queries.leads_of_agency(session=session, agency_id="csc") == ["U0TESTLEAD"]
        [action] = session.exec(select(Action)).all()
        assert (action.reflection_id, action.owner_person_id) == (reflection_id, "U0TESTOWNR")
        [key] = session.exec(select(HandledKey)).all()
        assert (key.event_id, key.received_at) == ("Ev0KEPT", received.replace(tzinfo=UTC))
    # The keys still refuse a second row: a person once, a handled key once.
    for duplicate in (
        Person(person_id="U0TESTPRAC", agency_id="csc", role="practitioner"),
        HandledKey(event_id="Ev0KEPT", received_at=received.replace(tzinfo=UTC)),
    ):
        with pytest.raises(IntegrityError), transaction(new_session) as session:
            session.add(duplicate)
    indexes = {i["name"] for i in inspect(engine).get_indexes("handled_key")}
    assert "ix_handled_key_received_at" in indexes
    assert "slack_event" not in inspect(engine).get_table_names()
    if engine.dialect.name == "postgresql":  # SQLite's primary keys have no name
        assert inspect(engine).get_pk_constraint("handled_key")["name"] == "handled_key_pkey"
        assert inspect(engine).get_pk_constraint("person")["constrained_columns"] == ["person_id"]


BEFORE_POSTED_AT = "0011_send_fence"


def test_messages_sent_to_slack_get_their_post_time_from_their_ts(
    engine: Engine, new_session: SessionFactory
) -> None:
    """A message sent before post times were kept gets its time from its ts, if it has one
    (new_session clears the rows afterwards)."""
    db.downgrade(engine, BEFORE_POSTED_AT)
    try:
        with engine.begin() as connection:
            for key, ref in (("q1", "1765432100.000200"), ("q2", "not-a-ts"), ("q3", None)):
                connection.execute(
                    sa.text(
                        "INSERT INTO outbox (dedupe_key, surface, recipient, payload, status, "
                        "attempts, next_attempt_at, created_at, posted_ref) VALUES (:key, "
                        "'conversation', 'U0TESTPRAC', '{}', 'sent', 1, :at, :at, :ref)"
                    ),
                    {"key": key, "ref": ref, "at": datetime(2025, 12, 11, 5, 48)},
                )
    finally:
        db.upgrade(engine)
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT dedupe_key, posted_at FROM outbox ORDER BY dedupe_key")
        ).all()
    posted = {
        key: at if at is None or isinstance(at, datetime) else datetime.fromisoformat(at)
        for key, at in rows
    }
    assert posted == {"q1": datetime(2025, 12, 11, 5, 48, 20, 200), "q2": None, "q3": None}
