"""what kind of step a plan's action is (today: an escalation), as a plain code beside its
encrypted wording, so the partnership report can count escalations without decrypting a plan

Revision ID: 0009_action_kind
Revises: 0008_answer_mentions
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_action_kind"
down_revision = "0008_answer_mentions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: most actions are of no particular kind, and actions stored before this are not
    # known to be of one.
    op.add_column("action", sa.Column("kind", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("action") as batch:
        batch.drop_column("kind")
