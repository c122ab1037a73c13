"""Who gets reminded: silent groups, their coordinators, officials, and stale pledges."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Subquery, and_, exists, func, or_, union_all
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import Select

from bot.domain.access import Role
from bot.domain.records import PledgeStage
from bot.domain.reminders import STALE_PLEDGE_DAYS, SilentGroup, StalePledge
from storage.models import Activity, LandPledge, Member, Unit, Workday
from storage.records import reported


@dataclass(frozen=True)
class Recipient:
    member_id: int
    telegram_id: int
    language: str
    unit_id: int
    full_name: str = ""


def _silent(unit_id_column: Any, week: date) -> ColumnElement[bool]:
    """The unit reported nothing, not even "nothing to report", in the week starting `week`."""
    return ~reported(unit_id_column, week, week + timedelta(days=6))


def _reachable(role: Iterable[str]) -> list[ColumnElement[bool]]:
    return [
        col(Member.role).in_(list(role)),
        col(Member.active).is_(True),
        col(Member.unreachable_at).is_(None),
    ]


async def silent_coordinators(
    session: AsyncSession, unit_ids: Iterable[int], week: date
) -> list[Recipient]:
    """Active, reachable coordinators of these units whose unit reported nothing this week."""
    ids = list(unit_ids)
    if not ids:
        return []
    query = (
        select(Member)
        .where(
            *_reachable([Role.COORDINATOR]),
            col(Member.unit_id).in_(ids),
            _silent(Member.unit_id, week),
        )
        .order_by(col(Member.id))
    )
    return [_recipient(member) for member in (await session.exec(query)).all()]


async def silent_coordinators_by_telegram(
    session: AsyncSession, telegram_id: int, week: date
) -> list[Recipient]:
    """This one coordinator, if their group is still silent in the week."""
    query = select(Member).where(
        *_reachable([Role.COORDINATOR]),
        Member.telegram_id == telegram_id,
        _silent(Member.unit_id, week),
    )
    return [_recipient(member) for member in (await session.exec(query)).all()]


async def area_members(
    session: AsyncSession, unit_ids: Iterable[int], roles: Iterable[str]
) -> list[Recipient]:
    """Active, reachable members with one of `roles` whose own unit is in `unit_ids`."""
    ids = list(unit_ids)
    if not ids:
        return []
    query = (
        select(Member)
        .where(*_reachable(roles), col(Member.unit_id).in_(ids))
        .order_by(col(Member.id))
    )
    return [_recipient(member) for member in (await session.exec(query)).all()]


def _recipient(member: Member) -> Recipient:
    assert member.id is not None
    return Recipient(
        member.id, member.telegram_id, member.language, member.unit_id, member.full_name
    )


async def silent_groups(session: AsyncSession, area: Unit, week: date) -> list[SilentGroup]:
    """Groups (units with active coordinators) in `area`'s subtree that reported nothing in
    the week, each with its coordinators and the date of their last record."""
    coordinators = (
        select(Member.unit_id)
        .where(Member.role == Role.COORDINATOR, col(Member.active).is_(True))
        .distinct()
    )
    groups = (
        await session.exec(
            select(Unit)
            .where(
                col(Unit.path).startswith(area.path),
                col(Unit.active).is_(True),
                col(Unit.id).in_(coordinators),
                _silent(Unit.id, week),
            )
            .order_by(col(Unit.path))
        )
    ).all()
    if not groups:
        return []
    by_unit = {group.id: SilentGroup(group.id or 0, group.name) for group in groups}
    their_coordinators = select(Member.id).where(
        col(Member.unit_id).in_(list(by_unit)),
        Member.role == Role.COORDINATOR,
        col(Member.active).is_(True),
    )
    last = _last_reports(their_coordinators)
    rows = (
        await session.exec(
            select(Member.unit_id, Member.full_name, last.c.last_on)
            .join(last, last.c.reporter_id == Member.id, isouter=True)
            .where(
                col(Member.unit_id).in_(list(by_unit)),
                Member.role == Role.COORDINATOR,
                col(Member.active).is_(True),
            )
            .order_by(col(Member.full_name))
        )
    ).all()
    for unit_id, name, last_on in rows:
        by_unit[unit_id].coordinators.append((name, _as_date(last_on)))
    return list(by_unit.values())


def _last_reports(reporters: Any) -> Subquery:
    """Per reporter among `reporters` (a select of member ids), the latest date they logged
    anything (a subquery). Limited to them through the reporter index: over every record of a
    province it took a second for each official's follow-up."""
    parts: list[Any] = [
        select(
            col(model.reporter_id).label("reporter_id"), col(model.on_date).label("on_date")
        ).where(col(model.deleted_at).is_(None), col(model.reporter_id).in_(reporters))
        for model in (Activity, LandPledge, Workday)
    ]
    every = union_all(*parts).subquery()
    return (
        select(every.c.reporter_id, func.max(every.c.on_date).label("last_on"))
        .group_by(every.c.reporter_id)
        .subquery()
    )


