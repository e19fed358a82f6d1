"""what recovery after a crash needs: the processes at work and their claims, inbox items set
aside for an operator, and which sent message carried which question (and Slack's timestamp)

Revision ID: 0005_fault_recovery
Revises: 0004_retention_indexes
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_fault_recovery"
down_revision = "0004_retention_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "process",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("pid_started", sa.String(length=32), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_process_seen_at", "process", ["seen_at"])
    # Plain ADD COLUMN (no batch copy), which SQLite does in place: copying the outbox would
    # lose its index on an expression, which SQLite cannot reflect.
    op.add_column("inbox", sa.Column("owner", sa.String(length=32), nullable=True))
    op.add_column(
        "inbox",
        sa.Column("status", sa.String(length=16), nullable=False, server_default="waiting"),
    )
    op.add_column("inbox", sa.Column("last_error", sa.String(length=200), nullable=True))
    op.create_index("ix_inbox_user_id", "inbox", ["user_id", "id"])
    op.add_column("outbox", sa.Column("owner", sa.String(length=32), nullable=True))
    op.add_column(
        "outbox",
        sa.Column("uncertain", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("outbox", sa.Column("prompt", sa.String(length=80), nullable=True))
    op.add_column("outbox", sa.Column("slack_ts", sa.String(length=32), nullable=True))
    op.create_index("ix_outbox_recipient_prompt", "outbox", ["recipient", "prompt"])


def downgrade() -> None:
    op.drop_index("ix_outbox_recipient_prompt", table_name="outbox")
    for column in ("slack_ts", "prompt", "uncertain", "owner"):
        op.drop_column("outbox", column)
    op.drop_index("ix_inbox_user_id", table_name="inbox")
    for column in ("last_error", "status", "owner"):
        op.drop_column("inbox", column)
    op.drop_index("ix_process_seen_at", table_name="process")
    op.drop_table("process")
