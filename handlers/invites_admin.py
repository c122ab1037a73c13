"""Mời (/moi): invite someone with a code, a deep link and a QR code; list and withdraw the
open invites of the official's area.

The chat is bot/domain/forms/invites.py's flow: the role (admins; officials invite
coordinators only, so they are not asked), the unit (a picker of the member's area, or the
unit `/moi CODE` names), and how many people may join. The invite is then made (the role and
the unit checked once more) and sent as a photo of the QR code of the deep link
https://t.me/<bot>?start=<CODE>, with the code and the link in its caption; if the photo
cannot be sent, the code and the link come as text.

The open invites are a list to browse (callback data "inv:...", bot/domain/callbacks.py):
  ls               the list, in a message of its own      lp:PAGE   a page of it, in place
  x:INVITE:PAGE    withdraw? (in place)   xok:INVITE:PAGE   withdraw it, and the page again
Every button is checked again when pressed; anything else is stale.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.domain import access, callbacks
from bot.domain.access import ManageOutcome, Role, role_label
from bot.domain.flow import Draft, Env
from bot.domain.formatting import escape_html, format_date, shorten
from bot.domain.forms.invites import INVITE, LIST, open_invites_label, uses_label
from bot.domain.forms.members import SHOWN_NAME, problem_text
from bot.services.qr import qr_png
from handlers.common import (
    DanvanContext,
    edit_in_place,
    guarded,
    named_unit,
    pressed,
    reply,
)
from handlers.conversation import FlowBinding, begin, now
from storage import invites, scope
from storage.models import Invite, Unit, pk
from storage.outbox import IF_FAILED

log = logging.getLogger(__name__)

PREFIX = "inv"

Button = InlineKeyboardButton


def deep_link(bot_username: str, code: str) -> str:
    return f"https://t.me/{bot_username}?start={code}"


# --- /moi ------------------------------------------------------------------------------------


async def what_to_offer(context: DanvanContext, draft: Draft) -> dict[str, Any]:
    """The roles the member may give, and on the unit step the units of their area, now."""
    member = context.member
    assert member is not None
    extra: dict[str, Any] = {"roles": [role.value for role in access.grantable_roles(member.role)]}
    if draft["step"] == "unit":
        extra["units"] = await scope.area_units(context.session, member)
        extra["home"] = member.unit_id
    return extra


@guarded(Role.OFFICIAL)
async def invite_command(update: Update, context: DanvanContext) -> None:
    """/moi [CODE]: invite someone, or see the open invites."""
    member = context.member
    assert member is not None
    seed: dict[str, Any] = {"choose_unit": True}
    if context.args:
        unit = await named_unit(
            update, context, " ".join(context.args), active_only=True, audit_as="invite_create"
        )
        if unit is None:
            return
        seed = {"choose_unit": False, "unit": pk(unit), "unit_name": unit.name}
    roles = access.grantable_roles(member.role)
    seed["choose_role"] = len(roles) > 1
    if len(roles) == 1:
        seed["role"] = roles[0].value
    await begin(update, context, INVITE, **seed)


def invite_text(context: DanvanContext, invite: Invite, unit: Unit) -> str:
    t = context.t
    return t._(
        "✉️ Invite as {role} into <b>{unit}</b>\n"
        "Code: <code>{code}</code>\n"
        "Link: {link}\n"
        "{uses}, valid until {date}.",
        role=role_label(t, invite.role),
        unit=escape_html(shorten(unit.name, 100)),
        code=invite.code,
        link=deep_link(context.bot.username, invite.code),
        uses=uses_label(t, invite.max_uses),
        date=format_date(invite.expires_at.astimezone(context.settings.tz).date()),
    )


def _list_button(context: DanvanContext) -> InlineKeyboardMarkup:
    label = open_invites_label(context.t)
    return InlineKeyboardMarkup([[Button(label, callback_data=callbacks.pack(PREFIX, "ls"))]])


async def make_invite(update: Update, context: DanvanContext, draft: Draft, env: Env) -> None:
    """The number of uses chosen: make the invite (if the member may still give the role in
    the unit) and send its QR code; or, for 📋 Open invites, the list."""
    member, t = context.member, context.t
    chat = update.effective_chat
    assert member is not None and chat is not None
    answers = draft["answers"]
    if answers.get(LIST):
        text, markup = await _list_view(context, 0)
        await reply(update, text, reply_markup=markup)
        return
    created = await invites.create_by(
        context.session,
        member,
        role=answers["role"],
        unit_id=answers["unit"],
        uses=answers["uses"],
        now=env.now,
    )
    if created.invite is None or created.unit is None:
        await reply(update, problem_text(t, created.outcome))
        return
    text = invite_text(context, created.invite, created.unit)
    link = deep_link(context.bot.username, created.invite.code)
    note = t._(
        "⚠️ The QR code could not be sent. Give the code or the link instead: whoever "
        "opens the link and presses Start joins."
    )
    # Owed with the invite: if the photo cannot be sent, the code and the link go as text.
    await chat.send_photo(
        photo=qr_png(link),
        caption=text
        + "\n"
        + t._("Scan the QR code with the phone's camera, or open the link, then press Start."),
        parse_mode="HTML",
        reply_markup=_list_button(context),
        api_kwargs={IF_FAILED: f"{text}\n{note}"},
    )


# --- the open invites ------------------------------------------------------------------------


async def _list_view(
    context: DanvanContext, page: int, note: str | None = None
) -> tuple[str, InlineKeyboardMarkup | None]:
    member, t = context.member, context.t
    assert member is not None
    listed = await invites.open_invites(context.session, member, now(context), page)
    lines = [note] if note else []
    lines.append(t._("<b>Open invites</b> ({count})", count=listed.total))
    if listed.pages > 1:
        lines.append(t._("Page {page} of {pages}", page=listed.page + 1, pages=listed.pages))
    if not listed.invites:
        lines.append(t._("There are no open invites in your area. Send /moi to make one."))
    rows = []
    revocable = access.grantable_roles(member.role)
    for invite in listed.invites:
        lines.append(
            t._(
                "<code>{code}</code> · {role} · {unit} · {left} · until {date}",
                code=invite.code,
                role=role_label(t, invite.role),
                unit=escape_html(shorten(invite.unit_name, SHOWN_NAME)),
                left=t.ngettext("{count} use left", "{count} uses left", invite.uses_left),
                date=format_date(invite.expires_at.astimezone(context.settings.tz).date()),
            )
        )
        if invite.role in revocable:
            data = callbacks.pack(PREFIX, "x", invite.id, listed.page)
            rows.append([Button(f"🚫 {invite.code}", callback_data=data)])
    paging = []
    if listed.page > 0:
        paging.append(Button("◀", callback_data=callbacks.pack(PREFIX, "lp", listed.page - 1)))
    if listed.page < listed.pages - 1:
        paging.append(Button("▶", callback_data=callbacks.pack(PREFIX, "lp", listed.page + 1)))
    if paging:
        rows.append(paging)
    if any(invite.role in revocable for invite in listed.invites):
        lines.append(t._("Tap 🚫 and a code to withdraw that invite."))
    # No buttons, no keyboard: Telegram refuses an empty one.
    return "\n".join(lines), InlineKeyboardMarkup(rows) if rows else None


@guarded(Role.OFFICIAL)
async def on_list(update: Update, context: DanvanContext) -> None:
    """📋 Open invites under an invite: the list, in a message of its own."""
    query = update.callback_query
    assert query is not None
    await query.answer()
    text, markup = await _list_view(context, 0)
    await reply(update, text, reply_markup=markup)


@guarded(Role.OFFICIAL)
async def on_list_page(update: Update, context: DanvanContext) -> None:
    """◀ ▶ under the list, or ✖️ Cancel on a withdrawal's question: a page, in place."""
    button = await pressed(update, context, PREFIX, "lp", 1)
    if button is not None:
        query, (page,) = button
        await query.answer()
        text, markup = await _list_view(context, page)
        await edit_in_place(query, text, markup)


