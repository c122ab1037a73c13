"""`danvan admin add` and `danvan members list | set-role | move | deactivate | activate`: the
people, with the rules of storage/members.py, shared with the chat."""

from __future__ import annotations

import argparse
from datetime import date, datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.cli.common import (
    CLI_ACTOR,
    CliError,
    Refused,
    add_json,
    cli_actor,
    in_one_transaction,
    unit_by_code,
    unit_or_root,
)
from bot.domain.access import Role, role_label
from bot.domain.formatting import format_date
from bot.domain.i18n import N_, Translator
from bot.settings import Settings
from storage import members
from storage.models import Member, Unit, pk

PAGE = 500  # rows fetched per query when listing everything


def cmd_admin_add(settings: Settings, t: Translator, args: argparse.Namespace) -> int:
    name = args.name.strip()
    if not name:
        raise CliError(t._("--name must not be empty."))

    async def work(session: AsyncSession, now: datetime) -> tuple[Member, bool, Unit]:
        unit = await unit_or_root(session, t, args.unit)
        member, created = await members.add_admin(
            session, args.telegram_id, name, unit, actor_label=CLI_ACTOR
        )
        return member, created, unit

    def show(added: tuple[Member, bool, Unit]) -> object:
        member, created, unit = added
        return {
            "telegram_id": member.telegram_id,
            "name": member.full_name,
            "role": member.role,
            "unit": unit.code,
            "created": created,
        }

    def say(added: tuple[Member, bool, Unit]) -> list[str]:
        member, created, unit = added
        text = (
            N_("{name} ({id}) is now an admin of {unit}.")
            if created
            else N_("{name} ({id}) was already registered and is now an admin of {unit}.")
        )
        return [t._(text, name=member.full_name, id=member.telegram_id, unit=unit.name)]

    return in_one_transaction(settings, args, work, show, say)


async def _member(session: AsyncSession, t: Translator, telegram_id: int) -> Member:
    member = await members.by_telegram_id(session, telegram_id)
    if member is None:
        raise Refused(t._("There is no member with Telegram id {id}.", id=telegram_id))
    return member


Listing = tuple[Unit, list[tuple[members.MemberLine, int]]]


def cmd_members_list(settings: Settings, t: Translator, args: argparse.Namespace) -> int:
    async def work(session: AsyncSession, now: datetime) -> Listing:
        unit = await unit_by_code(session, t, args.unit)
        lines: list[members.MemberLine] = []
        page = 0
        while True:
            result = await members.members_page(session, unit, page, PAGE)
            lines += result.lines
            if page >= result.pages - 1:
                break
            page += 1
        ids = [line.id for line in lines]
        telegram_ids: dict[int, int] = {}
        for start in range(0, len(ids), PAGE):
            query = select(Member.id, Member.telegram_id).where(
                col(Member.id).in_(ids[start : start + PAGE])
            )
            rows = (await session.exec(query)).all()
            telegram_ids.update({i: tg for i, tg in rows if i is not None})
        return unit, [(line, telegram_ids[line.id]) for line in lines]

    def show(result: Listing) -> object:
        return [
            {
                "telegram_id": telegram_id,
                "name": line.full_name,
                "role": line.role,
                "phone": line.phone,
                "unit": line.unit_code,
                "active": line.active,
                "last_report": line.last_report.isoformat() if line.last_report else None,
            }
            for line, telegram_id in result[1]
        ]

    def say(result: Listing) -> list[str]:
        unit, found = result
        if not found:
            return [t._("{unit} has no members.", unit=unit.name)]
        out = []
        for line, telegram_id in found:
            last: date | None = line.last_report
            text = "  ".join(
                (
                    str(telegram_id),
                    line.full_name,
                    role_label(t, line.role),
                    line.unit_code,
                    line.phone or t._("no phone"),
                    t._("last report {date}", date=format_date(last))
                    if last
                    else t._("no reports yet"),
                )
            )
            if not line.active:
                text += "  " + t._("[inactive]")
            out.append(text)
        return out

    return in_one_transaction(settings, args, work, show, say)


def _changed(done: members.Change) -> object:
    assert done.member is not None
    return {
        "ok": True,
        "telegram_id": done.member.telegram_id,
        "name": done.member.full_name,
        "role": done.member.role,
        "unit": done.unit.code if done.unit else None,
        "active": done.member.active,
    }


