"""/nhatky (/audit): the latest changes in the official's area, ten to a page, newest first.

Which events an official sees is decided in storage/audit.py (`events_in_scope`): those
concerning a unit of their subtree; admins see all. Each line says when (local time), who,
what they did, and to what: a record's reference such as #L-12, a unit's code, or another
entity's number, followed by the code of the unit the event concerns when that is not the
entity itself.
"""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.domain import callbacks
from bot.domain.access import Role
from bot.domain.formatting import escape_html, shorten
from bot.domain.forms.steps import label_of
from bot.domain.i18n import N_, Translator
from handlers.common import DanvanContext, edit_in_place, guarded, reply, stale
from storage.audit import LogLine, LogPage, events_in_scope
from storage.scope import member_scope

PAGE_SIZE = 10
PREFIX = "au"
PAGE = "p"  # au:p:<page>
SHOWN_NAME = 60  # of a member's name

# What an event did; actions not listed here are shown as stored.
ACTIONS: dict[str, str] = {
    "create": N_("created"),
    "edit": N_("edited"),
    "update": N_("changed"),
    "delete": N_("deleted"),
    "stage": N_("moved to a new stage"),
    "join": N_("joined"),
    "refused": N_("was refused"),
    "undo": N_("withdrew"),
    "superseded": N_("replaced by a record"),
    "import": N_("imported"),
    "import_create": N_("imported (new)"),
    "import_update": N_("imported (changed)"),
    "rename": N_("renamed"),
    "move": N_("moved"),
    "merge": N_("merged into another unit"),
    "merge_from": N_("took in a merged unit"),
    "deactivate": N_("deactivated"),
    "reactivate": N_("reactivated"),
    "revoke": N_("revoked"),
    "exported": N_("exported"),
    "sent": N_("sent"),
    "delivered": N_("delivered"),
}
# What it was done to; likewise.
ENTITIES: dict[str, str] = {
    "activity": N_("activity"),
    "land_pledge": N_("land donation"),
    "workday": N_("workdays"),
    "nil_report": N_("nil report"),
    "member": N_("member"),
    "unit": N_("unit"),
    "invite": N_("invite"),
    "schedule": N_("schedule"),
    "command": N_("command"),
    "export": N_("export"),
    "broadcast": N_("announcement"),
}


def line_text(t: Translator, line: LogLine, tz: tzinfo) -> str:
    """ "25/11/2026 12:00 · Nguyễn Thị Lan · created · land donation #L-12 (CN1)" """
    when = line.at.astimezone(tz).strftime("%d/%m/%Y %H:%M")
    who = escape_html(shorten(line.actor, SHOWN_NAME)) if line.actor else "—"
    action = escape_html(label_of(t, ACTIONS, line.action))
    target = " ".join(
        filter(None, [escape_html(label_of(t, ENTITIES, line.entity)), escape_html(line.reference)])
    )
    return f"{when} · <b>{who}</b> · {action} · {target}"


def page_text(t: Translator, page: LogPage, tz: tzinfo) -> str:
    if page.total == 0:
        return t._("No changes have been recorded in your area yet.")
    head = t._(
        "<b>Recent changes</b>, newest first (page {page} of {pages}):",
        page=page.page + 1,
        pages=page.pages,
    )
    first = page.page * PAGE_SIZE
    lines = [f"{first + i + 1}. {line_text(t, line, tz)}" for i, line in enumerate(page.lines)]
    return "\n".join([head, *lines])


def page_markup(page: LogPage) -> InlineKeyboardMarkup | None:
    paging = []
    if page.page > 0:
        paging.append(
            InlineKeyboardButton("◀", callback_data=callbacks.pack(PREFIX, PAGE, page.page - 1))
        )
    if page.page < page.pages - 1:
        paging.append(
            InlineKeyboardButton("▶", callback_data=callbacks.pack(PREFIX, PAGE, page.page + 1))
        )
    return InlineKeyboardMarkup([paging]) if paging else None


async def _view(context: DanvanContext, page: int) -> tuple[str, InlineKeyboardMarkup | None]:
    assert context.member is not None
    scope = await member_scope(context.session, context.member)
    found = await events_in_scope(context.session, scope, page, PAGE_SIZE)
    return page_text(context.t, found, context.settings.tz), page_markup(found)


@guarded(Role.OFFICIAL)
async def audit_command(update: Update, context: DanvanContext) -> None:
    """/nhatky: the first page."""
    text, markup = await _view(context, 0)
    await reply(update, text, reply_markup=markup)


@guarded(Role.OFFICIAL)
async def on_page(update: Update, context: DanvanContext) -> None:
    """◀ / ▶: another page, in the same message (a page past the end shows the last)."""
    query = update.callback_query
    assert query is not None
    parts = callbacks.unpack(query.data, PREFIX, 2)
    page = callbacks.numbers(parts[1:]) if parts is not None and parts[0] == PAGE else None
    if page is None:
        await stale(update, context)
        return
    await query.answer()
    text, markup = await _view(context, page[0])
    await edit_in_place(query, text, markup)


def handlers() -> list[BaseHandler[Update, DanvanContext, Any]]:
    return [
        CommandHandler(["nhatky", "audit"], audit_command),
        CallbackQueryHandler(on_page, pattern=rf"^{PREFIX}:"),
    ]
