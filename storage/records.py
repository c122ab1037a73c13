"""Activities, land pledges, workdays and nil reports: saving, finding, duplicates."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, exists, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.access import RecordDenial, record_change_denial
from bot.domain.periods import week_start
from bot.domain.records import ENTITY, RecordKind, donor_key, new_record_columns, reference
from storage.audit import record
from storage.models import Activity, LandPledge, Member, NilReport, Unit, Workday, pk

DUPLICATE_WINDOW_DAYS = 30
MODELS: dict[RecordKind, type[Activity] | type[LandPledge] | type[Workday]] = {
    RecordKind.ACTIVITY: Activity,
    RecordKind.LAND: LandPledge,
    RecordKind.WORKDAY: Workday,
}


def _snapshot(row: Any) -> dict[str, Any]:
    """A JSON-ready copy of a row's fields, for the audit trail."""
    data: dict[str, Any] = {}
    for name, value in row.model_dump().items():
        if name in ("created_at", "updated_at"):
            continue
        if isinstance(value, Decimal):
            value = str(value)
        elif isinstance(value, date | datetime):
            value = value.isoformat()
        data[name] = value
    return data


async def save(
    session: AsyncSession,
    kind: RecordKind,
    member: Member,
    answers: Mapping[str, Any],
    now: datetime,
) -> int:
    """Store a confirmed form's answers as a new record of the member's group; its id."""
    row = MODELS[kind](
        unit_id=member.unit_id, reporter_id=pk(member), **new_record_columns(kind, answers)
    )
    row.created_at = row.updated_at = now
    session.add(row)
    await session.flush()
    await record(
        session,
        ENTITY[kind],
        row.id,
        "create",
        None,
        _snapshot(row),
        unit_id=row.unit_id,
        actor_id=member.id,
        at=now,
    )
    await supersede_nil_report(session, row.unit_id, row.on_date, now)
    return pk(row)


async def find_duplicate(
    session: AsyncSession,
    kind: RecordKind,
    unit_id: int,
    answers: Mapping[str, Any],
    now: datetime,
) -> str | None:
    """A reference to an earlier record this one may repeat, or None: a pledge with the same
    donor and area logged in the group within 30 days, or an activity of the same kind and day."""
    if kind is RecordKind.LAND:
        land_query = select(LandPledge.id).where(
            LandPledge.unit_id == unit_id,
            col(LandPledge.deleted_at).is_(None),
            LandPledge.donor_key == donor_key(answers["donor"]),
            LandPledge.area_m2 == Decimal(answers["area_m2"]),
            col(LandPledge.created_at) >= now - timedelta(days=DUPLICATE_WINDOW_DAYS),
        )
        found = (await session.exec(land_query.order_by(col(LandPledge.id).desc()))).first()
    elif kind is RecordKind.ACTIVITY:
        activity_query = select(Activity.id).where(
            Activity.unit_id == unit_id,
            col(Activity.deleted_at).is_(None),
            Activity.kind == answers["kind"],
            Activity.on_date == date.fromisoformat(answers["on_date"]),
        )
        found = (await session.exec(activity_query.order_by(col(Activity.id).desc()))).first()
    else:
        return None
    return reference(kind, found) if found is not None else None


async def recent_works(session: AsyncSession, unit_id: int, limit: int = 6) -> list[str]:
    """The group's most recently logged works, newest first, for one-tap choices."""
    latest = func.max(Workday.id).label("latest")
    query = (
        select(Workday.work, latest)
        .where(Workday.unit_id == unit_id, col(Workday.deleted_at).is_(None))
        .group_by(col(Workday.work))
        .order_by(latest.desc())
        .limit(limit)
    )
    return [work for work, _ in (await session.exec(query)).all()]


async def current_nil_report(session: AsyncSession, unit_id: int, week: date) -> NilReport | None:
    query = select(NilReport).where(
        NilReport.unit_id == unit_id,
        NilReport.week_start == week,
        col(NilReport.deleted_at).is_(None),
    )
    return (await session.exec(query)).first()


