"""The buttons under a reminder: log now, nothing this week, remind me in two hours."""

from __future__ import annotations

from typing import Any

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.ext import BaseHandler, CallbackQueryHandler

from bot.domain.access import Role
from bot.domain.reminders import REMIND_MENU, REMIND_NIL, REMIND_SNOOZE
from handlers import conversation as flows
from handlers.common import DanvanContext, guarded, reply
from handlers.keyboards import main_menu
from handlers.menu import nil_report


@guarded(Role.COORDINATOR)
async def log_now(update: Update, context: DanvanContext) -> None:
    """📝 Ghi ngay: show the menu."""
    assert update.callback_query is not None
    await update.callback_query.answer()
    await reply(
        update, context.t._("What would you like to log?"), reply_markup=main_menu(context.t)
    )


@guarded(Role.COORDINATOR)
async def nothing_this_week(update: Update, context: DanvanContext) -> None:
    """🈳 from a reminder: the nil report."""
    assert update.callback_query is not None
    await update.callback_query.answer()
    await nil_report(update, context)


@guarded(Role.COORDINATOR)
async def snooze(update: Update, context: DanvanContext) -> None:
    """⏰: remind again in two hours, once; the button goes away."""
    query = update.callback_query
    assert query is not None and context.member is not None
    due = await context.scheduler.snooze(
        context.session, context.member.telegram_id, flows.now(context)
    )
    local = due.astimezone(context.settings.tz)
    await query.answer(context.t._("I will remind you at {time}.", time=local.strftime("%H:%M")))
    message = query.message
    if isinstance(message, Message) and message.reply_markup is not None:
        rows = [
            [button for button in row if button.callback_data != REMIND_SNOOZE]
            for row in message.reply_markup.inline_keyboard
        ]
        await query.edit_message_reply_markup(InlineKeyboardMarkup([row for row in rows if row]))


def handlers() -> list[BaseHandler[Update, DanvanContext, Any]]:
    return [
        CallbackQueryHandler(log_now, pattern=f"^{REMIND_MENU}$"),
        CallbackQueryHandler(nothing_this_week, pattern=f"^{REMIND_NIL}$"),
        CallbackQueryHandler(snooze, pattern=f"^{REMIND_SNOOZE}$"),
    ]
