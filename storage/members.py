"""Members: the people who use danvan, each with one role and one unit."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.textnorm import nfc
from storage.audit import record
from storage.models import Member, Role, Unit, pk, utcnow


async def by_telegram_id(session: AsyncSession, telegram_id: int) -> Member | None:
    return (await session.exec(select(Member).where(Member.telegram_id == telegram_id))).first()


async def roots(session: AsyncSession) -> list[Unit]:
    query = select(Unit).where(col(Unit.parent_id).is_(None)).order_by(col(Unit.code))
    return list((await session.exec(query)).all())


async def add_admin(
    session: AsyncSession, telegram_id: int, full_name: str, unit: Unit, *, actor_label: str
) -> tuple[Member, bool]:
    """Make `telegram_id` an admin; returns the member and whether it was newly created."""
    member = await by_telegram_id(session, telegram_id)
    if member is None:
        member = Member(
            telegram_id=telegram_id, full_name=nfc(full_name), role=Role.ADMIN, unit_id=pk(unit)
        )
        session.add(member)
        await session.flush()
        await record(
            session,
            "member",
            member.id,
            "create",
            None,
            {"role": Role.ADMIN, "unit_id": unit.id},
            actor_label=actor_label,
        )
        return member, True
    before = {"role": member.role, "unit_id": member.unit_id, "active": member.active}
    member.full_name, member.role, member.unit_id = nfc(full_name), Role.ADMIN, pk(unit)
    member.active, member.updated_at = True, utcnow()
    after = {"role": member.role, "unit_id": member.unit_id, "active": True}
    await record(session, "member", member.id, "update", before, after, actor_label=actor_label)
    return member, False
