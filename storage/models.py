"""The tables. Alembic migrations (storage/migrations) are the only way the schema is made.

Business dates (`on`, stage dates) are local dates in the configured time zone; timestamps are
timezone-aware UTC. Records are soft-deleted through `deleted_at`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Index,
    LargeBinary,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import DateTime, TypeDecorator
from sqlmodel import Field, SQLModel, col


def utcnow() -> datetime:
    return datetime.now(UTC)


class HasId(Protocol):
    id: int | None


def pk(row: HasId) -> int:
    """The primary key of a row that has been flushed (SQLModel types it as optional)."""
    if row.id is None:
        raise ValueError(f"{type(row).__name__} has no id yet; flush the session first")
    return row.id


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite has no time zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use aware UTC datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _timestamp(nullable: bool = False, index: bool = False) -> Any:
    return Field(
        default_factory=None if nullable else utcnow,
        sa_type=UTCDateTime,
        nullable=nullable,
        index=index,
    )


class Unit(SQLModel, table=True):
    """A place in the tree: province, commune or ward, village or residential group, team."""

    __tablename__ = "unit"
    # varchar_pattern_ops lets PostgreSQL use the index for `path LIKE '/1/5/%'`.
    __table_args__ = (
        Index("ix_unit_path", "path", postgresql_ops={"path": "varchar_pattern_ops"}),
    )

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(sa_type=String(50), unique=True, index=True)
    name: str = Field(sa_type=String(200))
    name_key: str = Field(sa_type=String(200), index=True)  # accent-folded, for matching
    level: str = Field(sa_type=String(50))
    parent_id: int | None = Field(default=None, foreign_key="unit.id", index=True)
    # "/1/5/23/": the ids from the root down, so a subtree is one indexed prefix match.
    path: str = Field(sa_type=String(1000))
    former_name: str | None = Field(default=None, sa_type=String(200))
    active: bool = True
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()


class Member(SQLModel, table=True):
    __tablename__ = "member"

    id: int | None = Field(default=None, primary_key=True)
    telegram_id: int = Field(sa_type=BigInteger, unique=True, index=True)
    full_name: str = Field(sa_type=String(200))
    phone: str | None = Field(default=None, sa_type=String(30))
    role: str = Field(sa_type=String(20))
    unit_id: int = Field(foreign_key="unit.id", index=True)
    language: str = Field(default="vi", sa_type=String(10))
    active: bool = True
    # Set when Telegram answered 403 (the person blocked the bot); cleared when they come back.
    unreachable_at: datetime | None = _timestamp(nullable=True)
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()


class MemberChange(SQLModel, table=True):
    """One row counting changes to the member table, kept by database triggers (migration
    0004) on every insert, update and delete, whoever makes them: a bot, the CLI, or someone
    at the psql prompt. The bot reads it with each batch of updates it receives and forgets
    the members it remembered when it moved (storage/members.py's MemberCache)."""

    __tablename__ = "member_change"

    id: int = Field(default=1, primary_key=True, sa_column_kwargs={"autoincrement": False})
    generation: int = Field(default=0, sa_type=BigInteger)


class Invite(SQLModel, table=True):
    __tablename__ = "invite"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(sa_type=String(40), unique=True, index=True)
    role: str = Field(sa_type=String(20))
    unit_id: int = Field(foreign_key="unit.id", index=True)
    created_by: int | None = Field(default=None, foreign_key="member.id")
    expires_at: datetime = Field(sa_type=UTCDateTime)
    max_uses: int = 1
    uses: int = 0
    revoked_at: datetime | None = _timestamp(nullable=True)
    created_at: datetime = _timestamp()


def invite_open_at(now: datetime) -> tuple[Any, ...]:
    """WHERE conditions of an invite that still lets someone join at `now`."""
    return (
        col(Invite.revoked_at).is_(None),
        col(Invite.expires_at) > now,
        col(Invite.uses) < col(Invite.max_uses),
    )


class Activity(SQLModel, table=True):
    __tablename__ = "activity"
    __table_args__ = (Index("ix_activity_unit_on", "unit_id", "on_date"),)

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="unit.id")
    reporter_id: int = Field(foreign_key="member.id", index=True)
    on_date: date
    kind: str = Field(sa_type=String(40))
    participants: int
    description: str | None = Field(default=None, sa_type=Text)
    photo_file_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()
    deleted_at: datetime | None = _timestamp(nullable=True)


