"""The `danvan` command: run the bot, migrate, and manage units, invites and admins."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy.exc

from bot.cli import admin as cli_admin
from bot.cli import export as cli_export
from bot.cli import ops as cli_ops
from bot.cli import reports as cli_reports
from bot.cli import units as cli_units
from bot.cli.common import (
    CLI_ACTOR,
    EXIT_ERROR,
    EXIT_USAGE,
    CliError,
    Parser,
    positive,
    print_json,
    with_db,
)
from bot.domain.access import Role
from bot.domain.i18n import Translator, translator
from bot.domain.unit_csv import describe_row_error, parse_unit_csv
from bot.settings import Settings, SettingsError, load_settings
from storage import invites, members, scope, units
from storage.engine import Database
from storage.migrate import upgrade


def cmd_db_upgrade(settings: Settings, t: Translator, args: argparse.Namespace) -> int:
    asyncio.run(upgrade(settings.database_url))
    print(t._("The database is up to date."))
    return 0


def cmd_units_import(settings: Settings, t: Translator, args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CliError(
            t._("Cannot read {file}: {reason}", file=path, reason=exc.strerror)
        ) from None

    async def work(db: Database) -> int:
        rows, errors = parse_unit_csv(data)
        async with db.session() as session:
            if errors:
                plan = None
            else:
                plan = await units.plan_import(session, rows)
                errors = plan.errors
                if not errors:
                    await units.apply_import(session, plan, actor_label=CLI_ACTOR)
        if errors:
            if args.json:
                print_json(
                    {
                        "ok": False,
                        "errors": [
                            {
                                "line": e.line,
                                "problem": e.problem,
                                "message": describe_row_error(t, e),
                            }
                            for e in errors
                        ],
                    }
                )
            else:
                print(t._("Nothing was imported; fix these lines first:"), file=sys.stderr)
                for error in errors:
                    print("  " + describe_row_error(t, error), file=sys.stderr)
            return EXIT_ERROR
        assert plan is not None
        if args.json:
            print_json(
                {
                    "ok": True,
                    "created": plan.created,
                    "updated": plan.updated,
                    "unchanged": plan.unchanged,
                }
            )
        else:
            print(
                t._(
                    "Imported: {created} created, {updated} updated, {unchanged} unchanged.",
                    created=len(plan.created),
                    updated=len(plan.updated),
                    unchanged=len(plan.unchanged),
                )
            )
        return 0

    return asyncio.run(with_db(settings, work))


def cmd_units_list(settings: Settings, t: Translator, args: argparse.Namespace) -> int:
    async def work(db: Database) -> int:
        async with db.session() as session:
            found = await units.list_all(session)
        code_by_id = {unit.id: unit.code for unit in found}
        if args.json:
            print_json(
                [
                    {
                        "code": unit.code,
                        "name": unit.name,
                        "level": unit.level,
                        "parent_code": code_by_id.get(unit.parent_id),
                        "former_name": unit.former_name,
                        "active": unit.active,
                    }
                    for unit in found
                ]
            )
            return 0
        if not found:
            print(t._("No units yet. Import them with: danvan units import FILE.csv"))
        for unit in found:
            line = "  " * units.depth(unit) + f"{unit.code}  {unit.name} ({unit.level})"
            if unit.former_name:
                line += "  " + t._("formerly {name}", name=unit.former_name)
            if not unit.active:
                line += "  " + t._("[inactive]")
            print(line)
        return 0

    return asyncio.run(with_db(settings, work))


def cmd_invite_create(settings: Settings, t: Translator, args: argparse.Namespace) -> int:
    async def work(db: Database) -> int:
        async with db.session() as session:
            unit = (await scope.find_unit(session, None, code=args.unit)).unit
            if unit is None:
                raise CliError(t._("There is no unit with code {code}.", code=args.unit))
            if not unit.active:
                raise CliError(t._("Unit {code} is inactive.", code=args.unit))
            invite = await invites.create(
                session,
                role=args.role,
                unit=unit,
                now=datetime.now(UTC),
                uses=args.uses,
                days=args.days,
                actor_label=CLI_ACTOR,
            )
        expires = invite.expires_at.astimezone(settings.tz).strftime("%H:%M %d/%m/%Y")
        if args.json:
            print_json(
                {
                    "code": invite.code,
                    "role": invite.role,
                    "unit": unit.code,
                    "max_uses": invite.max_uses,
                    "expires_at": invite.expires_at.isoformat(),
                }
            )
        else:
            print(
                t._(
                    "Invite {code} for a {role} of {unit}: {uses} use(s), valid until {expires}.\n"
                    "The person opens the bot and sends: /start {code}",
                    code=invite.code,
                    role=args.role,
                    unit=unit.name,
                    uses=invite.max_uses,
                    expires=expires,
                )
            )
        return 0

    return asyncio.run(with_db(settings, work))


def cmd_admin_add(settings: Settings, t: Translator, args: argparse.Namespace) -> int:
    name = args.name.strip()
    if not name:
        raise CliError(t._("--name must not be empty."))

    async def work(db: Database) -> int:
        async with db.session() as session:
            if args.unit:
                unit = (await scope.find_unit(session, None, code=args.unit)).unit
                if unit is None:
                    raise CliError(t._("There is no unit with code {code}.", code=args.unit))
            else:
                found = await members.roots(session)
                if not found:
                    raise CliError(
                        t._(
                            "There are no units yet. "
                            "Import them first: danvan units import FILE.csv"
                        )
                    )
                if len(found) > 1:
                    raise CliError(
                        t._("There are several top-level units; choose one with --unit.")
                    )
                unit = found[0]
            member, created = await members.add_admin(
                session, args.telegram_id, name, unit, actor_label=CLI_ACTOR
            )
        if args.json:
            print_json(
                {
                    "telegram_id": member.telegram_id,
                    "name": member.full_name,
                    "role": member.role,
                    "unit": unit.code,
                    "created": created,
                }
            )
        elif created:
            print(
                t._(
                    "{name} ({id}) is now an admin of {unit}.",
                    name=member.full_name,
                    id=member.telegram_id,
                    unit=unit.name,
                )
            )
        else:
            print(
                t._(
                    "{name} ({id}) was already registered and is now an admin of {unit}.",
                    name=member.full_name,
                    id=member.telegram_id,
                    unit=unit.name,
                )
            )
        return 0

    return asyncio.run(with_db(settings, work))


def cmd_run(settings: Settings, t: Translator, args: argparse.Namespace) -> int:
    # Only `danvan run` needs the PTB application and its handlers: 0,3 s and 10 MB less
    # for every other command.
    from bot.telegram.runner import run  # noqa: PLC0415

    return run(settings, webhook=args.webhook)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="danvan", description="danvan: the Dân vận khéo Telegram bot")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    run_parser = commands.add_parser("run", help="start the bot (long polling by default)")
    run_parser.add_argument(
        "--webhook",
        action="store_true",
        help="take updates by webhook (WEBHOOK_URL, WEBHOOK_SECRET, LISTEN_HOST, LISTEN_PORT)",
    )
    run_parser.set_defaults(handler=cmd_run)

    db = commands.add_parser("db", help="database").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply migrations").set_defaults(handler=cmd_db_upgrade)

    unit = commands.add_parser("units", help="units (places)").add_subparsers(
        dest="units_command", required=True
    )
    import_parser = unit.add_parser("import", help="create or update units from a CSV file")
    import_parser.add_argument("file", help="CSV: code,name,level,parent_code[,former_name]")
    import_parser.set_defaults(handler=cmd_units_import)
    unit.add_parser("list", help="list units").set_defaults(handler=cmd_units_list)
    cli_units.register(unit)

    invite = commands.add_parser("invite", help="invites").add_subparsers(
        dest="invite_command", required=True
    )
    create = invite.add_parser("create", help="create an invite code")
    create.add_argument("--role", required=True, choices=[role.value for role in Role])
    create.add_argument("--unit", required=True, help="unit code")
    create.add_argument("--uses", type=positive, default=1)
    create.add_argument("--days", type=positive, default=invites.DEFAULT_DAYS)
    create.set_defaults(handler=cmd_invite_create)
    cli_admin.register(commands, invite)

    admin = commands.add_parser("admin", help="admins").add_subparsers(
        dest="admin_command", required=True
    )
    add = admin.add_parser("add", help="make a Telegram user an admin")
    add.add_argument("telegram_id", type=int, help="numeric Telegram user id")
    add.add_argument("--name", required=True)
    add.add_argument("--unit", help="unit code (default: the top-level unit)")
    add.set_defaults(handler=cmd_admin_add)
    cli_export.register(commands)
    cli_reports.register(commands)
    cli_ops.register(commands, db)

    for sub in (import_parser, unit.choices["list"], create, add):
        sub.add_argument("--json", action="store_true", help="print JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"danvan: {exc}", file=sys.stderr)
        return EXIT_USAGE
    t = translator(settings.default_language)
    try:
        status: int = args.handler(settings, t, args)
    except CliError as exc:
        print(f"danvan: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        return 130
    except (OSError, sqlalchemy.exc.OperationalError) as exc:
        reason = getattr(exc, "orig", None) or exc
        message = t._("Cannot reach the database: {reason}", reason=reason)
        print(f"danvan: {message}", file=sys.stderr)
        return EXIT_ERROR
    return status
