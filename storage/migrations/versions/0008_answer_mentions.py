"""which of the question set's mentions each written answer makes, as plain ids beside its
encrypted text, so a step need not decrypt and scan every answer to know what to ask next

Revision ID: 0008_answer_mentions
Revises: 0007_outbox_templates
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_answer_mentions"
down_revision = "0007_outbox_templates"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: answers written before this are scanned as they always were.
    op.add_column("answer", sa.Column("mentions", sa.String(length=400), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("answer") as batch:
        batch.drop_column("mentions")