async def _revocation(
    update: Update, context: DanvanContext, action: str, *, apply: bool
) -> tuple[invites.Revoked, int] | None:
    """The invite of a 🚫 button and the list's page, if the member may withdraw it; else
    the button is answered and None returned."""
    assert context.member is not None
    button = await pressed(update, context, PREFIX, action, 2)
    if button is None:
        return None
    query, (invite_id, page) = button
    revoked = await invites.revoke(
        context.session, context.member, invite_id, now=now(context), apply=apply
    )
    if revoked.outcome is not ManageOutcome.OK:
        await query.answer(problem_text(context.t, revoked.outcome), show_alert=True)
        return None
    await query.answer()
    return revoked, page


@guarded(Role.OFFICIAL)
async def on_revoke_ask(update: Update, context: DanvanContext) -> None:
    """🚫 CODE under the list: ask before withdrawing, in the list's place."""
    query = update.callback_query
    assert query is not None
    t = context.t
    found = await _revocation(update, context, "x", apply=False)
    if found is None:
        return
    revoked, page = found
    invite, unit = revoked.invite, revoked.unit
    assert invite is not None and unit is not None
    buttons = [
        Button(t._("🚫 Withdraw"), callback_data=callbacks.pack(PREFIX, "xok", pk(invite), page)),
        Button(t._("✖️ Cancel"), callback_data=callbacks.pack(PREFIX, "lp", page)),
    ]
    text = t._(
        "Withdraw the invite <code>{code}</code> ({role}, {unit})? Nobody will be able to "
        "join with it any more; people who already joined stay.",
        code=invite.code,
        role=role_label(t, invite.role),
        unit=escape_html(unit.name),
    )
    await edit_in_place(query, text, InlineKeyboardMarkup([buttons]))


@guarded(Role.OFFICIAL)
async def on_revoke_confirmed(update: Update, context: DanvanContext) -> None:
    """🚫 Withdraw on the question: withdraw the invite, and show the list again."""
    query = update.callback_query
    assert query is not None
    found = await _revocation(update, context, "xok", apply=True)
    if found is None:
        return
    revoked, page = found
    assert revoked.invite is not None
    note = context.t._("🚫 The invite <code>{code}</code> was withdrawn.", code=revoked.invite.code)
    text, markup = await _list_view(context, page, note)
    await edit_in_place(query, text, markup)


def flows() -> list[FlowBinding]:
    return [FlowBinding(INVITE, make_invite, needs=Role.OFFICIAL, load=what_to_offer)]


def handlers() -> list[BaseHandler[Update, DanvanContext, Any]]:
    return [
        CommandHandler(["moi", "invite"], invite_command),
        CallbackQueryHandler(on_list, pattern=r"^inv:ls$"),
        CallbackQueryHandler(on_list_page, pattern=r"^inv:lp:"),
        CallbackQueryHandler(on_revoke_ask, pattern=r"^inv:x:"),
        CallbackQueryHandler(on_revoke_confirmed, pattern=r"^inv:xok:"),
    ]
