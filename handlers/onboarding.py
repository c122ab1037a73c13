"""Starting: /start for strangers and members, and the polite answer to strangers."""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import BaseHandler, CommandHandler, MessageHandler, filters

from bot.formatting import escape_html
from handlers.common import DanvanContext, guarded, not_registered_text, reply
from storage import units
from storage.models import Role


def role_label(context: DanvanContext, role: str) -> str:
    t = context.t
    labels = {
        Role.COORDINATOR: t._("coordinator"),
        Role.OFFICIAL: t._("official"),
        Role.ADMIN: t._("admin"),
    }
    return labels.get(Role(role), role)


@guarded(None)
async def start(update: Update, context: DanvanContext) -> None:
    """Greet a member with their unit; tell a stranger how to join."""
    member, t = context.member, context.t
    if member is None:
        await reply(update, not_registered_text(t))
        return
    unit = await units.by_id(context.session, member.unit_id)
    await reply(
        update,
        t._(
            "Hello, {name}! You are a {role} of <b>{unit}</b>.",
            name=escape_html(member.full_name),
            role=role_label(context, member.role),
            unit=escape_html(unit.name if unit else "?"),
        ),
    )


@guarded(None)
async def anything_else(update: Update, context: DanvanContext) -> None:
    """The last word on any message nothing else took."""
    if context.member is None:
        await reply(update, not_registered_text(context.t))
        return
    await reply(update, context.t._("Sorry, I did not understand. Send /start to see the menu."))


def handlers() -> list[BaseHandler[Update, DanvanContext, Any]]:
    return [CommandHandler("start", start)]


def fallback_handlers() -> list[BaseHandler[Update, DanvanContext, Any]]:
    return [MessageHandler(filters.ALL, anything_else)]
