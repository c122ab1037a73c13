"""Totals for a unit's subtree over a period, computed in SQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.records import PledgeStage
from storage.models import Activity, LandPledge, Unit, Workday


@dataclass(frozen=True)
class Totals:
    activities: int
    participants: int
    land_m2: Decimal
    handed_over_m2: Decimal
    workdays: Decimal


async def group_totals(session: AsyncSession, unit_id: int, start: date, end: date) -> Totals:
    """Totals of one unit and everything under it, for `start`..`end` inclusive."""
    unit = await session.get(Unit, unit_id)
    assert unit is not None
    in_subtree = select(col(Unit.id)).where(col(Unit.path).startswith(unit.path))
    activity = (
        await session.exec(
            select(
                func.count(col(Activity.id)), func.coalesce(func.sum(Activity.participants), 0)
            ).where(
                col(Activity.unit_id).in_(in_subtree),
                col(Activity.deleted_at).is_(None),
                col(Activity.on_date).between(start, end),
            )
        )
    ).one()
    pledged = (
        await session.exec(
            select(func.coalesce(func.sum(LandPledge.area_m2), 0)).where(
                col(LandPledge.unit_id).in_(in_subtree),
                col(LandPledge.deleted_at).is_(None),
                LandPledge.stage != PledgeStage.CANCELLED,
                col(LandPledge.on_date).between(start, end),
            )
        )
    ).one()
    handed_over = (
        await session.exec(
            select(func.coalesce(func.sum(LandPledge.area_m2), 0)).where(
                col(LandPledge.unit_id).in_(in_subtree),
                col(LandPledge.deleted_at).is_(None),
                LandPledge.stage != PledgeStage.CANCELLED,
                col(LandPledge.handed_over_on).between(start, end),
            )
        )
    ).one()
    workdays = (
        await session.exec(
            select(func.coalesce(func.sum(Workday.total_days), 0)).where(
                col(Workday.unit_id).in_(in_subtree),
                col(Workday.deleted_at).is_(None),
                col(Workday.on_date).between(start, end),
            )
        )
    ).one()
    return Totals(
        activities=int(activity[0]),
        participants=int(activity[1]),
        land_m2=Decimal(str(pledged)).quantize(Decimal("0.01")),
        handed_over_m2=Decimal(str(handed_over)).quantize(Decimal("0.01")),
        workdays=Decimal(str(workdays)).quantize(Decimal("0.01")),
    )
