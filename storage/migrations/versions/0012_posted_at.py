"""each sent outbox message keeps when its last post was made (posted_at), as the platform said,
so which question a reply was typed under is worked out from times rather than from one
platform's references; messages already sent to Slack get theirs from their ts

Revision ID: 0012_posted_at
Revises: 0011_send_fence
Create Date: 2026-12-08
"""

import re
from datetime import datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0012_posted_at"
down_revision = "0011_send_fence"
branch_labels = None
depends_on = None

# A Slack ts: seconds since the epoch, a dot, microseconds.
SLACK_TS = re.compile(r"(\d{1,12})\.(\d{1,6})")
EPOCH = datetime(1970, 1, 1)  # naive UTC, as datetimes are stored
BATCH = 1_000

outbox = sa.table(
    "outbox",
    sa.column("id", sa.Integer()),
    sa.column("posted_ref", sa.String()),
    sa.column("posted_at", sa.DateTime()),
)


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy), as in 0005 and 0011: copying the outbox on SQLite would
    # lose its index on an expression.
    op.add_column("outbox", sa.Column("posted_at", sa.DateTime(), nullable=True))
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(outbox.c.id, outbox.c.posted_ref).where(outbox.c.posted_ref.is_not(None))
    )
    found = [(row.id, _slack_time(row.posted_ref)) for row in rows]
    times = [{"row_id": i, "at": at} for i, at in found if at is not None]
    update = (
        outbox.update()
        .where(outbox.c.id == sa.bindparam("row_id"))
        .values(posted_at=sa.bindparam("at"))
    )
    for start in range(0, len(times), BATCH):
        connection.execute(update, times[start : start + BATCH])


def downgrade() -> None:
    op.drop_column("outbox", "posted_at")


def _slack_time(ts: str) -> datetime | None:
    found = SLACK_TS.fullmatch(ts)
    if found is None:
        return None
    seconds, fraction = found.groups()
    return EPOCH + timedelta(seconds=int(seconds), microseconds=int(fraction.ljust(6, "0")))
