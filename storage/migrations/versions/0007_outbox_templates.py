"""the outbox stores what is to be said (templates, their data, controls) rather than a
platform's API calls: ``method`` becomes ``surface``, Slack's ``slack_ts`` becomes
``posted_ref``, and ``parts_sent`` counts the posts of a message split when it is sent

Rows recorded before this revision keep their Slack call as it was, marked by a surface of
``slack:<method>``; the Slack front end sends those as they are, so nothing recorded and not
yet sent is lost or sent twice (an uncertain one is looked for by its outbox id first).

Revision ID: 0007_outbox_templates
Revises: 0006_listening_remembering
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_outbox_templates"
down_revision = "0006_listening_remembering"
branch_labels = None
depends_on = None

LEGACY = "slack:"


def upgrade() -> None:
    # RENAME COLUMN and plain ADD COLUMN change the table in place on SQLite (3.25+) and
    # PostgreSQL alike: no copy of a possibly large outbox.
    op.execute("ALTER TABLE outbox RENAME COLUMN method TO surface")
    op.execute("ALTER TABLE outbox RENAME COLUMN slack_ts TO posted_ref")
    op.add_column(
        "outbox",
        sa.Column("parts_sent", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )
    op.execute(f"UPDATE outbox SET surface = '{LEGACY}' || surface")


def downgrade() -> None:
    # Messages stored as templates cannot be sent by the code before this revision: any not
    # yet sent are set aside for an operator (they stay in the table), never sent malformed.
    op.execute(
        "UPDATE outbox SET status = 'failed', last_error = 'stored by a newer Reflect' "
        f"WHERE surface NOT LIKE '{LEGACY}%' AND status IN ('pending', 'sending')"
    )
    op.execute(
        f"UPDATE outbox SET surface = substr(surface, {len(LEGACY) + 1}) "
        f"WHERE surface LIKE '{LEGACY}%'"
    )
    op.execute("UPDATE outbox SET surface = 'chat.postMessage' WHERE surface = 'conversation'")
    op.execute("UPDATE outbox SET surface = 'views.publish' WHERE surface = 'home'")
    op.drop_column("outbox", "parts_sent")
    op.execute("ALTER TABLE outbox RENAME COLUMN posted_ref TO slack_ts")
    op.execute("ALTER TABLE outbox RENAME COLUMN surface TO method")
