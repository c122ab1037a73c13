"""schedules and delivery

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 13:04:00.578722
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "schedule",
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("reminder_weekday", sa.Integer(), nullable=True),
        sa.Column("reminder_time", sa.Time(), nullable=True),
        sa.Column("followup_weekday", sa.Integer(), nullable=True),
        sa.Column("followup_time", sa.Time(), nullable=True),
        sa.Column("weekly_digest_weekday", sa.Integer(), nullable=True),
        sa.Column("weekly_digest_time", sa.Time(), nullable=True),
        sa.Column("monthly_digest_day", sa.Integer(), nullable=True),
        sa.Column("monthly_digest_time", sa.Time(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["unit.id"],
        ),
        sa.PrimaryKeyConstraint("unit_id"),
    )
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unreachable_at", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("send_ledger", schema=None) as batch_op:
        batch_op.add_column(sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_send_ledger_state_claimed", ["state", "claimed_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("send_ledger", schema=None) as batch_op:
        batch_op.drop_index("ix_send_ledger_state_claimed")
        batch_op.drop_column("due_at")

    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.drop_column("unreachable_at")

    op.drop_table("schedule")
