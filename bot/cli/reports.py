"""`danvan stats` (a unit's figures for a period) and `danvan broadcast` (an announcement to a
unit's subtree), the chat's /thongke and /thongbao for scripts.

A broadcast is recorded in the audit log ("sent" before delivering, "delivered" after), like the
chat's. Running the same broadcast again (unit, text and sender) while an earlier run of it has
no "delivered" event, because that run was killed or crashed, resumes it under the same ledger
key: the ledger skips those who have it, the claims of the dead run (on this host) are taken
over at once, and the others get it. A finished broadcast run again is a new announcement.
"""

from __future__ import annotations

import argparse
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Any

from telegram import Bot

from bot.cli.common import CLI_ACTOR, Refused, add_json, print_json, unit_by_code, with_db
from bot.domain.announcements import (
    AnnouncementError,
    broadcast_key,
    clean_announcement,
    describe_problem,
)
from bot.domain.digest import Digest
from bot.domain.formatting import format_date, format_number
from bot.domain.i18n import Translator
from bot.domain.outgoing import Report
from bot.domain.periods import Period
from bot.services.broadcasts import broadcast_sends, record_delivered
from bot.services.digests import build_digest
from bot.settings import Settings
from bot.telegram.delivery import Delivery
from storage import ledger
from storage.audit import record, unfinished_broadcast
from storage.engine import Database
from storage.export import Audience, broadcast_audience
from storage.models import Unit, pk

PERIODS: dict[str, Callable[[date], Period]] = {
    "this-week": Period.this_week_so_far,
    "last-week": Period.last_week,
    "this-month": Period.this_month_so_far,
    "last-month": Period.last_month,
    "this-year": Period.this_year_so_far,
}


def cmd_stats(settings: Settings, t: Translator, args: argparse.Namespace) -> int:
    today = datetime.now(settings.tz).date()
    period = PERIODS[args.period](today)

    async def work(db: Database) -> tuple[Unit, Digest]:
        async with db.session() as session:
            unit = await unit_by_code(session, t, args.unit)
            return unit, await build_digest(session, pk(unit), period, mask_donors=True)

    unit, digest = with_db(settings, work)
    totals = digest.totals
    if args.json:
        print_json(
            {
                "unit": unit.code,
                "start": period.start.isoformat(),
                "end": period.end.isoformat(),
                "current": asdict(totals.current),
                "previous": asdict(totals.previous),
                "year_to_date": asdict(totals.ytd),
            }
        )
        return 0
    start, end = format_date(period.start), format_date(period.end)
    print(f"{unit.name} ({unit.code}): {start} – {end}")
    for name, label in (
        ("activities", t._("Activities")),
        ("participants", t._("Participants")),
        ("land_m2", t._("Land pledged (m²)")),
        ("handed_over_m2", t._("Land handed over")),
        ("workdays", t._("Workdays")),
        ("nil_reports", t._("Nil reports")),
    ):
        now, before, ytd = (
            getattr(figures, name) for figures in (totals.current, totals.previous, totals.ytd)
        )
        sign = "+" if now > before else ""
        change = f"{sign}{format_number(now - before)}"
        print(
            "  "
            + t._(
                "{label}: {value} (change {change}; year to date {ytd})",
                label=label,
                value=format_number(now),
                change=change,
                ytd=format_number(ytd),
            )
        )
    return 0


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Broadcast:
    unit: Unit
    audience: Audience
    report: Report
    resumed: bool  # an unfinished run of it was resumed


def cmd_broadcast(settings: Settings, t: Translator, args: argparse.Namespace) -> int:
    if settings.telegram_bot_token is None:
        raise Refused(t._("TELEGRAM_BOT_TOKEN is not set, so nothing can be sent."))
    bot_token = settings.telegram_bot_token.get_secret_value()
    try:
        text = clean_announcement(args.text)
    except AnnouncementError as error:
        raise Refused(describe_problem(t, error)) from None

    async def work(db: Database) -> Broadcast:
        claimant = ledger.new_claimant(ledger.CLI)
        async with db.session() as session:
            unit = await unit_by_code(session, t, args.unit)
            audience = await broadcast_audience(session, unit, sender_id=None)
            earlier = await unfinished_broadcast(session, unit, text, args.sender, CLI_ACTOR)
            if earlier is not None:
                token = str((earlier.after or {})["key"]).removeprefix("b-")
                await ledger.recover_orphans(session, claimant, active_bot=False)
            else:
                token = secrets.token_hex(6)
                await record(
                    session,
                    "broadcast",
                    pk(unit),
                    "sent",
                    None,
                    {
                        "key": broadcast_key(token),
                        "unit": unit.code,
                        "text": text,
                        "sender": args.sender,
                        "recipients": audience.size,
                        "unreachable": audience.unreachable,
                    },
                    unit_id=pk(unit),
                    actor_label=CLI_ACTOR,
                    at=_utcnow(),
                )
        if earlier is not None and not args.json:
            print(
                t._(
                    "Resuming the announcement to {unit} of {date}, which did not finish; "
                    "those who have it already are skipped.",
                    unit=unit.name,
                    date=format_date(earlier.at.astimezone(settings.tz).date()),
                )
            )
        sends = broadcast_sends(audience, token, unit.name, args.sender, text, _utcnow())
        bot = Bot(
            token=bot_token,
            base_url=settings.bot_base_url(),
            base_file_url=settings.bot_file_url(),
        )
        async with bot:
            delivery = Delivery(bot, db, clock=_utcnow, claimant=claimant)
            report = await delivery.deliver(sends)
        async with db.session() as session:
            await record_delivered(
                session, unit, broadcast_key(token), report, _utcnow(), actor_label=CLI_ACTOR
            )
        return Broadcast(unit, audience, report, resumed=earlier is not None)

    done = with_db(settings, work)
    report = done.report
    counts: dict[str, Any] = {
        "sent": report.sent,
        "blocked": report.unreachable + done.audience.unreachable,
        "failed": report.failed,
    }
    already = report.skipped + report.in_progress
    if args.json:
        print_json(
            {
                "ok": True,
                "unit": done.unit.code,
                **counts,
                "already": already,
                "resumed": done.resumed,
            }
        )
        return 0
    print(
        t._(
            "📢 Announcement to {unit}: {sent} sent, {blocked} blocked the bot, {failed} failed.",
            unit=done.unit.name,
            **counts,
        )
    )
    if already:
        print(t._("Already received before: {count}.", count=format_number(already)))
    return 0


def register(commands: argparse._SubParsersAction[Any]) -> None:
    stats = commands.add_parser("stats", help="a unit's figures for a period")
    stats.add_argument("unit", help="unit code")
    stats.add_argument("--period", choices=list(PERIODS), default="last-week")
    stats.set_defaults(handler=cmd_stats)
    broadcast = commands.add_parser(
        "broadcast", help="send an announcement to a unit's coordinators and officials"
    )
    broadcast.add_argument("unit", help="unit code")
    broadcast.add_argument("--text", required=True, help="the announcement")
    broadcast.add_argument("--sender", default="danvan", help="name shown as the sender")
    broadcast.set_defaults(handler=cmd_broadcast)
    add_json(stats, broadcast)
