"""Đã ghi: the queries and changes behind the group's list of records.

A member sees the records of their unit's subtree (their group, and the teams under it; for
officials, their commune or ward). Records are soft-deleted, and every change writes one
AuditEvent per changed column, stamped with the bot's clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Numeric, String, cast, func, literal_column, union_all
from sqlalchemy import select as core_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import Select

from bot.domain.paging import page_within
from bot.domain.records import ENTITY, RecordKind, edit_changes, jsonable, stage_changes
from bot.domain.review import NOT_AUDITED, PAGE_SIZE, HistoryEntry, Page, RecordLine
from storage.audit import record
from storage.models import Activity, AuditEvent, LandPledge, Member, Unit, Workday, pk
from storage.records import MODELS, supersede_nil_report
from storage.units import subtree_ids

Record = Activity | LandPledge | Workday


def kind_of(row: Record) -> RecordKind:
    if isinstance(row, Activity):
        return RecordKind.ACTIVITY
    if isinstance(row, LandPledge):
        return RecordKind.LAND
    return RecordKind.WORKDAY


def columns(row: Record) -> dict[str, Any]:
    """The row's column values, as the records' rules (bot/domain/records.py) read them."""
    return row.model_dump()


@dataclass
class Found:
    """A record in the member's scope, with what its card and permission check need."""

    kind: RecordKind
    row: Record
    unit_path: str
    unit_name: str
    reporter_name: str


async def member_unit(session: AsyncSession, member: Member) -> Unit:
    """The unit whose subtree the member sees."""
    unit = await session.get(Unit, member.unit_id)
    if unit is None:
        raise LookupError(f"member {member.id} has no unit {member.unit_id}")
    return unit


def _listing(scope: Unit) -> Any:
    """Every visible record of the scope as (kind, id, on_date, figure, reporter, created)."""
    in_scope = subtree_ids(scope)
    figures = {
        RecordKind.ACTIVITY: col(Activity.participants),
        RecordKind.LAND: col(LandPledge.area_m2),
        RecordKind.WORKDAY: col(Workday.total_days),
    }
    branches: list[Any] = []
    for kind, model in MODELS.items():
        branches.append(
            core_select(
                cast(literal_column(f"'{kind.value}'"), String(1)).label("kind"),
                col(model.id).label("id"),
                col(model.on_date).label("on_date"),
                cast(figures[kind], Numeric(14, 2)).label("figure"),
                col(model.reporter_id).label("reporter_id"),
                col(model.unit_id).label("unit_id"),
                col(model.created_at).label("created_at"),
            ).where(col(model.unit_id).in_(in_scope), col(model.deleted_at).is_(None))
        )
    return union_all(*branches).subquery("records")


async def records_page(
    session: AsyncSession, scope: Unit, page: int, page_size: int = PAGE_SIZE
) -> Page:
    """One page of the scope's records, most recently logged first; a page past the end
    gives the last page."""
    listing = _listing(scope)
    total = (await session.exec(select(func.count()).select_from(listing))).one()
    page, pages = page_within(page, int(total), page_size)
    # sqlmodel's select() types at most four columns; its Select class takes any number.
    query: Select[*tuple[Any, ...]] = (
        Select(
            listing.c.kind,
            listing.c.id,
            listing.c.on_date,
            listing.c.figure,
            listing.c.reporter_id,
            listing.c.created_at,
            col(Member.full_name),
            col(Unit.path),
        )
        .join(Member, col(Member.id) == listing.c.reporter_id)
        .join(Unit, col(Unit.id) == listing.c.unit_id)
        .order_by(listing.c.created_at.desc(), listing.c.id.desc(), listing.c.kind)
        .offset(page * page_size)
        .limit(page_size)
    )
    lines = []
    for kind, record_id, on_date, figure, reporter_id, created_at, name, path in (
        await session.exec(query)
    ).all():
        lines.append(
            RecordLine(
                kind=RecordKind(kind),
                id=int(record_id),
                on_date=on_date if isinstance(on_date, date) else date.fromisoformat(on_date),
                figure=Decimal(str(figure)),
                reporter_id=int(reporter_id),
                reporter_name=name,
                created_at=created_at,
                unit_path=path,
            )
        )
    return Page(lines=lines, total=int(total), page=page, pages=pages)


