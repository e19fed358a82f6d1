"""each claim on an outbox message has its own number (claim_epoch), checked when a send starts,
so a process that lost its claim while stalled never sends; and when the last send started
(send_started_at), so a send whose outcome is unknown is not looked for before Slack could
have posted it

Revision ID: 0011_send_fence
Revises: 0010_person_id
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_send_fence"
down_revision = "0010_person_id"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy), as in 0005: copying the outbox on SQLite would lose its
    # index on an expression.
    op.add_column(
        "outbox",
        sa.Column("claim_epoch", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column("outbox", sa.Column("send_started_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    for column in ("send_started_at", "claim_epoch"):
        op.drop_column("outbox", column)
