"""Queries of /xuat, /thongbao, /thongke and /lich: the units to choose from, and who an
announcement reaches.

All start from a unit the caller already checked against the member's scope
(storage/scope.py: `find_unit`); everything here stays inside that
unit's subtree (a Unit.path prefix), so nothing outside the scope is ever read.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.access import Role
from storage.models import Member, Unit, pk
from storage.reminders import Recipient

AUDIENCE_ROLES = (Role.COORDINATOR, Role.OFFICIAL)


async def unit_choices(session: AsyncSession, root: Unit) -> list[Unit]:
    """`root` and its active direct children, in the order they were created: the units an
    export or an announcement can be for, starting from `root`."""
    children = await session.exec(
        select(Unit)
        .where(
            col(Unit.parent_id) == root.id,
            col(Unit.active).is_(True),
            col(Unit.path).startswith(root.path),
        )
        .order_by(col(Unit.id))
    )
    return [root, *children.all()]


async def area_choices(session: AsyncSession, root: Unit) -> list[Unit]:
    """`root`, its active children (in the order they were created), then the active units
    further below, each child's subtree in turn, depth first: the units a picker offers from
    `root`, the nearest first. A unit below an inactive one is not offered."""
    found = await session.exec(
        select(Unit).where(
            col(Unit.path).startswith(root.path),
            col(Unit.active).is_(True),
            col(Unit.id) != root.id,
        )
    )
    below: dict[int | None, list[Unit]] = defaultdict(list)
    for unit in sorted(found.all(), key=pk):
        below[unit.parent_id].append(unit)
    children = below[pk(root)]
    deeper: list[Unit] = []
    for child in children:
        stack = list(reversed(below[pk(child)]))
        while stack:
            unit = stack.pop()
            deeper.append(unit)
            stack.extend(reversed(below[pk(unit)]))
    return [root, *children, *deeper]


async def member_area(session: AsyncSession, member: Member) -> list[Unit]:
    """The units a member's pickers offer: their own unit first, then those below it (as
    `area_choices`)."""
    own = await session.get(Unit, member.unit_id)
    assert own is not None
    return await area_choices(session, own)


@dataclass(frozen=True)
class Audience:
    """Who an announcement to a unit reaches: the active coordinators and officials of its
    subtree, the sender left out. Those who blocked the bot are counted, not sent to."""

    recipients: list[Recipient]
    coordinators: int  # among the recipients
    officials: int
    unreachable: int  # active members of the audience the bot cannot reach

    @property
    def size(self) -> int:
        return len(self.recipients)


async def broadcast_audience(
    session: AsyncSession, unit: Unit, *, sender_id: int | None
) -> Audience:
    """The audience of an announcement to `unit`'s subtree."""
    query = (
        select(Member)
        .join(Unit, col(Unit.id) == col(Member.unit_id))
        .where(
            col(Unit.path).startswith(unit.path),
            col(Member.active).is_(True),
            col(Member.role).in_([role.value for role in AUDIENCE_ROLES]),
        )
        .order_by(col(Member.id))
    )
    if sender_id is not None:
        query = query.where(col(Member.id) != sender_id)
    recipients: list[Recipient] = []
    roles: list[str] = []
    unreachable = 0
    for member in (await session.exec(query)).all():
        if member.unreachable_at is not None:
            unreachable += 1
            continue
        assert member.id is not None
        recipients.append(
            Recipient(
                member.id, member.telegram_id, member.language, member.unit_id, member.full_name
            )
        )
        roles.append(member.role)
    return Audience(
        recipients,
        coordinators=roles.count(Role.COORDINATOR),
        officials=roles.count(Role.OFFICIAL),
        unreachable=unreachable,
    )
