"""Joining with an invite (/start CODE), and greeting members who come back (/start)."""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import BaseHandler, CommandHandler

from bot.domain.access import role_label
from bot.domain.flow import Draft, Env
from bot.domain.formatting import escape_html, format_datetime
from bot.domain.forms.join import JOIN
from bot.domain.i18n import Translator
from handlers.common import DanvanContext, guarded, not_registered_text, reply
from handlers.conversation import FlowBinding, begin, now
from handlers.keyboards import main_menu
from handlers.menu import CHAT_MENU_ROLES, refresh_commands
from storage import invites, units


def invite_problem(t: Translator, check: invites.InviteCheck, tz: Any) -> str:
    status = check.status
    if status is invites.InviteStatus.NOT_FOUND:
        return t._("This invite code does not exist. Please check it with your official.")
    if status is invites.InviteStatus.EXPIRED:
        assert check.invite is not None
        return t._(
            "This invite expired on {when}. Please ask your official for a new one.",
            when=format_datetime(check.invite.expires_at, tz),
        )
    if status is invites.InviteStatus.USED_UP:
        return t._("This invite has already been used. Please ask your official for a new one.")
    if status is invites.InviteStatus.REVOKED:
        return t._("This invite was withdrawn. Please ask your official for a new one.")
    return t._("The unit of this invite is no longer active. Please ask your official.")


@guarded(None)
async def start(update: Update, context: DanvanContext) -> None:
    """/start [CODE]: join with an invite, or see your unit and the menu."""
    member, t = context.member, context.t
    code = context.args[0] if context.args else None
    if member is not None:
        unit = await units.by_id(context.session, member.unit_id)
        await reply(
            update,
            t._(
                "Hello, {name}! You are a {role} of <b>{unit}</b>. Choose from the menu below.",
                name=escape_html(member.full_name),
                role=role_label(t, member.role),
                unit=escape_html(unit.name if unit else "?"),
            ),
            reply_markup=main_menu(t),
        )
        return
    if code is None:
        await reply(update, not_registered_text(t))
        return
    check = await invites.check(context.session, code, now(context))
    if check.status is not invites.InviteStatus.VALID:
        await reply(update, invite_problem(t, check, context.settings.tz))
        return
    assert check.invite is not None and check.unit is not None
    user = update.effective_user
    assert user is not None
    await begin(
        update,
        context,
        JOIN,
        invite_code=check.invite.code,
        telegram_name=user.full_name[:200] if user.full_name else None,
        unit_name=check.unit.name,
        role_label=role_label(t, check.invite.role),
    )


async def finish_joining(update: Update, context: DanvanContext, draft: Draft, env: Env) -> None:
    """The join card was confirmed: use the invite (if still good) and register."""
    t = context.t
    user = update.effective_user
    assert user is not None
    answers = draft["answers"]
    check, member = await invites.join(
        context.session,
        answers["invite_code"],
        telegram_id=user.id,
        full_name=answers["full_name"],
        phone=answers.get("phone"),
        language=t.language,
        now=env.now,
    )
    if member is None:
        await reply(update, invite_problem(t, check, context.settings.tz))
        return
    assert check.unit is not None
    context.member = member
    await reply(
        update,
        t._(
            "Welcome, {name}! You are now a {role} of <b>{unit}</b>.\n"
            "Use the menu below to log activities, land donations and workdays.",
            name=escape_html(member.full_name),
            role=role_label(t, member.role),
            unit=escape_html(check.unit.name),
        ),
        reply_markup=main_menu(t),
    )
    if member.role in CHAT_MENU_ROLES:  # coordinators keep the default menu
        await refresh_commands(context.bot, member)


def flows() -> list[FlowBinding]:
    return [FlowBinding(JOIN, finish_joining, needs=None)]


def handlers() -> list[BaseHandler[Update, DanvanContext, Any]]:
    return [CommandHandler("start", start)]
