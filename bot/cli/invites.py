"""`danvan invite create | list | revoke`: invite codes, with the rules of storage/invites.py."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.cli.common import (
    CLI_ACTOR,
    CliError,
    Refused,
    add_json,
    cli_actor,
    in_one_transaction,
    positive,
    unit_by_code,
)
from bot.domain.access import ManageOutcome, Role, role_label
from bot.domain.formatting import format_datetime
from bot.domain.i18n import Translator
from bot.settings import Settings
from storage import invites
from storage.models import Invite, Unit, pk

PAGE = 500  # invites fetched per query when listing them all


def cmd_invite_create(settings: Settings, t: Translator, args: argparse.Namespace) -> int:
    async def work(session: AsyncSession, now: datetime) -> tuple[Invite, Unit]:
        # CliError: one line on stderr, with --json too.
        unit = await unit_by_code(session, t, args.unit, active=True, error=CliError)
        invite = await invites.create(
            session,
            role=args.role,
            unit=unit,
            now=now,
            uses=args.uses,
            days=args.days,
            actor_label=CLI_ACTOR,
        )
        return invite, unit

    def show(created: tuple[Invite, Unit]) -> object:
        invite, unit = created
        return {
            "code": invite.code,
            "role": invite.role,
            "unit": unit.code,
            "max_uses": invite.max_uses,
            "expires_at": invite.expires_at.isoformat(),
        }

    def say(created: tuple[Invite, Unit]) -> list[str]:
        invite, unit = created
        return [
            t._(
                "Invite {code} for a {role} of {unit}: {uses} use(s), valid until {expires}.\n"
                "The person opens the bot and sends: /start {code}",
                code=invite.code,
                role=role_label(t, args.role),
                unit=unit.name,
                uses=invite.max_uses,
                expires=format_datetime(invite.expires_at, settings.tz),
            )
        ]

    return in_one_transaction(settings, args, work, show, say)


def cmd_invite_list(settings: Settings, t: Translator, args: argparse.Namespace) -> int:
    async def work(session: AsyncSession, now: datetime) -> list[invites.OpenInvite]:
        if args.unit:
            # An official of the unit sees its subtree's invites.
            unit = await unit_by_code(session, t, args.unit)
            actor = cli_actor(pk(unit), Role.OFFICIAL)
        else:
            first = (await session.exec(select(Unit).limit(1))).first()
            if first is None:
                return []
            actor = cli_actor(pk(first))
        found: list[invites.OpenInvite] = []
        page = 0
        while True:
            result = await invites.open_invites(session, actor, now, page, PAGE)
            found += result.invites
            if page >= result.pages - 1:
                return found
            page += 1

    def show(found: list[invites.OpenInvite]) -> object:
        return [
            {
                "code": i.code,
                "role": i.role,
                "unit": i.unit_code,
                "uses": i.uses,
                "max_uses": i.max_uses,
                "uses_left": i.uses_left,
                "expires_at": i.expires_at.isoformat(),
            }
            for i in found
        ]

    def say(found: list[invites.OpenInvite]) -> list[str]:
        if not found:
            return [t._("No open invites.")]
        return [
            t._(
                "{code}  {role} of {unit} ({unit_code}): {left} of {uses} use(s) left, "
                "valid until {expires}",
                code=i.code,
                role=role_label(t, i.role),
                unit=i.unit_name,
                unit_code=i.unit_code,
                left=i.uses_left,
                uses=i.max_uses,
                expires=format_datetime(i.expires_at, settings.tz),
            )
            for i in found
        ]

    return in_one_transaction(settings, args, work, show, say)


def cmd_invite_revoke(settings: Settings, t: Translator, args: argparse.Namespace) -> int:
    code = invites.normalize_code(args.code)

    async def work(session: AsyncSession, now: datetime) -> Invite:
        invite = (await session.exec(select(Invite).where(Invite.code == code))).first()
        if invite is None:
            raise Refused(t._("There is no invite with code {code}.", code=code))
        done = await invites.revoke(session, cli_actor(invite.unit_id), pk(invite), now=now)
        if done.outcome is not ManageOutcome.OK:
            raise Refused(t._("Invite {code} was already withdrawn.", code=code))
        return invite

    def show(invite: Invite) -> object:
        revoked = invite.revoked_at.isoformat() if invite.revoked_at else None
        return {"ok": True, "code": invite.code, "revoked_at": revoked}

    def say(invite: Invite) -> list[str]:
        return [
            t._(
                "Invite {code} is withdrawn; people who already joined with it stay.",
                code=invite.code,
            )
        ]

    return in_one_transaction(settings, args, work, show, say)


def register(commands: argparse._SubParsersAction[Any]) -> None:
    group = commands.add_parser("invite", help="invites").add_subparsers(
        dest="invite_command", required=True
    )
    create = group.add_parser("create", help="create an invite code")
    create.add_argument("--role", required=True, choices=[role.value for role in Role])
    create.add_argument("--unit", required=True, help="unit code")
    create.add_argument("--uses", type=positive, default=1)
    create.add_argument("--days", type=positive, default=invites.DEFAULT_DAYS)
    create.set_defaults(handler=cmd_invite_create)
    listing = group.add_parser("list", help="list open invites")
    listing.add_argument("--unit", help="only the invites of this unit and the units under it")
    listing.set_defaults(handler=cmd_invite_list)
    revoke = group.add_parser("revoke", help="withdraw an invite; people who joined stay")
    revoke.add_argument("code", help="invite code")
    revoke.set_defaults(handler=cmd_invite_revoke)
    add_json(create, listing, revoke)
