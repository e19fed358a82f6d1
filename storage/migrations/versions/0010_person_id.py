"""people are keyed by a person ID that is not any one front end's (person.person_id,
safeguarding_lead.person_id, action.owner_person_id), and the handled-once keys' table is named
for what it holds (handled_key), so a second front end needs no change to the schema

Revision ID: 0010_person_id
Revises: 0009_action_kind
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_person_id"
down_revision = "0009_action_kind"
branch_labels = None
depends_on = None

# (table, old column, new column); the first two are (part of) their table's primary key,
# which keeps its name (person_pkey, safeguarding_lead_pkey) as the column is renamed.
COLUMNS = (
    ("person", "slack_id", "person_id"),
    ("safeguarding_lead", "slack_id", "person_id"),
    ("action", "owner_slack_id", "owner_person_id"),
)


def upgrade() -> None:
    for table, old, new in COLUMNS:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(old, new_column_name=new, existing_type=sa.String(length=64))
    _rename_handled_table("slack_event", "handled_key")


def downgrade() -> None:
    _rename_handled_table("handled_key", "slack_event")
    for table, old, new in COLUMNS:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(new, new_column_name=old, existing_type=sa.String(length=64))


def _rename_handled_table(old: str, new: str) -> None:
    with op.batch_alter_table(old) as batch:
        batch.drop_index(f"ix_{old}_received_at")
    op.rename_table(old, new)
    if op.get_bind().dialect.name == "postgresql":
        # PostgreSQL named the primary key after the table when it was created.
        op.execute(f"ALTER TABLE {new} RENAME CONSTRAINT {old}_pkey TO {new}_pkey")
    with op.batch_alter_table(new) as batch:
        batch.create_index(f"ix_{new}_received_at", ["received_at"], unique=False)