async def find_record(
    session: AsyncSession, kind: RecordKind, record_id: int, scope: Unit
) -> Found | None:
    """The record if it exists, is not deleted and lies in the scope's subtree; else None."""
    model = MODELS[kind]
    query = (
        select(model, col(Unit.path), col(Unit.name), col(Member.full_name))
        .join(Unit, col(Unit.id) == col(model.unit_id))
        .join(Member, col(Member.id) == col(model.reporter_id))
        .where(
            col(model.id) == record_id,
            col(model.deleted_at).is_(None),
            col(model.unit_id).in_(subtree_ids(scope)),
        )
    )
    found = (await session.exec(query)).first()
    if found is None:
        return None
    row, path, unit_name, reporter = found
    assert isinstance(row, Activity | LandPledge | Workday)
    return Found(kind, row, path, unit_name, reporter)


async def history(
    session: AsyncSession, kind: RecordKind, record_id: int, limit: int
) -> list[HistoryEntry]:
    """The latest `limit` audit events of the record, oldest first."""
    query = (
        select(AuditEvent, col(Member.full_name))
        .outerjoin(Member, col(Member.id) == col(AuditEvent.actor_id))
        .where(AuditEvent.entity == ENTITY[kind], AuditEvent.entity_id == record_id)
        .order_by(col(AuditEvent.id).desc())
        .limit(limit)
    )
    entries = [
        HistoryEntry(
            at=event.at,
            actor=name or event.actor_label,
            action=event.action,
            before=event.before,
            after=event.after,
        )
        for event, name in (await session.exec(query)).all()
    ]
    return entries[::-1]


async def _audit(
    session: AsyncSession,
    row: Record,
    action: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    actor: Member,
    now: datetime,
) -> None:
    event = await record(
        session,
        ENTITY[kind_of(row)],
        pk(row),
        action,
        before,
        after,
        unit_id=row.unit_id,
        actor_id=pk(actor),
    )
    event.at = now


async def apply_edit(
    session: AsyncSession, row: Record, answers: dict[str, Any], actor: Member, now: datetime
) -> list[str]:
    """Store what an edit's answers change, one audit event per changed column; returns the
    changed columns (empty: nothing to store)."""
    changes = edit_changes(kind_of(row), columns(row), answers)
    for name, (old, new) in changes.items():
        setattr(row, name, new)
        if name not in NOT_AUDITED:
            await _audit(
                session, row, "edit", {name: jsonable(old)}, {name: jsonable(new)}, actor, now
            )
    if changes:
        row.updated_at = now
        session.add(row)
        await session.flush()
    if "on_date" in changes:  # a real record now in that week replaces its "nothing to report"
        await supersede_nil_report(session, row.unit_id, row.on_date, now)
    return [name for name in changes if name not in NOT_AUDITED]


async def soft_delete(session: AsyncSession, row: Record, actor: Member, now: datetime) -> None:
    row.deleted_at = now
    row.updated_at = now
    session.add(row)
    await _audit(session, row, "delete", None, {"deleted_at": now.isoformat()}, actor, now)
    await session.flush()


async def advance_stage(
    session: AsyncSession, row: LandPledge, stage: str, on: date, actor: Member, now: datetime
) -> None:
    """Move a land pledge to `stage`, reached `on` (ValueError if it cannot go there)."""
    changes = stage_changes(columns(row), stage, on)
    for name, (_, new) in changes.items():
        setattr(row, name, new)
    row.updated_at = now
    session.add(row)
    before = {name: jsonable(old) for name, (old, _) in changes.items()}
    after = {name: jsonable(new) for name, (_, new) in changes.items()}
    await _audit(session, row, "stage", before, after, actor, now)
    await session.flush()
