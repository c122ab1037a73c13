"""Everything else a member sends: menu buttons, typed answers, help, language, nil reports,
the summary; and the one polite answer for strangers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from telegram import Bot, BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot import access
from bot.flow import Input, InputKind
from bot.formatting import format_area, format_date, format_number
from bot.i18n import LANGUAGES
from bot.i18n import translator as make_translator
from handlers import flows
from handlers.common import DanvanContext, guarded, not_registered_text, refuse, reply
from handlers.keyboards import main_menu, menu_action
from storage import records, reports
from storage.models import Role


def message_input(message: Message) -> Input:
    """What kind of answer a message is, for the flow in progress."""
    if message.contact is not None:
        own = (
            message.contact.user_id is not None
            and message.from_user is not None
            and (message.contact.user_id == message.from_user.id)
        )
        return Input(InputKind.CONTACT, message.contact.phone_number, own_contact=own)
    if message.photo:
        return Input(InputKind.PHOTO, message.photo[-1].file_id)
    if message.text is not None:
        return Input(InputKind.TEXT, message.text)
    return Input(InputKind.OTHER)


@guarded(None)
async def on_message(update: Update, context: DanvanContext) -> None:
    """Route a message: to the flow in progress, to a menu action, or explain."""
    message = update.effective_message
    assert message is not None
    t = context.t
    draft = await flows.live_draft(update, context)
    if context.member is None and draft is None:
        await reply(update, not_registered_text(t))
        return
    # Strangers may only be joining (a draft); members must be allowed to log.
    denial = access.check(context.member, Role.COORDINATOR) if context.member else None
    if denial is not None:
        flows.end(context)
        await refuse(update, context, denial)
        return
    given = message_input(message)
    if given.kind is InputKind.TEXT and draft is not None:
        action = menu_action(given.value, exact=True)
        if action is not None:
            await _run_action(update, context, action)
            return
    if await flows.advance(update, context, given):
        return
    if context.member is None:
        await reply(update, not_registered_text(t))
        return
    action = menu_action(given.value) if given.kind is InputKind.TEXT else None
    if action is not None:
        await _run_action(update, context, action)
        return
    await reply(
        update,
        t._("Sorry, I did not understand. Please choose from the menu below."),
        reply_markup=main_menu(t),
    )


async def _run_action(update: Update, context: DanvanContext, action: str) -> None:
    starters = {"activity": flows.ACTIVITY, "land": flows.LAND, "workday": flows.WORKDAY}
    if action in starters:
        await flows.begin(update, context, starters[action])
    elif action == "nil":
        await nil_report(update, context)
    elif action == "report":
        await _summary(update, context)
    elif action == "mine":
        from handlers.review import show_records

        await show_records(update, context, page=0)
    else:
        await _help(update, context)


def help_text(context: DanvanContext) -> str:
    t = context.t
    return "\n".join(
        [
            t._("<b>How to use danvan</b>"),
            t._("Tap a menu button, or send a command:"),
            t._("/hoatdong — log an activity (meeting, persuasion, clean-up…)"),
            t._("/hiendat — log a land donation; areas like 150 m2 or 2 sào"),
            t._("/ngaycong — log voluntary workdays"),
            t._("/daghi — your group's records: view, correct, delete"),
            t._("/baocao — your group's totals"),
            t._("/huy — cancel what you are filling in"),
            t._("/ngonngu — Tiếng Việt / English"),
            t._("You can type without diacritics: “hom qua”, “2 sao”."),
        ]
    )


async def _help(update: Update, context: DanvanContext) -> None:
    await reply(update, help_text(context), reply_markup=main_menu(context.t))


@guarded(Role.COORDINATOR)
async def help_command(update: Update, context: DanvanContext) -> None:
    """/trogiup: what the bot can do."""
    await _help(update, context)


async def nil_report(update: Update, context: DanvanContext) -> None:
    """Record that the group had nothing this week, with an undo button."""
    member, t = context.member, context.t
    assert member is not None
    today = flows.now(context).astimezone(context.settings.tz).date()
    week = records.week_start(today)
    if await records.has_records_in_week(context.session, member.unit_id, week):
        await reply(
            update, t._("Your group already has records this week, so no nil report is needed.")
        )
        return
    report = await records.add_nil_report(context.session, member, week, flows.now(context))
    await reply(
        update,
        t._(
            "Recorded: nothing to report for the week {start} – {end}.",
            start=format_date(week),
            end=format_date(week + timedelta(days=6)),
        ),
        reply_markup=InlineKeyboardMarkup(
            [[InlineKeyboardButton(t._("↩️ Undo"), callback_data=f"nil:undo:{report.id}")]]
        ),
    )


@guarded(Role.COORDINATOR)
async def nil_command(update: Update, context: DanvanContext) -> None:
    """/khonghoatdong: nothing to report this week."""
    await nil_report(update, context)


@guarded(Role.COORDINATOR)
async def undo_nil(update: Update, context: DanvanContext) -> None:
    """The Undo button under a nil report."""
    query = update.callback_query
    assert query is not None and query.data is not None and context.member is not None
    t = context.t
    report_id = int(query.data.rsplit(":", 1)[1])
    if not await records.undo_nil_report(
        context.session, context.member, report_id, flows.now(context)
    ):
        await query.answer(flows.stale_text(t), show_alert=True)
        return
    await query.answer()
    await query.edit_message_text(t._("The nil report was withdrawn."))


async def _summary(update: Update, context: DanvanContext) -> None:
    member, t = context.member, context.t
    assert member is not None
    today = flows.now(context).astimezone(context.settings.tz).date()
    periods = [
        (t._("This week"), records.week_start(today), today),
        (t._("This month"), today.replace(day=1), today),
        (t._("This year"), today.replace(month=1, day=1), today),
    ]
    lines = [t._("<b>Your group's totals</b>")]
    for title, start, end in periods:
        totals = await reports.group_totals(context.session, member.unit_id, start, end)
        lines.append(f"\n<b>{title}</b> ({format_date(start)} – {format_date(end)})")
        lines.append(
            t._(
                "Activities: {activities} ({participants} participants)",
                activities=format_number(totals.activities),
                participants=format_number(totals.participants),
            )
        )
        lines.append(
            t._(
                "Land pledged: {pledged} · handed over: {handed}",
                pledged=format_area(totals.land_m2),
                handed=format_area(totals.handed_over_m2),
            )
        )
        lines.append(t._("Workdays: {days}", days=format_number(totals.workdays)))
    await reply(update, "\n".join(lines), reply_markup=main_menu(t))


@guarded(Role.COORDINATOR)
async def summary_command(update: Update, context: DanvanContext) -> None:
    """/baocao: the group's totals."""
    await _summary(update, context)


