"""clock_prompt: an index on when each prompt was decided, for retention's age-based purge

Revision ID: 0004_clock_prompt_age
Revises: 0003_inbox
Create Date: 2026-11-26
"""

from alembic import op

revision = "0004_clock_prompt_age"
down_revision = "0003_inbox"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clock_prompt", schema=None) as batch_op:
        batch_op.create_index("ix_clock_prompt_decided_at", ["decided_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("clock_prompt", schema=None) as batch_op:
        batch_op.drop_index("ix_clock_prompt_decided_at")