def reported(
    unit_id_column: Any, start: date, end: date, *, nil_reports: bool = True
) -> ColumnElement[bool]:
    """The unit (`unit_id_column`) reported in `start`..`end`, both included: it has a live
    record (activity, land pledge in any stage, workday entry) dated then or, with
    `nil_reports`, a live "nothing to report" for a week starting then."""
    clauses = [
        exists().where(
            col(model.unit_id) == unit_id_column,
            col(model.deleted_at).is_(None),
            col(model.on_date).between(start, end),
        )
        for model in MODELS.values()
    ]
    if nil_reports:
        clauses.append(
            exists().where(
                col(NilReport.unit_id) == unit_id_column,
                col(NilReport.deleted_at).is_(None),
                col(NilReport.week_start).between(start, end),
            )
        )
    return or_(*clauses)


async def has_records_in_week(session: AsyncSession, unit_id: int, week: date) -> bool:
    end = week + timedelta(days=6)
    query = select(Unit.id).where(
        Unit.id == unit_id, reported(Unit.id, week, end, nil_reports=False)
    )
    return (await session.exec(query)).first() is not None


async def tidy_nil_reports(session: AsyncSession, unit_id: int, now: datetime) -> None:
    """After another unit's records and nil reports moved in (a merge): at most one "nothing
    to report" a week, and none in a week that has a record."""
    query = (
        select(NilReport)
        .where(NilReport.unit_id == unit_id, col(NilReport.deleted_at).is_(None))
        .order_by(col(NilReport.week_start), col(NilReport.id))
    )
    kept: set[date] = set()
    for report in (await session.exec(query)).all():
        week = report.week_start
        if week in kept or await has_records_in_week(session, unit_id, week):
            await _supersede(session, report, now)
        else:
            kept.add(week)


async def add_nil_report(
    session: AsyncSession, member: Member, week: date, now: datetime
) -> NilReport:
    existing = await current_nil_report(session, member.unit_id, week)
    if existing is not None:
        return existing
    report = NilReport(
        unit_id=member.unit_id, reporter_id=pk(member), week_start=week, created_at=now
    )
    session.add(report)
    await session.flush()
    await record(
        session,
        "nil_report",
        report.id,
        "create",
        None,
        {"week_start": week.isoformat()},
        unit_id=report.unit_id,
        actor_id=member.id,
        at=now,
    )
    return report


async def undo_nil_report(
    session: AsyncSession, member: Member, report_id: int, now: datetime, *, window_days: int
) -> bool | RecordDenial:
    """Withdraw a live nil report: True when withdrawn, False when there is none to withdraw
    (gone, or withdrawn already), or why this member may not. The rule is a record's
    (bot/domain/access.record_change_denial): its author within the edit window, then
    officials of its area and admins."""
    report = await session.get(NilReport, report_id)
    if report is None or report.deleted_at is not None:
        return False
    unit = await session.get(Unit, report.unit_id)
    own_unit = await session.get(Unit, member.unit_id)
    assert unit is not None and own_unit is not None
    denial = record_change_denial(
        member_id=member.id,
        member_role=member.role,
        member_unit_path=own_unit.path,
        author_id=report.reporter_id,
        record_unit_path=unit.path,
        created_at=report.created_at,
        now=now,
        window_days=window_days,
    )
    if denial is not None:
        return denial
    report.deleted_at = now
    await record(
        session,
        "nil_report",
        report.id,
        "undo",
        None,
        None,
        unit_id=report.unit_id,
        actor_id=member.id,
        at=now,
    )
    return True


async def supersede_nil_report(
    session: AsyncSession, unit_id: int, on_date: date, now: datetime
) -> None:
    """A real record in a week replaces that week's "nothing to report"."""
    report = await current_nil_report(session, unit_id, week_start(on_date))
    if report is not None:
        await _supersede(session, report, now)


async def _supersede(session: AsyncSession, report: NilReport, now: datetime) -> None:
    """The nil report gives way to a record of its week, with its audit event."""
    report.deleted_at = now
    await record(
        session,
        "nil_report",
        report.id,
        "superseded",
        None,
        None,
        unit_id=report.unit_id,
        at=now,
    )