@guarded(Role.COORDINATOR)
async def language_command(update: Update, context: DanvanContext) -> None:
    """/ngonngu: choose Tiếng Việt or English."""
    buttons = [
        InlineKeyboardButton("🇻🇳 Tiếng Việt", callback_data="lang:vi"),
        InlineKeyboardButton("🇬🇧 English", callback_data="lang:en"),
    ]
    await reply(
        update, context.t._("Choose your language:"), reply_markup=InlineKeyboardMarkup([buttons])
    )


@guarded(Role.COORDINATOR)
async def set_language(update: Update, context: DanvanContext) -> None:
    """A language button."""
    query = update.callback_query
    assert query is not None and query.data is not None and context.member is not None
    language = query.data.split(":", 1)[1]
    if language not in LANGUAGES:
        await query.answer(flows.stale_text(context.t), show_alert=True)
        return
    context.member.language = language
    context.t = make_translator(language)
    await query.answer()
    await query.edit_message_text(
        context.t._("Language: English")
        if language == "en"
        else context.t._("Language: Tiếng Việt")
    )
    await reply(update, help_text(context), reply_markup=main_menu(context.t))


@guarded(None)
async def unknown_command(update: Update, context: DanvanContext) -> None:
    """A command nothing else knows."""
    if context.member is None:
        await reply(update, not_registered_text(context.t))
        return
    draft = flows.current_draft(context)
    if draft is not None and await flows.advance(update, context, Input(InputKind.OTHER)):
        return
    await reply(update, context.t._("I do not know that command. Send /trogiup for help."))


async def register_commands(bot: Bot) -> None:
    """The command menu: Vietnamese commands by default, English ones for English apps."""
    vi, en = make_translator("vi"), make_translator("en")
    commands = access.commands_for(Role.COORDINATOR)
    await bot.set_my_commands([BotCommand(c.name, vi._(c.description)) for c in commands])
    await bot.set_my_commands(
        [BotCommand(c.alias, en._(c.description)) for c in commands], language_code="en"
    )


def handlers() -> list[BaseHandler[Update, DanvanContext, Any]]:
    return [
        CommandHandler(["trogiup", "help"], help_command),
        CommandHandler(["khonghoatdong", "nil"], nil_command),
        CommandHandler(["baocao", "report"], summary_command),
        CommandHandler(["ngonngu", "language"], language_command),
        CallbackQueryHandler(undo_nil, pattern=r"^nil:undo:\d+$"),
        CallbackQueryHandler(set_language, pattern=r"^lang:\w+$"),
    ]


def late_handlers() -> list[BaseHandler[Update, DanvanContext, Any]]:
    return [
        MessageHandler(filters.COMMAND, unknown_command),
        MessageHandler(filters.ALL, on_message),
    ]