def cmd_members_set_role(settings: Settings, t: Translator, args: argparse.Namespace) -> int:
    async def work(session: AsyncSession, now: datetime) -> members.Change:
        member = await _member(session, t, args.telegram_id)
        if member.role == args.role:
            raise Refused(
                t._(
                    "{name} ({id}) is already a {role}.",
                    name=member.full_name,
                    id=member.telegram_id,
                    role=role_label(t, args.role),
                )
            )
        done = await members.change_role(
            session,
            cli_actor(member.unit_id),
            pk(member),
            expected=member.role,
            role=args.role,
            now=now,
        )
        assert done.ok, done.outcome
        return done

    def say(done: members.Change) -> list[str]:
        assert done.member is not None
        return [
            t._(
                "{name} ({id}) is now a {role}.",
                name=done.member.full_name,
                id=done.member.telegram_id,
                role=role_label(t, done.member.role),
            )
        ]

    return in_one_transaction(settings, args, work, _changed, say)


def cmd_members_move(settings: Settings, t: Translator, args: argparse.Namespace) -> int:
    async def work(session: AsyncSession, now: datetime) -> members.Change:
        member = await _member(session, t, args.telegram_id)
        unit = await unit_by_code(session, t, args.unit, active=True)
        if member.unit_id == unit.id:
            raise Refused(
                t._(
                    "{name} ({id}) is already in {unit}.",
                    name=member.full_name,
                    id=member.telegram_id,
                    unit=unit.name,
                )
            )
        done = await members.change_unit(
            session,
            cli_actor(member.unit_id),
            pk(member),
            expected_unit_id=member.unit_id,
            unit_id=pk(unit),
            now=now,
        )
        assert done.ok, done.outcome
        return done

    def say(done: members.Change) -> list[str]:
        assert done.member is not None and done.unit is not None
        return [
            t._(
                "{name} ({id}) is now in {unit}; their records stay where they were logged.",
                name=done.member.full_name,
                id=done.member.telegram_id,
                unit=done.unit.name,
            )
        ]

    return in_one_transaction(settings, args, work, _changed, say)


def _set_active(settings: Settings, t: Translator, args: argparse.Namespace, active: bool) -> int:
    async def work(session: AsyncSession, now: datetime) -> members.Change:
        member = await _member(session, t, args.telegram_id)
        if member.active == active:
            already = (
                N_("{name} ({id}) is already active.")
                if active
                else N_("{name} ({id}) is already inactive.")
            )
            raise Refused(t._(already, name=member.full_name, id=member.telegram_id))
        done = await members.set_active(
            session, cli_actor(member.unit_id), pk(member), active=active, now=now
        )
        assert done.ok, done.outcome
        return done

    def say(done: members.Change) -> list[str]:
        assert done.member is not None
        text = (
            N_("{name} ({id}) is active again.")
            if active
            else N_("{name} ({id}) is deactivated; their records are kept.")
        )
        return [t._(text, name=done.member.full_name, id=done.member.telegram_id)]

    return in_one_transaction(settings, args, work, _changed, say)


def cmd_members_deactivate(settings: Settings, t: Translator, args: argparse.Namespace) -> int:
    return _set_active(settings, t, args, active=False)


def cmd_members_activate(settings: Settings, t: Translator, args: argparse.Namespace) -> int:
    return _set_active(settings, t, args, active=True)


def register(commands: argparse._SubParsersAction[Any]) -> None:
    admin = commands.add_parser("admin", help="admins").add_subparsers(
        dest="admin_command", required=True
    )
    add = admin.add_parser("add", help="make a Telegram user an admin")
    add.add_argument("telegram_id", type=int, help="numeric Telegram user id")
    add.add_argument("--name", required=True)
    add.add_argument("--unit", help="unit code (default: the top-level unit)")
    add.set_defaults(handler=cmd_admin_add)

    group = commands.add_parser("members", help="members").add_subparsers(
        dest="members_command", required=True
    )
    listing = group.add_parser("list", help="members of a unit and the units under it")
    listing.add_argument("unit", help="unit code")
    listing.set_defaults(handler=cmd_members_list)
    set_role = group.add_parser("set-role", help="change a member's role")
    set_role.add_argument("telegram_id", type=int, help="numeric Telegram user id")
    set_role.add_argument("role", choices=[role.value for role in Role])
    set_role.set_defaults(handler=cmd_members_set_role)
    move = group.add_parser("move", help="move a member to another unit")
    move.add_argument("telegram_id", type=int, help="numeric Telegram user id")
    move.add_argument("unit", help="unit code")
    move.set_defaults(handler=cmd_members_move)
    add_json(add, listing, set_role, move)
    for name, handler, text in (
        ("deactivate", cmd_members_deactivate, "deactivate a member; their records are kept"),
        ("activate", cmd_members_activate, "reactivate a member"),
    ):
        sub = group.add_parser(name, help=text)
        sub.add_argument("telegram_id", type=int, help="numeric Telegram user id")
        sub.set_defaults(handler=handler)
        add_json(sub)
