"""clock: prompt subjects and the indexes the clock's searches use

Revision ID: 0002_clock
Revises: 0001
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_clock"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clock_prompt", schema=None) as batch_op:
        batch_op.add_column(sa.Column("subject_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            "ix_clock_prompt_subject", ["job", "subject_id", "decided_at"], unique=False
        )
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.create_index("ix_case_open_since", ["closed_on", "opened_on"], unique=False)
    with op.batch_alter_table("reflection", schema=None) as batch_op:
        batch_op.create_index(
            "ix_reflection_status_updated", ["status", "updated_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("reflection", schema=None) as batch_op:
        batch_op.drop_index("ix_reflection_status_updated")
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.drop_index("ix_case_open_since")
    with op.batch_alter_table("clock_prompt", schema=None) as batch_op:
        batch_op.drop_index("ix_clock_prompt_subject")
        batch_op.drop_column("subject_id")
