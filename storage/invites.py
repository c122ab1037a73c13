"""Invites: unguessable codes that let a person join with a role in a unit."""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.engine import CursorResult
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.audit import record
from storage.models import Invite, Unit, pk

# No 0/O or 1/I/L, so a code read aloud or typed from paper survives; 12 symbols = 60 bits.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 12
DEFAULT_DAYS = 7


class InviteStatus(enum.StrEnum):
    VALID = "valid"
    NOT_FOUND = "not_found"
    EXPIRED = "expired"
    USED_UP = "used_up"
    REVOKED = "revoked"
    UNIT_INACTIVE = "unit_inactive"


@dataclass(frozen=True)
class InviteCheck:
    status: InviteStatus
    invite: Invite | None = None
    unit: Unit | None = None


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(text: str) -> str:
    return text.strip().upper()


async def create(
    session: AsyncSession,
    *,
    role: str,
    unit: Unit,
    now: datetime,
    uses: int = 1,
    days: int = DEFAULT_DAYS,
    created_by: int | None = None,
    actor_label: str | None = None,
) -> Invite:
    if uses < 1:
        raise ValueError("uses must be at least 1")
    if days < 1:
        raise ValueError("days must be at least 1")
    invite = Invite(
        code=new_code(),
        role=role,
        unit_id=pk(unit),
        created_by=created_by,
        expires_at=now + timedelta(days=days),
        max_uses=uses,
    )
    session.add(invite)
    await session.flush()
    await record(
        session,
        "invite",
        invite.id,
        "create",
        None,
        {"role": role, "unit_id": unit.id, "max_uses": uses, "days": days},
        actor_id=created_by,
        actor_label=actor_label,
    )
    return invite


async def check(session: AsyncSession, code: str, now: datetime) -> InviteCheck:
    """Whether `code` can be used now, and if not, why."""
    invite = (await session.exec(select(Invite).where(Invite.code == normalize_code(code)))).first()
    if invite is None:
        return InviteCheck(InviteStatus.NOT_FOUND)
    unit = await session.get(Unit, invite.unit_id)
    if invite.revoked_at is not None:
        return InviteCheck(InviteStatus.REVOKED, invite, unit)
    if invite.expires_at <= now:
        return InviteCheck(InviteStatus.EXPIRED, invite, unit)
    if invite.uses >= invite.max_uses:
        return InviteCheck(InviteStatus.USED_UP, invite, unit)
    if unit is None or not unit.active:
        return InviteCheck(InviteStatus.UNIT_INACTIVE, invite, unit)
    return InviteCheck(InviteStatus.VALID, invite, unit)


async def take_use(session: AsyncSession, invite: Invite) -> bool:
    """Count one use, atomically; False when another person took the last one first."""
    result = await session.exec(
        update(Invite)
        .where(col(Invite.id) == invite.id, col(Invite.uses) < col(Invite.max_uses))
        .values(uses=col(Invite.uses) + 1)
    )
    assert isinstance(result, CursorResult)
    return result.rowcount == 1
