"""The digest's groups, largest pledges and unreachable members of one unit, queried unit by
unit in SQL: the oracle tests/test_digest.py checks storage.digest.Snapshot against (the bot
itself reads them for many units at once from the Snapshot).

It sums the same facts union as storage.digest (its private helpers are borrowed): what it
checks is how the Snapshot slices, rolls up, ranks and filters them.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, and_, exists
from sqlalchemy.orm import aliased
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import Select

from bot.domain.digest import (
    LARGEST_PLEDGES,
    TOP_GROUPS,
    GroupRef,
    GroupRow,
    PledgeRow,
    UnreachableMember,
)
from storage.digest import (
    FIGURES,
    _live_pledges,
    _per_unit,
    _pledge_rows,
    _unreachable_under,
    figures_from,
    in_subtree,
)
from storage.models import LandPledge, Unit
from storage.records import reported


def _group_of(unit: Any) -> ColumnElement[bool]:
    """`unit` (an alias of Unit) is a group: active, with no active child."""
    child = aliased(Unit, name="sub_unit")
    return and_(
        col(unit.active).is_(True),
        ~exists().where(col(child.parent_id) == col(unit.id), col(child.active).is_(True)),
    )


async def top_groups(
    session: AsyncSession, unit: Unit, start: date, end: date, limit: int = TOP_GROUPS
) -> list[GroupRow]:
    """The most active groups of the subtree: most records in the period; ties go to more m²
    pledged, then more participants, then more workdays, then the older unit."""
    group = aliased(Unit, name="grp")
    parent = aliased(Unit, name="parent")
    per_unit = _per_unit(unit.path, start, end)
    query: Select[*tuple[Any, ...]] = (
        Select(
            col(group.id),
            col(group.name),
            col(group.parent_id),
            col(parent.name),
            *[per_unit.c[name] for name in FIGURES],
        )
        .select_from(group)
        .join(per_unit, per_unit.c.unit_id == col(group.id))
        .outerjoin(parent, col(parent.id) == col(group.parent_id))
        .where(col(group.path).startswith(unit.path), _group_of(group), per_unit.c.records > 0)
        .order_by(
            per_unit.c.records.desc(),
            per_unit.c.land_m2.desc(),
            per_unit.c.participants.desc(),
            per_unit.c.workdays.desc(),
            col(group.id),
        )
        .limit(limit)
    )
    return [
        GroupRow(int(unit_id), name, parent_id, parent_name, figures_from(sums))
        for unit_id, name, parent_id, parent_name, *sums in (await session.exec(query)).all()
    ]


async def silent_groups(
    session: AsyncSession, unit: Unit, start: date, end: date, *, nil_reports_count: bool
) -> list[GroupRef]:
    """Groups of the subtree with no record in the period; with `nil_reports_count`, a nil
    report for a week starting in the period also counts as reporting."""
    group = aliased(Unit, name="grp")
    parent = aliased(Unit, name="parent")
    query: Select[*tuple[Any, ...]] = (
        Select(col(group.id), col(group.name), col(group.parent_id), col(parent.name))
        .select_from(group)
        .outerjoin(parent, col(parent.id) == col(group.parent_id))
        .where(
            col(group.path).startswith(unit.path),
            _group_of(group),
            ~reported(col(group.id), start, end, nil_reports=nil_reports_count),
        )
        .order_by(col(group.parent_id), col(group.id))
    )
    return [
        GroupRef(int(unit_id), name, parent_id, parent_name)
        for unit_id, name, parent_id, parent_name in (await session.exec(query)).all()
    ]


async def largest_pledges(
    session: AsyncSession, unit: Unit, start: date, end: date, limit: int = LARGEST_PLEDGES
) -> list[PledgeRow]:
    """The largest live, not cancelled pledges of the period (by `on_date`), donors as stored."""
    query = (
        _live_pledges(in_subtree(LandPledge.unit_id, unit.path), start, end)
        .order_by(col(LandPledge.area_m2).desc(), col(LandPledge.on_date), col(LandPledge.id))
        .limit(limit)
    )
    return await _pledge_rows(session, query)


async def unreachable_members(session: AsyncSession, unit: Unit) -> list[UnreachableMember]:
    """Active members of the subtree the bot cannot reach (they blocked it), longest first."""
    return [member for _, member in await _unreachable_under(session, unit.path)]
