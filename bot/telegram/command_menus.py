"""The command menus Telegram shows, set at start: the default one (the coordinators'), and
each official's and admin's own (handlers/menu.py makes them and sets one when a member
changes)."""

from __future__ import annotations

from telegram import Bot

from bot.domain.access import Role
from handlers.menu import (
    CHAT_MENU_ROLES,
    MENU_STATE,
    menu_commands,
    menu_fingerprint,
    set_chat_menu,
)
from storage import members, state
from storage.engine import Database


async def register_commands(bot: Bot) -> None:
    """The default command menu, the coordinators': Vietnamese commands, and the English
    aliases for English apps."""
    await bot.set_my_commands(menu_commands(Role.COORDINATOR, "vi"))
    await bot.set_my_commands(menu_commands(Role.COORDINATOR, "en"), language_code="en")


async def register_member_commands(bot: Bot, db: Database) -> int:
    """At start: every active official and admin gets their role's menu, and those who no
    longer are get the default one back. Only what changed since it was last set here is
    sent (the conversation_state table remembers it), so a plain restart makes no call.
    Returns the number of chats updated."""
    async with db.session() as session:
        roles = await members.roles_of_active(session, CHAT_MENU_ROLES)
        wanted = {str(chat): role for chat, role in roles.items()}
        known = await state.load_namespace(session, MENU_STATE)
    changed: dict[str, str | None] = {}
    for chat, role in wanted.items():
        wanted_menu = menu_fingerprint(role)
        if known.get(chat) != wanted_menu and await set_chat_menu(bot, int(chat), role):
            changed[chat] = wanted_menu
    for chat in known.keys() - wanted.keys():
        if await set_chat_menu(bot, int(chat), None):
            changed[chat] = None
    if changed:
        async with db.session() as session:
            for chat, fingerprint in changed.items():
                if fingerprint is None:
                    await state.delete(session, MENU_STATE, chat)
                else:
                    await state.save(session, MENU_STATE, chat, fingerprint)
    return len(changed)
