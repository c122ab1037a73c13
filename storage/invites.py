"""Invites: unguessable codes that let a person join with a role in a unit; made, listed and
withdrawn by admins anywhere and by officials (coordinator invites) in their unit's subtree."""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, update
from sqlalchemy.engine import CursorResult
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.access import (
    INVITE_DAYS,
    MAX_INVITE_USES,
    ROLE_VALUES,
    ManageOutcome,
    Role,
    grantable_roles,
)
from bot.domain.paging import page_within
from storage.audit import record
from storage.members import record_refusal, unit_for, withdraw_invite
from storage.models import Invite, Member, Unit, invite_open_at, pk
from storage.scope import find_unit, member_scope, units_in

# No 0/O or 1/I/L, so a code read aloud or typed from paper survives; 12 symbols = 60 bits.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 12
DEFAULT_DAYS = INVITE_DAYS  # the command line may give another


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
        created_at=now,
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
        unit_id=invite.unit_id,
        actor_id=created_by,
        actor_label=actor_label,
        at=now,
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


# --- inviting and withdrawing, as a member ---------------------------------------------------

INVITE_PAGE_SIZE = 10


@dataclass(frozen=True)
class Created:
    outcome: ManageOutcome
    invite: Invite | None = None
    unit: Unit | None = None


async def create_by(
    session: AsyncSession, actor: Member, *, role: str, unit_id: int, uses: int, now: datetime
) -> Created:
    """An invite made by `actor`, for a role they may give, into an active unit of their scope,
    valid for DEFAULT_DAYS; refusals are audited."""
    if role not in ROLE_VALUES or not 1 <= uses <= MAX_INVITE_USES:
        return Created(ManageOutcome.STALE)
    if Role(role) not in grantable_roles(actor.role):
        await record_refusal(
            session, actor, "invite", None, ManageOutcome.ROLE, "invite_create", now, role=role
        )
        return Created(ManageOutcome.ROLE)
    outcome, unit = await unit_for(session, actor, unit_id, now=now, action="invite_create")
    if unit is None:
        return Created(outcome)
    if not unit.active:
        return Created(ManageOutcome.STALE)
    invite = await create(session, role=role, unit=unit, now=now, uses=uses, created_by=actor.id)
    return Created(ManageOutcome.OK, invite, unit)


@dataclass(frozen=True)
class OpenInvite:
    id: int
    code: str
    role: str
    unit_name: str
    unit_code: str
    uses: int
    max_uses: int
    expires_at: datetime

    @property
    def uses_left(self) -> int:
        return self.max_uses - self.uses


@dataclass(frozen=True)
class OpenInvitesPage:
    invites: list[OpenInvite]
    page: int
    pages: int
    total: int


async def open_invites(
    session: AsyncSession,
    actor: Member,
    now: datetime,
    page: int,
    page_size: int = INVITE_PAGE_SIZE,
) -> OpenInvitesPage:
    """The invites of the actor's scope that still let someone join (not expired, not used
    up, not withdrawn), those expiring first first; a page past the end gives the last.
    Only invites of roles the actor may give are listed: a code is a key, and an official who
    read an admin's invite could join as admin with it."""
    where = (
        col(Invite.unit_id).in_(units_in(await member_scope(session, actor))),
        col(Invite.role).in_([role.value for role in grantable_roles(actor.role)]),
        *invite_open_at(now),
    )
    total = int((await session.exec(select(func.count(col(Invite.id))).where(*where))).one())
    page, pages = page_within(page, total, page_size)
    query = (
        select(Invite, Unit)
        .join(Unit, col(Unit.id) == col(Invite.unit_id))
        .where(*where)
        .order_by(col(Invite.expires_at), col(Invite.id))
        .offset(page * page_size)
        .limit(page_size)
    )
    found = [
        OpenInvite(
            id=pk(invite),
            code=invite.code,
            role=invite.role,
            unit_name=unit.name,
            unit_code=unit.code,
            uses=invite.uses,
            max_uses=invite.max_uses,
            expires_at=invite.expires_at,
        )
        for invite, unit in (await session.exec(query)).all()
    ]
    return OpenInvitesPage(found, page, pages, total)


@dataclass(frozen=True)
class Revoked:
    outcome: ManageOutcome
    invite: Invite | None = None
    unit: Unit | None = None


async def revoke(
    session: AsyncSession, actor: Member, invite_id: int, *, now: datetime, apply: bool = True
) -> Revoked:
    """Withdraw an invite of the actor's scope that they could have made (officials:
    coordinator invites), so its code no longer lets anyone join; people who already joined
    stay. STALE when it is gone or already withdrawn; refusals are audited. `apply=False`
    only checks (for the confirmation question)."""
    invite = await session.get(Invite, invite_id)
    if invite is None or invite.revoked_at is not None:
        return Revoked(ManageOutcome.STALE, invite)
    unit = (await find_unit(session, actor, unit_id=invite.unit_id)).unit
    if unit is None:
        await record_refusal(
            session, actor, "invite", invite.id, ManageOutcome.OUT_OF_SCOPE, "invite_revoke", now
        )
        return Revoked(ManageOutcome.OUT_OF_SCOPE, invite)
    if Role(invite.role) not in grantable_roles(actor.role):
        await record_refusal(
            session, actor, "invite", invite.id, ManageOutcome.ROLE, "invite_revoke", now
        )
        return Revoked(ManageOutcome.ROLE, invite, unit)
    if apply:
        await withdraw_invite(session, invite, now, actor_id=actor.id)
    return Revoked(ManageOutcome.OK, invite, unit)


async def join(
    session: AsyncSession,
    code: str,
    *,
    telegram_id: int,
    full_name: str,
    phone: str | None,
    language: str,
    now: datetime,
) -> tuple[InviteCheck, Member | None]:
    """Register a person with an invite, if it still lets someone join (one of its uses is
    taken, so two people racing for the last use cannot both join); the join is audited.
    The member, or None with why not."""
    found = await check(session, code, now)
    if found.status is not InviteStatus.VALID or found.invite is None or found.unit is None:
        return found, None
    if not await take_use(session, found.invite):
        return InviteCheck(InviteStatus.USED_UP, found.invite, found.unit), None
    member = Member(
        telegram_id=telegram_id,
        full_name=full_name,
        phone=phone,
        role=found.invite.role,
        unit_id=pk(found.unit),
        language=language,
    )
    session.add(member)
    await session.flush()
    await record(
        session,
        "member",
        member.id,
        "join",
        None,
        {"invite_id": found.invite.id, "role": member.role, "unit_id": member.unit_id},
        unit_id=member.unit_id,
        actor_id=member.id,
        at=now,
    )
    return found, member