class LandPledge(SQLModel, table=True):
    __tablename__ = "land_pledge"
    __table_args__ = (
        Index("ix_land_pledge_unit_on", "unit_id", "on_date"),
        Index("ix_land_pledge_unit_handed_over", "unit_id", "handed_over_on"),
        Index("ix_land_pledge_stage", "stage"),
    )

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="unit.id")
    reporter_id: int = Field(foreign_key="member.id", index=True)
    on_date: date  # the date of the stage reached when it was logged
    donor: str = Field(sa_type=String(200))
    donor_key: str = Field(sa_type=String(200))  # accent-folded, for duplicate checks
    area_m2: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))
    land_kind: str = Field(sa_type=String(40))
    assets: str | None = Field(default=None, sa_type=Text)
    purpose: str = Field(sa_type=String(40))
    purpose_note: str | None = Field(default=None, sa_type=String(200))
    stage: str = Field(sa_type=String(20))
    persuading_on: date | None = None
    pledged_on: date | None = None
    signed_on: date | None = None
    cleared_on: date | None = None
    handed_over_on: date | None = None
    cancelled_on: date | None = None
    value_vnd: Decimal | None = Field(default=None, sa_column=Column(Numeric(18, 0)))
    photo_file_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()
    deleted_at: datetime | None = _timestamp(nullable=True)


class Workday(SQLModel, table=True):
    __tablename__ = "workday"
    __table_args__ = (Index("ix_workday_unit_on", "unit_id", "on_date"),)

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="unit.id")
    reporter_id: int = Field(foreign_key="member.id", index=True)
    on_date: date
    work: str = Field(sa_type=String(200))
    people: int
    days_each: Decimal = Field(sa_column=Column(Numeric(6, 2), nullable=False))
    total_days: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()
    deleted_at: datetime | None = _timestamp(nullable=True)


class NilReport(SQLModel, table=True):
    """A group declaring "nothing this week" for the ISO week starting on `week_start`."""

    __tablename__ = "nil_report"
    __table_args__ = (Index("ix_nil_report_unit_week", "unit_id", "week_start"),)

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="unit.id")
    reporter_id: int = Field(foreign_key="member.id")
    week_start: date  # the Monday
    created_at: datetime = _timestamp()
    deleted_at: datetime | None = _timestamp(nullable=True)


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_entity", "entity", "entity_id"),)

    id: int | None = Field(default=None, primary_key=True)
    actor_id: int | None = Field(default=None, foreign_key="member.id")
    actor_label: str | None = Field(default=None, sa_type=String(100))  # e.g. "cli"
    # The unit the event concerns: whose officials see it in /nhatky (storage/audit.py).
    unit_id: int | None = Field(default=None, foreign_key="unit.id", index=True)
    at: datetime = _timestamp(index=True)
    entity: str = Field(sa_type=String(40))
    entity_id: int | None = None
    action: str = Field(sa_type=String(40))
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))


class Schedule(SQLModel, table=True):
    """A unit's own reminder and digest times. A missing row or an empty field means: as the
    parent unit has it (the root falls back to the built-in defaults). Weekdays count from
    Monday = 0, like Python's date.weekday(); times are local (TIMEZONE)."""

    __tablename__ = "schedule"

    unit_id: int = Field(foreign_key="unit.id", primary_key=True)
    reminder_weekday: int | None = None
    reminder_time: time | None = None
    followup_weekday: int | None = None
    followup_time: time | None = None
    weekly_digest_weekday: int | None = None
    weekly_digest_time: time | None = None
    monthly_digest_day: int | None = None  # 1..28, so every month has it
    monthly_digest_time: time | None = None
    updated_at: datetime = _timestamp()


