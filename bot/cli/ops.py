"""Operations from the shell: `danvan db upgrade`, `danvan db backup FILE` and `danvan health`."""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from bot.cli.common import CliError, add_json, print_json
from bot.domain.formatting import format_datetime, format_number
from bot.domain.i18n import Translator
from bot.services.health import Check, HealthReport, check_health
from bot.settings import Settings
from storage.engine import Database
from storage.migrate import upgrade

EXIT_UNHEALTHY = 1


def cmd_db_upgrade(settings: Settings, t: Translator, args: argparse.Namespace) -> int:
    asyncio.run(upgrade(settings.database_url))
    print(t._("The database is up to date."))
    return 0


def _when(value: object, settings: Settings) -> str:
    if not isinstance(value, str):
        return "—"
    return format_datetime(datetime.fromisoformat(value), settings.tz)


def _describe(check: Check, t: Translator, settings: Settings) -> str:
    d: dict[str, Any] = check.detail
    ok = t._("good") if check.ok else t._("problem")
    if check.name == "database":
        if check.ok:
            detail = t._("{ms} ms", ms=format_number(Decimal(str(d["latency_ms"])), 1))
        else:
            detail = d["error"]
        return t._("Database: {ok} ({detail})", ok=ok, detail=detail)
    if check.name == "bot_api":
        if check.ok:
            detail = f"@{d['username']}, " + t._(
                "{ms} ms", ms=format_number(Decimal(str(d["latency_ms"])), 1)
            )
        else:
            detail = d["error"]
        return t._("Telegram Bot API: {ok} ({detail})", ok=ok, detail=detail)
    if check.name == "scheduler":
        if "instance" not in d:
            return t._(
                "Scheduler: {ok}. No danvan process is active ({standbys} standby).",
                ok=ok,
                standbys=d.get("standbys", 0),
            )
        return t._(
            "Scheduler: {ok}. {jobs} jobs, next at {next}; active process {pid} on {host} "
            "({mode}), {standbys} standby.",
            ok=ok,
            jobs=d["jobs"],
            next=_when(d["next_run"], settings),
            pid=d["pid"],
            host=d["host"],
            mode=d["mode"],
            standbys=d["standbys"],
        )
    if check.name == "outbox":
        if "waiting" not in d:
            return t._("Outbox: {ok} (unknown: no database)", ok=ok)
        return t._(
            "Outbox: {ok}. {waiting} message(s) waiting, the oldest for {seconds} s; "
            "{gave_up} given up in the last two days.",
            ok=ok,
            waiting=d["waiting"],
            seconds=d["oldest_seconds"],
            gave_up=d["gave_up"],
        )
    if d.get("update_id") is None:
        return t._("Last update: none since the active process started.")
    return t._(
        "Last update: #{update_id} at {at}.", update_id=d["update_id"], at=_when(d["at"], settings)
    )


def cmd_health(settings: Settings, t: Translator, args: argparse.Namespace) -> int:
    async def work() -> HealthReport:
        db = Database(settings.database_url)
        try:
            return await check_health(settings, db, datetime.now(UTC))
        finally:
            await db.dispose()

    report = asyncio.run(work())
    if args.json:
        print_json(report.to_dict())
    else:
        for check in report.checks:
            print(_describe(check, t, settings))
        print(t._("All good.") if report.ok else t._("Something needs attention."))
    return 0 if report.ok else EXIT_UNHEALTHY


def backup_sqlite(source: Path, target: Path) -> None:
    """SQLite's online backup: a consistent copy while the bot keeps writing."""
    origin, copy = sqlite3.connect(source), sqlite3.connect(target)
    try:
        origin.backup(copy)
    finally:
        copy.close()
        origin.close()


def cmd_db_backup(settings: Settings, t: Translator, args: argparse.Namespace) -> int:
    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite":
        raise CliError(
            t._(
                "danvan db backup copies a SQLite database. For PostgreSQL use pg_dump, e.g. "
                "pg_dump --format=custom --file=danvan.dump DATABASE (see README)."
            )
        )
    source = Path(url.database or "")
    target = Path(args.file)
    if not source.exists():
        raise CliError(t._("There is no database at {path}.", path=source))
    if target.exists() and not args.force:
        raise CliError(t._("{path} exists already; add --force to replace it.", path=target))
    if target.resolve() == source.resolve():
        raise CliError(t._("The backup must go to another file than the database."))
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    backup_sqlite(source, partial)
    partial.replace(target)  # never a half-written backup under the final name
    print(t._("Backed up {source} to {target}.", source=source, target=target))
    return 0


def register(commands: argparse._SubParsersAction[Any]) -> None:
    db = commands.add_parser("db", help="database").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply migrations").set_defaults(handler=cmd_db_upgrade)
    backup = db.add_parser("backup", help="copy the SQLite database while the bot runs")
    backup.add_argument("file", help="where to write the copy")
    backup.add_argument("--force", action="store_true", help="replace FILE if it exists")
    backup.set_defaults(handler=cmd_db_backup)
    health = commands.add_parser(
        "health", help="check the database, the Bot API, the scheduler and the last update"
    )
    health.set_defaults(handler=cmd_health)
    add_json(health)
