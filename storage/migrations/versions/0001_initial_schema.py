"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25 12:33:35.195457
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "conversation_state",
        sa.Column("namespace", sa.String(length=100), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("namespace", "key"),
    )
    op.create_table(
        "send_ledger",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("recipient", sa.BigInteger(), nullable=False),
        sa.Column("period_key", sa.String(length=40), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "recipient", "period_key"),
    )
    op.create_table(
        "unit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=50), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_key", sa.String(length=200), nullable=False),
        sa.Column("level", sa.String(length=50), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column("former_name", sa.String(length=200), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["unit.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("unit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_unit_code"), ["code"], unique=True)
        batch_op.create_index(batch_op.f("ix_unit_name_key"), ["name_key"], unique=False)
        batch_op.create_index(batch_op.f("ix_unit_parent_id"), ["parent_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_unit_path"),
            ["path"],
            unique=False,
            postgresql_ops={"path": "varchar_pattern_ops"},
        )

    op.create_table(
        "member",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("telegram_id", sa.BigInteger(), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("phone", sa.String(length=30), nullable=True),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=10), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["unit.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_member_telegram_id"), ["telegram_id"], unique=True)
        batch_op.create_index(batch_op.f("ix_member_unit_id"), ["unit_id"], unique=False)

    op.create_table(
        "activity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("reporter_id", sa.Integer(), nullable=False),
        sa.Column("on_date", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("participants", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("photo_file_ids", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["reporter_id"],
            ["member.id"],
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["unit.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("activity", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_activity_reporter_id"), ["reporter_id"], unique=False)
        batch_op.create_index("ix_activity_unit_on", ["unit_id", "on_date"], unique=False)

    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_label", sa.String(length=100), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("entity", sa.String(length=40), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["member.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_event_at"), ["at"], unique=False)
        batch_op.create_index("ix_audit_event_entity", ["entity", "entity_id"], unique=False)

    op.create_table(
        "invite",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("max_uses", sa.Integer(), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["member.id"],
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["unit.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("invite", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_invite_code"), ["code"], unique=True)
        batch_op.create_index(batch_op.f("ix_invite_unit_id"), ["unit_id"], unique=False)

    op.create_table(
        "land_pledge",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("reporter_id", sa.Integer(), nullable=False),
        sa.Column("on_date", sa.Date(), nullable=False),
        sa.Column("donor", sa.String(length=200), nullable=False),
        sa.Column("donor_key", sa.String(length=200), nullable=False),
        sa.Column("area_m2", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("land_kind", sa.String(length=40), nullable=False),
        sa.Column("assets", sa.Text(), nullable=True),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("purpose_note", sa.String(length=200), nullable=True),
        sa.Column("stage", sa.String(length=20), nullable=False),
        sa.Column("persuading_on", sa.Date(), nullable=True),
        sa.Column("pledged_on", sa.Date(), nullable=True),
        sa.Column("signed_on", sa.Date(), nullable=True),
        sa.Column("cleared_on", sa.Date(), nullable=True),
        sa.Column("handed_over_on", sa.Date(), nullable=True),
        sa.Column("cancelled_on", sa.Date(), nullable=True),
        sa.Column("value_vnd", sa.Numeric(precision=18, scale=0), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("photo_file_ids", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["reporter_id"],
            ["member.id"],
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["unit.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("land_pledge", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_land_pledge_reporter_id"), ["reporter_id"], unique=False
        )
        batch_op.create_index("ix_land_pledge_stage", ["stage"], unique=False)
        batch_op.create_index(
            "ix_land_pledge_unit_handed_over", ["unit_id", "handed_over_on"], unique=False
        )
        batch_op.create_index("ix_land_pledge_unit_on", ["unit_id", "on_date"], unique=False)

    op.create_table(
        "nil_report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("reporter_id", sa.Integer(), nullable=False),
        sa.Column("week_start", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["reporter_id"],
            ["member.id"],
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["unit.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("nil_report", schema=None) as batch_op:
        batch_op.create_index("ix_nil_report_unit_week", ["unit_id", "week_start"], unique=False)

    op.create_table(
        "workday",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("reporter_id", sa.Integer(), nullable=False),
        sa.Column("on_date", sa.Date(), nullable=False),
        sa.Column("work", sa.String(length=200), nullable=False),
        sa.Column("people", sa.Integer(), nullable=False),
        sa.Column("days_each", sa.Numeric(precision=6, scale=2), nullable=False),
        sa.Column("total_days", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["reporter_id"],
            ["member.id"],
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["unit.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("workday", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_workday_reporter_id"), ["reporter_id"], unique=False)
        batch_op.create_index("ix_workday_unit_on", ["unit_id", "on_date"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("workday", schema=None) as batch_op:
        batch_op.drop_index("ix_workday_unit_on")
        batch_op.drop_index(batch_op.f("ix_workday_reporter_id"))

    op.drop_table("workday")
    with op.batch_alter_table("nil_report", schema=None) as batch_op:
        batch_op.drop_index("ix_nil_report_unit_week")

    op.drop_table("nil_report")
    with op.batch_alter_table("land_pledge", schema=None) as batch_op:
        batch_op.drop_index("ix_land_pledge_unit_on")
        batch_op.drop_index("ix_land_pledge_unit_handed_over")
        batch_op.drop_index("ix_land_pledge_stage")
        batch_op.drop_index(batch_op.f("ix_land_pledge_reporter_id"))

    op.drop_table("land_pledge")
    with op.batch_alter_table("invite", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invite_unit_id"))
        batch_op.drop_index(batch_op.f("ix_invite_code"))

    op.drop_table("invite")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_event_entity")
        batch_op.drop_index(batch_op.f("ix_audit_event_at"))

    op.drop_table("audit_event")
    with op.batch_alter_table("activity", schema=None) as batch_op:
        batch_op.drop_index("ix_activity_unit_on")
        batch_op.drop_index(batch_op.f("ix_activity_reporter_id"))

    op.drop_table("activity")
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_member_unit_id"))
        batch_op.drop_index(batch_op.f("ix_member_telegram_id"))

    op.drop_table("member")
    with op.batch_alter_table("unit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_unit_path"))
        batch_op.drop_index(batch_op.f("ix_unit_parent_id"))
        batch_op.drop_index(batch_op.f("ix_unit_name_key"))
        batch_op.drop_index(batch_op.f("ix_unit_code"))

    op.drop_table("unit")
    op.drop_table("send_ledger")
    op.drop_table("conversation_state")
