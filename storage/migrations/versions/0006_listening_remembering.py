"""what listening and remembering need: plain columns beside the encrypted summary (the question
set, whether it is a repeat, the rules that fired, the themes skipped, the scale, the minutes, the
safeguarding lead's status, what the practitioner asks of the supervisor and when a call was
promised), a person's profession, an action's "meanwhile" and review status, and the decisions
supervisors record

Revision ID: 0006_listening_remembering
Revises: 0005_fault_recovery
Create Date: 2026-12-14
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_listening_remembering"
down_revision = "0005_fault_recovery"
branch_labels = None
depends_on = None

REFLECTION_COLUMNS = (
    "call_promised_at",
    "supervisor_ask",
    "lead_status",
    "minutes",
    "scale",
    "themes_skipped",
    "rules_fired",
    "is_repeat",
    "question_set",
)


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy), which SQLite does in place; every new column is
    # nullable or has a server default, so existing rows migrate as they are.
    op.add_column("person", sa.Column("profession", sa.String(length=32), nullable=True))
    op.add_column("reflection", sa.Column("question_set", sa.String(length=32), nullable=True))
    op.add_column(
        "reflection",
        sa.Column("is_repeat", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("reflection", sa.Column("rules_fired", sa.String(length=2000), nullable=True))
    op.add_column("reflection", sa.Column("themes_skipped", sa.String(length=1000), nullable=True))
    op.add_column("reflection", sa.Column("scale", sa.Integer(), nullable=True))
    op.add_column("reflection", sa.Column("minutes", sa.Integer(), nullable=True))
    op.add_column("reflection", sa.Column("lead_status", sa.String(length=16), nullable=True))
    op.add_column("reflection", sa.Column("supervisor_ask", sa.String(length=24), nullable=True))
    op.add_column("reflection", sa.Column("call_promised_at", sa.DateTime(), nullable=True))
    op.add_column("action", sa.Column("meanwhile", sa.Text(), nullable=True))
    op.add_column("action", sa.Column("review_status", sa.String(length=24), nullable=True))
    op.create_table(
        "supervisor_decision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reflection_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["reflection_id"], ["reflection.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_supervisor_decision_reflection_id", "supervisor_decision", ["reflection_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_supervisor_decision_reflection_id", table_name="supervisor_decision")
    op.drop_table("supervisor_decision")
    # SQLite drops a column in place (3.35+) unless it is indexed or constrained; these are not.
    for column in ("review_status", "meanwhile"):
        op.drop_column("action", column)
    for column in REFLECTION_COLUMNS:
        op.drop_column("reflection", column)
    op.drop_column("person", "profession")
