"""where Reflect writes to each person in Microsoft Teams (their personal chat with the app), so
that it can start a message to them

Revision ID: 0013_teams_conversations
Revises: 0012_posted_at
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_teams_conversations"
down_revision = "0012_posted_at"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "teams_conversation",
        sa.Column("person_id", sa.String(length=64), primary_key=True),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("service_url", sa.String(length=300), nullable=False),
        sa.Column("conversation_id", sa.String(length=300), nullable=False),
        sa.Column("user_id", sa.String(length=300), nullable=False),
        sa.Column("bot_id", sa.String(length=300), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("teams_conversation")
