"""/xembaocao: an official previews their digest now. /guibaocao: an admin sends a unit's
digest now, under the ledger's exactly-once rules (--force to send it again), and is told per
official what happened (bot/domain/send_report.py), with a button to send it to those who
missed it while the bot was down or whose earlier send failed.

/xembaocao asks one question, this week so far or last week, with two buttons and nothing to
type or remember: a plain button prompt (the callback-data codec), not a flow. Its buttons stay,
so the other week can be seen next; anything else under the prefix is stale."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.domain import callbacks
from bot.domain.access import Role
from bot.domain.formatting import escape_html
from bot.domain.outgoing import SendKind
from bot.domain.periods import Period
from bot.domain.schedule import period_key
from bot.domain.send_report import PastSend, recipient_lines, redo_count, report_text
from bot.services.digests import digest_messages, digest_sends, past_sends
from handlers import conversation as flows
from handlers.common import DanvanContext, guarded, named_unit, pressed, reply, stale
from storage import scope
from storage.models import Unit, pk

PREFIX = "dg"
PREVIEW = "pv"  # dg:pv:this, dg:pv:last
MISSED = "ms"  # dg:ms:UNIT_ID, send to those who have not received it
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
    """/guibaocao [UNIT] [--force]: send last week's digest to the unit's officials now, and
    say per official what happened (--force: send it again to those who had it)."""
    assert context.member is not None
    args = list(context.args or [])
    force = "--force" in args
    codes = [arg for arg in args if arg != "--force"]
    member = context.member
    if codes:
        unit = await named_unit(update, context, codes[0])
        if unit is None:
            return
    else:
        unit = (await scope.find_unit(context.session, member, unit_id=member.unit_id)).unit
        assert unit is not None
    await _send_digest(update, context, unit, force=force)


@guarded(Role.ADMIN)
async def send_missed(update: Update, context: DanvanContext) -> None:
    """The button under /guibaocao's answer: send the digest to those who have not had it
    (missed while the bot was down, or given up on), re-checked now."""
    found = await pressed(update, context, PREFIX, MISSED, 1)
    if found is None:
        return
    query, (unit_id,) = found
    unit = (await scope.find_unit(context.session, context.member, unit_id=unit_id)).unit
    if unit is None:
        await stale(update, context)
        return
    await query.answer()
    message = query.message
    if isinstance(message, Message) and message.reply_markup is not None:
        await query.edit_message_reply_markup(reply_markup=None)  # pressed once
    await _send_digest(update, context, unit, only_missed=True)


async def _send_digest(
    update: Update,
    context: DanvanContext,
    unit: Unit,
    *,
    force: bool = False,
    only_missed: bool = False,
) -> None:
    t, tz = context.t, context.settings.tz
    now: datetime = flows.now(context)
    kind = SendKind.WEEKLY_DIGEST
    # Building and delivering use sessions of their own; on SQLite ours holds the write lock.
    await context.session.commit()
    sends = await digest_sends(context.db, kind, [pk(unit)], period_key(kind, now, tz), now, tz)
    before = await past_sends(context.db, sends)
    if only_missed:
        redo = (PastSend.redoable(before.get(send.chat_id)) for send in sends)
        sends = [send for send, again in zip(sends, redo, strict=True) if again]
    if not sends:
        text = (
            t._("Everyone has received it now.")
            if only_missed
            else t._("{unit} has no official to send a digest to.", unit=escape_html(unit.name))
        )
        await reply(update, text)
        return
    report = await context.scheduler.delivery.deliver(sends, force=force or only_missed)
    lines = recipient_lines(report.outcomes, before)
    markup = None
    if redo_count(lines):
        label = t._("📤 Send to those who have not received it")
        data = callbacks.pack(PREFIX, MISSED, pk(unit))
        markup = InlineKeyboardMarkup([[InlineKeyboardButton(label, callback_data=data)]])
    await reply(update, report_text(t, unit.name, lines, tz), reply_markup=markup)


def handlers() -> list[BaseHandler[Update, DanvanContext, Any]]:
    return [
        CommandHandler(["xembaocao", "preview"], preview_command),
        CommandHandler(["guibaocao", "senddigest"], send_command),
        CallbackQueryHandler(send_missed, pattern=rf"^{PREFIX}:{MISSED}:"),
        CallbackQueryHandler(preview, pattern=rf"^{PREFIX}:"),
    ]
