"""indexes for retention's purges, which run on every clock tick: by when a clock prompt was
decided, when a Slack event arrived, and when a message finished (sent, or failed)

Revision ID: 0004_retention_indexes
Revises: 0003_inbox
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_retention_indexes"
down_revision = "0003_inbox"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clock_prompt", schema=None) as batch_op:
        batch_op.create_index("ix_clock_prompt_decided_at", ["decided_at"], unique=False)
    with op.batch_alter_table("slack_event", schema=None) as batch_op:
        batch_op.create_index("ix_slack_event_received_at", ["received_at"], unique=False)
    op.create_index("ix_outbox_finished", "outbox", [sa.text("coalesce(sent_at, created_at)")])


def downgrade() -> None:
    op.drop_index("ix_outbox_finished", table_name="outbox")
    with op.batch_alter_table("slack_event", schema=None) as batch_op:
        batch_op.drop_index("ix_slack_event_received_at")
    with op.batch_alter_table("clock_prompt", schema=None) as batch_op:
        batch_op.drop_index("ix_clock_prompt_decided_at")
