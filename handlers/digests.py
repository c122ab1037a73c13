"""/xembaocao: an official previews their digest now. /guibaocao: an admin sends a unit's
digest now, under the ledger's exactly-once rules (--force to send it again).

/xembaocao asks one question, this week so far or last week, with two buttons and nothing to
type or remember: a plain button prompt (the callback-data codec), not a flow. Its buttons stay,
so the other week can be seen next; anything else under the prefix is stale."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.domain import callbacks
from bot.domain.access import Role
from bot.domain.formatting import escape_html
from bot.domain.outgoing import SendKind
from bot.domain.periods import Period
from bot.domain.schedule import period_key
from bot.services.digests import digest_messages, digest_sends
from handlers import conversation as flows
from handlers.common import DanvanContext, guarded, named_unit, reply, stale
from storage import scope
from storage.models import pk

PREFIX = "dg"
PREVIEW = "pv"  # dg:pv:this, dg:pv:last
WEEKS = {
    "this": Period.this_week_so_far,
    "last": Period.last_week,
}


@guarded(Role.OFFICIAL)
async def preview_command(update: Update, context: DanvanContext) -> None:
    """/xembaocao: choose this week so far, or last week."""
    t = context.t
    buttons = [
        [
            InlineKeyboardButton(
                t._("This week so far"), callback_data=callbacks.pack(PREFIX, PREVIEW, "this")
            )
        ],
        [
            InlineKeyboardButton(
                t._("Last week"), callback_data=callbacks.pack(PREFIX, PREVIEW, "last")
            )
        ],
    ]
    await reply(
        update,
        t._("Which week's digest do you want to see?"),
        reply_markup=InlineKeyboardMarkup(buttons),
    )


@guarded(Role.OFFICIAL)
async def preview(update: Update, context: DanvanContext) -> None:
    """A /xembaocao button: build the digest of the member's own area and show it."""
    query = update.callback_query
    assert query is not None and context.member is not None
    parts = callbacks.unpack(query.data, PREFIX, 2)
    if parts is None or parts[0] != PREVIEW or parts[1] not in WEEKS:
        await stale(update, context)
        return
    await query.answer()
    today = flows.now(context).astimezone(context.settings.tz).date()
    period = WEEKS[parts[1]](today)
    messages = await digest_messages(
        context.session, context.t, context.member.unit_id, period, tz=context.settings.tz
    )
    chat = update.effective_chat
    assert chat is not None
    await context.scheduler.delivery.send_messages(chat.id, messages)


@guarded(Role.ADMIN)
async def send_command(update: Update, context: DanvanContext) -> None:
    """/guibaocao [UNIT] [--force]: send last week's digest to the unit's officials now."""
    t = context.t
    assert context.member is not None
    args = list(context.args or [])
    force = "--force" in args
    codes = [arg for arg in args if arg != "--force"]
    member = context.member
    code = codes[0] if codes else None
    if code is not None:
        unit = await named_unit(update, context, code)
        if unit is None:
            return
    else:
        unit = (await scope.find_unit(context.session, member, unit_id=member.unit_id)).unit
        assert unit is not None
    now: datetime = flows.now(context)
    kind = SendKind.WEEKLY_DIGEST
    # Building and delivering use sessions of their own; on SQLite ours holds the write lock.
    await context.session.commit()
    tz = context.settings.tz
    sends = await digest_sends(context.db, kind, [pk(unit)], period_key(kind, now, tz), now, tz)
    if not sends:
        await reply(
            update, t._("{unit} has no official to send a digest to.", unit=escape_html(unit.name))
        )
        return
    report = await context.scheduler.delivery.deliver(sends, force=force)
    await reply(
        update,
        t._(
            "Digest of {unit}: {sent} sent, {skipped} already sent before, {failed} failed, "
            "{blocked} blocked the bot.",
            unit=escape_html(unit.name),
            sent=report.sent,
            skipped=report.skipped + report.in_progress,
            failed=report.failed,
            blocked=report.unreachable,
        ),
    )


def handlers() -> list[BaseHandler[Update, DanvanContext, Any]]:
    return [
        CommandHandler(["xembaocao", "preview"], preview_command),
        CommandHandler(["guibaocao", "senddigest"], send_command),
        CallbackQueryHandler(preview, pattern=rf"^{PREFIX}:"),
    ]
