"""Everything else a member sends: menu buttons, typed answers, help, language, nil reports,
the summary; and the one polite answer for strangers."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import timedelta
from typing import Any

from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Update,
)
from telegram.error import TelegramError
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.domain import access
from bot.domain.access import Role
from bot.domain.flow import Input, InputKind
from bot.domain.formatting import format_area, format_date, format_number
from bot.domain.forms.records import ACTIVITY, LAND, WORKDAY
from bot.domain.i18n import LANGUAGES, N_
from bot.domain.i18n import translator as make_translator
from bot.domain.periods import week_start
from handlers import conversation as flows
from handlers import review
from handlers.common import (
    DanvanContext,
    guarded,
    not_registered_text,
    refuse,
    reply,
    stale_text,
)
from handlers.keyboards import main_menu, menu_action
from storage import records, reports
from storage.models import Member

log = logging.getLogger(__name__)


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
    given = flows.message_input(message)
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
    starters = {"activity": ACTIVITY, "land": LAND, "workday": WORKDAY}
    if action in starters:
        await flows.begin(update, context, starters[action])
    elif action == "nil":
        await nil_report(update, context)
    elif action == "report":
        await _summary(update, context)
    elif action == "mine":
        await review.show_records(update, context, page=0)
    else:
        await _help(update, context)


# Headings in /trogiup before the first command that needs the role.
HELP_SECTIONS: dict[str, str] = {
    Role.OFFICIAL: N_("<b>For officials</b>"),
    Role.ADMIN: N_("<b>For admins</b>"),
}


def command_label(command: access.Command, language: str) -> str:
    """The name people of this language see: /hoatdong in Vietnamese, /activity in English."""
    return command.alias if language == "en" else command.name


def help_text(context: DanvanContext) -> str:
    """The commands the person's role allows (bot.access.COMMANDS), in their language."""
    t = context.t
    role = context.member.role if context.member is not None else Role.COORDINATOR
    lines = [t._("<b>How to use danvan</b>"), t._("Tap a menu button, or send a command:")]
    sections_shown: set[str] = set()
    for command in access.commands_for(role):
        if command.needs in HELP_SECTIONS and command.needs not in sections_shown:
            sections_shown.add(command.needs)
            lines += ["", t._(HELP_SECTIONS[command.needs])]
        lines.append(f"/{command_label(command, t.language)} — {t._(command.description)}")
    lines += ["", t._("You can type without diacritics: “hom qua”, “2 sao”.")]
    return "\n".join(lines)


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
    week = week_start(today)
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
    window_days = context.settings.edit_window_days
    outcome = await records.undo_nil_report(
        context.session, context.member, report_id, flows.now(context), window_days=window_days
    )
    if outcome is False:
        await query.answer(stale_text(t), show_alert=True)
        return
    if outcome is not True:
        await query.answer(review.denial_text(t, outcome, window_days), show_alert=True)
        return
    await query.answer()
    await query.edit_message_text(t._("The nil report was withdrawn."))


async def _summary(update: Update, context: DanvanContext) -> None:
    member, t = context.member, context.t
    assert member is not None
    today = flows.now(context).astimezone(context.settings.tz).date()
    periods = [
        (t._("This week"), week_start(today), today),
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
        await query.answer(stale_text(context.t), show_alert=True)
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


# Roles with a command menu of their own, set per chat; coordinators (and deactivated
# members) see the default menu.
CHAT_MENU_ROLES = (Role.OFFICIAL, Role.ADMIN)
MENU_STATE = "command_menu"  # conversation_state namespace: the menu last set per chat


def menu_commands(role: str, language: str) -> list[BotCommand]:
    t = make_translator(language)
    return [
        BotCommand(command_label(command, language), t._(command.description))
        for command in access.commands_for(role)
    ]


def menu_fingerprint(role: str) -> str:
    """Changes when the role's menu does (new commands, new translations)."""
    menus = [[tuple(c.to_dict().values()) for c in menu_commands(role, lang)] for lang in LANGUAGES]
    return hashlib.sha256(json.dumps([role, menus]).encode()).hexdigest()[:16]


def _menu_role(member: Member) -> str | None:
    """The role whose menu the member's chat gets; None: the default menu."""
    return member.role if member.active and member.role in CHAT_MENU_ROLES else None


async def set_chat_menu(bot: Bot, chat_id: int, role: str | None) -> bool:
    """Set the chat's menu in both languages (role None: remove it, so the default shows);
    False when Telegram refused, e.g. a chat that no longer exists."""
    scope = BotCommandScopeChat(chat_id)
    try:
        if role is None:
            await bot.delete_my_commands(scope=scope)
            await bot.delete_my_commands(scope=scope, language_code="en")
        else:
            await bot.set_my_commands(menu_commands(role, "vi"), scope=scope)
            await bot.set_my_commands(menu_commands(role, "en"), scope=scope, language_code="en")
    except TelegramError as error:
        log.warning("Could not set the command menu of chat %s: %s", chat_id, error)
        return False
    return True


async def refresh_commands(bot: Bot, member: Member) -> None:
    """The member's command menu after they join, change role, or are (de)activated: an
    official's or admin's own list, or the default one for everyone else."""
    await set_chat_menu(bot, member.telegram_id, _menu_role(member))


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