class SendLedger(SQLModel, table=True):
    """One row per reminder or digest to one recipient for one period: exactly-once sends."""

    __tablename__ = "send_ledger"
    __table_args__ = (
        UniqueConstraint("kind", "recipient", "period_key"),
        Index("ix_send_ledger_state_claimed", "state", "claimed_at"),  # stale claims, retries
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(sa_type=String(40))
    recipient: int = Field(sa_type=BigInteger)
    period_key: str = Field(sa_type=String(40))
    state: str = Field(sa_type=String(20))  # claimed, sent, failed, skipped, unreachable
    attempts: int = 0
    error: str | None = Field(default=None, sa_type=Text)
    due_at: datetime | None = _timestamp(nullable=True)  # when it should have gone out
    claimed_at: datetime = _timestamp()
    done_at: datetime | None = _timestamp(nullable=True)
    # Which process claimed it ("bot:<uuid>", "cli:<uuid>"), so that a new active bot can take
    # over at once what an earlier bot process left half-done.
    claimed_by: str | None = Field(default=None, sa_type=String(60))


class ConversationState(SQLModel, table=True):
    """What the bot remembers between messages (PTB persistence), keyed by namespace and key."""

    __tablename__ = "conversation_state"

    namespace: str = Field(sa_type=String(100), primary_key=True)
    key: str = Field(sa_type=String(200), primary_key=True)
    data: Any = Field(default=None, sa_column=Column(JSON))
    updated_at: datetime = _timestamp()


class UpdateInbox(SQLModel, table=True):
    """Telegram updates received but not yet fully handled. An update is stored here before
    Telegram is told we have it (the next getUpdates offset, or the webhook's 200), and removed
    once handled, so that a process killed in between loses nothing: the next active process
    handles what is left."""

    __tablename__ = "update_inbox"

    update_id: int = Field(
        sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False}
    )
    payload: Any = Field(sa_column=Column(JSON, nullable=False))
    received_at: datetime = _timestamp()
    # Kept for a while after handling, so that Telegram delivering it again is recognised.
    handled_at: datetime | None = _timestamp(nullable=True, index=True)


class OutboxMessage(SQLModel, table=True):
    """One Bot API call an update owes a person (a message, an edit, a button's answer, a
    file), written in the update's own transaction and made after it commits, in order per chat
    (bot/telegram/outbox.py)."""

    __tablename__ = "outbox_message"
    __table_args__ = (
        Index("ix_outbox_message_pending", "state", "id"),  # the sender's queue, oldest first
        Index("ix_outbox_message_placeholder", "placeholder"),
    )

    id: int | None = Field(default=None, primary_key=True)
    chat_id: int = Field(sa_type=BigInteger)
    update_id: int | None = Field(default=None, sa_type=BigInteger)
    method: str = Field(sa_type=String(40))  # sendMessage, editMessageText, sendPhoto, ...
    params: Any = Field(sa_column=Column(JSON, nullable=False))  # JSON-native, files aside
    file_field: str | None = Field(default=None, sa_type=String(40))  # "photo", "document"
    file_name: str | None = Field(default=None, sa_type=String(200))
    file_content: bytes | None = Field(default=None, sa_type=LargeBinary)
    # The message id the handler was given for a message not sent yet (negative), which later
    # edits name; the sender maps it to `message_id`, the id Telegram gave.
    placeholder: int | None = Field(default=None, sa_type=BigInteger)
    message_id: int | None = Field(default=None, sa_type=BigInteger)
    language: str = Field(default="vi", sa_type=String(8))  # for telling of a file not sent
    state: str = Field(default="pending", sa_type=String(20))  # pending, sent, failed
    attempts: int = 0
    next_attempt_at: datetime = _timestamp()
    error: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = _timestamp()
    done_at: datetime | None = _timestamp(nullable=True)


class RuntimeStatus(SQLModel, table=True):
    """One row per `danvan run` process: what `danvan health` and /healthz report."""

    __tablename__ = "runtime_status"

    instance: str = Field(sa_type=String(60), primary_key=True)
    host: str = Field(sa_type=String(200))
    pid: int
    mode: str = Field(sa_type=String(20))  # polling, webhook
    active: bool = False  # holds the active lock; the others are standbys
    started_at: datetime = _timestamp()
    heartbeat_at: datetime = _timestamp()
    last_update_id: int | None = Field(default=None, sa_type=BigInteger)
    last_update_at: datetime | None = _timestamp(nullable=True)
    scheduled_jobs: int = 0
    next_job_at: datetime | None = _timestamp(nullable=True)


# The tables themselves, for the statements run on every update (storage/runtime.py,
# storage/state.py): Core INSERT and UPDATE skip the ORM's bulk-DML bookkeeping, which took a
# third of those statements' time under load.
CONVERSATION_STATE: Table = SQLModel.metadata.tables[str(ConversationState.__tablename__)]
UPDATE_INBOX: Table = SQLModel.metadata.tables[str(UpdateInbox.__tablename__)]
OUTBOX: Table = SQLModel.metadata.tables[str(OutboxMessage.__tablename__)]