def _as_date(value: object) -> date | None:
    """MAX() over a union comes back as a string on SQLite."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _stuck_pledges(today: date) -> list[ColumnElement[bool]]:
    """Live pledges stuck at cam kết or ký biên bản for more than STALE_PLEDGE_DAYS, in the
    scope of their reporter as the reporter is now (who moved away may no longer see or update
    them)."""
    cutoff = today - timedelta(days=STALE_PLEDGE_DAYS)
    reporter = aliased(Member, name="reporter")
    reporter_unit = aliased(Unit, name="reporter_unit")
    pledge_unit = aliased(Unit, name="pledge_unit")
    in_reporter_scope = exists().where(
        col(reporter.id) == col(LandPledge.reporter_id),
        col(reporter_unit.id) == col(reporter.unit_id),
        col(pledge_unit.id) == col(LandPledge.unit_id),
        or_(
            col(reporter.role) == Role.ADMIN.value,
            col(pledge_unit.path).startswith(col(reporter_unit.path)),
        ),
    )
    return [
        col(LandPledge.deleted_at).is_(None),
        in_reporter_scope,
        or_(
            and_(col(LandPledge.stage) == PledgeStage.PLEDGED, col(LandPledge.pledged_on) < cutoff),
            and_(col(LandPledge.stage) == PledgeStage.SIGNED, col(LandPledge.signed_on) < cutoff),
        ),
    ]


_RECIPIENT_COLUMNS = (
    col(Member.id),
    col(Member.telegram_id),
    col(Member.language),
    col(Member.unit_id),
    col(Member.full_name),
)
_STALE_REPORTERS = [Role.COORDINATOR, Role.OFFICIAL, Role.ADMIN]


async def stale_pledges(session: AsyncSession, today: date) -> dict[Recipient, list[StalePledge]]:
    """Pledges stuck at cam kết or ký biên bản for more than STALE_PLEDGE_DAYS, by their
    reporter. Only the columns the nudge shows are read: a province has tens of thousands of
    them."""
    query: Select[*tuple[Any, ...]] = (
        Select(
            *_RECIPIENT_COLUMNS,
            col(LandPledge.id),
            col(LandPledge.donor),
            col(LandPledge.area_m2),
            col(LandPledge.stage),
            col(LandPledge.pledged_on),
            col(LandPledge.signed_on),
        )
        .join(LandPledge, col(LandPledge.reporter_id) == Member.id)
        .where(*_stuck_pledges(today), *_reachable(_STALE_REPORTERS))
        .order_by(col(Member.id), col(LandPledge.id))
    )
    result: dict[Recipient, list[StalePledge]] = {}
    for row in await session.exec(query):
        *person, pledge_id, donor, area_m2, stage, pledged_on, signed_on = row
        since = pledged_on if stage == PledgeStage.PLEDGED else signed_on
        result.setdefault(Recipient(*person), []).append(
            StalePledge(pledge_id, donor, area_m2, stage, since)
        )
    return result


async def stale_pledge_reporters(session: AsyncSession, today: date) -> list[Recipient]:
    """Who `stale_pledges` would nudge, without their pledges (for a nudge skipped)."""
    query: Select[*tuple[Any, ...]] = (
        Select(*_RECIPIENT_COLUMNS)
        .where(
            col(Member.id).in_(Select(col(LandPledge.reporter_id)).where(*_stuck_pledges(today))),
            *_reachable(_STALE_REPORTERS),
        )
        .order_by(col(Member.id))
    )
    return [Recipient(*row) for row in await session.exec(query)]
