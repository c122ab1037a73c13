"""Mời (/moi): invite someone with a code, a deep link and a QR code; list and withdraw the
open invites of the official's area.

/moi asks for the role (officials may invite coordinators only; admins also officials and
admins), the unit (a picker from the member's own unit down; or `/moi CODE` names it at once)
and how many people may join with the code; the answer is a photo of the QR code of the deep
link https://t.me/<bot>?start=<CODE>, with the code and the link in its caption.

Callback data ("inv:..."). NONCE ties the buttons to the /moi that made them; it is kept in
user_data and taken when the invite is made, so an old or twice-pressed card makes nothing:
  r:NONCE:ROLE:UNIT          a role (UNIT is 0 when /moi named none)
  b:NONCE:ROLE:UNIT:PAGE     the unit picker at UNIT       u:NONCE:ROLE:UNIT   a unit
  n:NONCE:ROLE:UNIT:USES     make the invite
  ls                         the open invites (a new message)   lp:PAGE   another page
  x / xok / keep:INVITE      withdraw an invite: ask, do, or not
"""

from __future__ import annotations

import secrets
from typing import Any

from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.domain import access
from bot.domain.access import ManageOutcome, Role, role_label
from bot.domain.formatting import escape_html, format_date, shorten
from bot.domain.i18n import Translator
from bot.services.qr import qr_png
from handlers import conversation as flows
from handlers.common import DanvanContext, guarded, reply
from handlers.members_admin import (
    SHOWN_NAME,
    answer_problem,
    edit,
    ints,
    no_unit_text,
    own_unit,
    parse,
    picker_help,
    unit_picker,
)
from storage import invites, members, scope
from storage.models import Invite, Unit, pk

WIZARD = "invite_wizard"  # user_data key of the nonce of the /moi in progress

Button = InlineKeyboardButton


def _add_role_label(t: Translator, role: Role) -> str:
    labels = {
        Role.COORDINATOR: t._("➕ Invite a coordinator"),
        Role.OFFICIAL: t._("➕ Invite an official"),
        Role.ADMIN: t._("➕ Invite an admin"),
    }
    return labels[role]


def deep_link(bot_username: str, code: str) -> str:
    return f"https://t.me/{bot_username}?start={code}"


def uses_label(t: Translator, uses: int) -> str:
    return t.ngettext("{count} use", "{count} uses", uses)


# --- /moi ------------------------------------------------------------------------------------


@guarded(Role.OFFICIAL)
async def invite_command(update: Update, context: DanvanContext) -> None:
    """/moi [CODE]: invite someone, or see the open invites."""
    member, t = context.member, context.t
    assert member is not None and context.user_data is not None
    unit: Unit | None = None
    if context.args:
        code = " ".join(context.args)
        found = await scope.find_unit(
            context.session,
            member,
            code=code,
            active_only=True,
            audit_as="invite_create",
            now=flows.now(context),
        )
        if found.unit is None:
            await reply(update, no_unit_text(t, code))
            return
        unit = found.unit
    nonce = secrets.token_hex(3)
    context.user_data[WIZARD] = nonce
    unit_id = pk(unit) if unit is not None else 0
    rows = [
        [Button(_add_role_label(t, role), callback_data=f"inv:r:{nonce}:{role.value}:{unit_id}")]
        for role in access.grantable_roles(member.role)
    ]
    rows.append([Button(t._("📋 Open invites"), callback_data="inv:ls")])
    lines = [t._("<b>Invite someone to danvan</b>")]
    if unit is not None:
        lines.append(t._("Unit: <b>{unit}</b>", unit=escape_html(unit.name)))
    else:
        lines.append(t._("To name the unit at once, send /moi and its code (see /donvi)."))
    lines.append(t._("Whom do you want to invite?"))
    await reply(update, "\n".join(lines), reply_markup=InlineKeyboardMarkup(rows))


async def _wizard_step(
    query: CallbackQuery, context: DanvanContext, count: int
) -> tuple[str, Role, list[int]] | None:
    """The fields of a /moi button: its nonce (if still the current one), role and integers;
    otherwise answer the button and return None. A role the member may not give is refused."""
    assert context.member is not None
    t = context.t
    fields = parse(query.data, "inv", count)
    numbers = ints(fields[2:]) if fields is not None else None
    current = context.user_data.get(WIZARD) if context.user_data is not None else None
    if fields is None or numbers is None or fields[0] != current:
        await answer_problem(query, t, ManageOutcome.STALE)
        return None
    if fields[1] not in access.ROLE_VALUES:
        await answer_problem(query, t, ManageOutcome.STALE)
        return None
    role = Role(fields[1])
    if role not in access.grantable_roles(context.member.role):
        await members.record_refusal(
            context.session,
            context.member,
            "invite",
            None,
            ManageOutcome.ROLE,
            "invite_create",
            flows.now(context),
            role=role.value,
        )
        await answer_problem(query, t, ManageOutcome.ROLE)
        return None
    return fields[0], role, numbers


async def _scoped_unit(query: CallbackQuery, context: DanvanContext, unit_id: int) -> Unit | None:
    assert context.member is not None
    outcome, unit = await members.unit_for(
        context.session, context.member, unit_id, now=flows.now(context), action="invite_create"
    )
    if unit is None or not unit.active:
        await answer_problem(query, context.t, outcome if unit is None else ManageOutcome.STALE)
        return None
    return unit


def _picker_text(t: Translator, role: Role) -> str:
    return "\n".join(
        [
            t._("Invite as {role} into which unit?", role=role_label(t, role)),
            picker_help(t),
        ]
    )


async def _show_picker(
    query: CallbackQuery, context: DanvanContext, nonce: str, role: Role, unit: Unit, page: int
) -> None:
    markup = await unit_picker(
        context,
        unit,
        page,
        choose=lambda unit_id: f"inv:u:{nonce}:{role.value}:{unit_id}",
        browse=lambda unit_id, page: f"inv:b:{nonce}:{role.value}:{unit_id}:{page}",
    )
    await edit(query, _picker_text(context.t, role), markup)


async def _show_uses(
    query: CallbackQuery, context: DanvanContext, nonce: str, role: Role, unit: Unit
) -> None:
    t = context.t
    text = t._(
        "Invite as {role} into <b>{unit}</b>.\nHow many people may join with this code? "
        "It will be valid for {days} days.",
        role=role_label(t, role),
        unit=escape_html(unit.name),
        days=invites.DEFAULT_DAYS,
    )
    buttons = [
        Button(uses_label(t, uses), callback_data=f"inv:n:{nonce}:{role.value}:{pk(unit)}:{uses}")
        for uses in invites.USE_CHOICES
    ]
    await edit(query, text, InlineKeyboardMarkup([buttons]))


@guarded(Role.OFFICIAL)
async def on_role(update: Update, context: DanvanContext) -> None:
    """A role chosen: pick the unit (or, when /moi named one, the number of uses)."""
    query = update.callback_query
    assert query is not None
    step = await _wizard_step(query, context, 3)
    if step is None:
        return
    nonce, role, (unit_id,) = step
    if unit_id:
        unit = await _scoped_unit(query, context, unit_id)
        if unit is None:
            return
        await query.answer()
        await _show_uses(query, context, nonce, role, unit)
        return
    await query.answer()
    await _show_picker(query, context, nonce, role, await own_unit(context), 0)


@guarded(Role.OFFICIAL)
async def on_browse(update: Update, context: DanvanContext) -> None:
    """📂, ◀ ▶ or ⬆ in the unit picker of /moi."""
    query = update.callback_query
    assert query is not None
    step = await _wizard_step(query, context, 4)
    if step is None:
        return
    nonce, role, (unit_id, page) = step
    unit = await _scoped_unit(query, context, unit_id)
    if unit is None:
        return
    await query.answer()
    await _show_picker(query, context, nonce, role, unit, page)


@guarded(Role.OFFICIAL)
async def on_unit(update: Update, context: DanvanContext) -> None:
    """A unit chosen: how many uses?"""
    query = update.callback_query
    assert query is not None
    step = await _wizard_step(query, context, 3)
    if step is None:
        return
    nonce, role, (unit_id,) = step
    unit = await _scoped_unit(query, context, unit_id)
    if unit is None:
        return
    await query.answer()
    await _show_uses(query, context, nonce, role, unit)


def invite_caption(context: DanvanContext, invite: Invite, unit: Unit) -> str:
    t = context.t
    return t._(
        "✉️ Invite as {role} into <b>{unit}</b>\n"
        "Code: <code>{code}</code>\n"
        "Link: {link}\n"
        "{uses}, valid until {date}.\n"
        "Scan the QR code with the phone's camera, or open the link, then press Start.",
        role=role_label(t, invite.role),
        unit=escape_html(shorten(unit.name, 100)),
        code=invite.code,
        link=deep_link(context.bot.username, invite.code),
        uses=uses_label(t, invite.max_uses),
        date=format_date(invite.expires_at.astimezone(context.settings.tz).date()),
    )


@guarded(Role.OFFICIAL)
async def on_create(update: Update, context: DanvanContext) -> None:
    """A number of uses chosen: make the invite and send its QR code."""
    query = update.callback_query
    chat = update.effective_chat
    assert query is not None and chat is not None and context.member is not None
    assert context.user_data is not None
    step = await _wizard_step(query, context, 4)
    if step is None:
        return
    _, role, (unit_id, uses) = step
    created = await invites.create_by(
        context.session,
        context.member,
        role=role.value,
        unit_id=unit_id,
        uses=uses,
        now=flows.now(context),
    )
    if created.invite is None or created.unit is None:
        await answer_problem(query, context.t, created.outcome)
        return
    context.user_data.pop(WIZARD, None)  # this card is done: its buttons are now stale
    await query.answer()
    await query.edit_message_reply_markup(None)
    link = deep_link(context.bot.username, created.invite.code)
    await chat.send_photo(
        photo=qr_png(link),
        caption=invite_caption(context, created.invite, created.unit),
        parse_mode="HTML",
    )


# --- the open invites ------------------------------------------------------------------------


async def _list_view(context: DanvanContext, page: int) -> tuple[str, InlineKeyboardMarkup]:
    member, t = context.member, context.t
    assert member is not None
    listed = await invites.open_invites(context.session, member, flows.now(context), page)
    lines = [t._("<b>Open invites</b> ({count})", count=listed.total)]
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
            rows.append([Button(f"🚫 {invite.code}", callback_data=f"inv:x:{invite.id}")])
    paging = []
    if listed.page > 0:
        paging.append(Button("◀", callback_data=f"inv:lp:{listed.page - 1}"))
    if listed.page < listed.pages - 1:
        paging.append(Button("▶", callback_data=f"inv:lp:{listed.page + 1}"))
    if paging:
        rows.append(paging)
    if any(invite.role in revocable for invite in listed.invites):
        lines.append(t._("Tap 🚫 and a code to withdraw that invite."))
    return "\n".join(lines), InlineKeyboardMarkup(rows)


@guarded(Role.OFFICIAL)
async def on_list(update: Update, context: DanvanContext) -> None:
    """📋 Open invites under the /moi card: the list, in a message of its own."""
    query = update.callback_query
    assert query is not None
    await query.answer()
    text, markup = await _list_view(context, 0)
    await reply(update, text, reply_markup=markup)


@guarded(Role.OFFICIAL)
async def on_list_page(update: Update, context: DanvanContext) -> None:
    """◀ ▶ under the list: another page, in the same message."""
    query = update.callback_query
    assert query is not None
    fields = ints(parse(query.data, "inv", 1))
    if fields is None:
        await answer_problem(query, context.t, ManageOutcome.STALE)
        return
    await query.answer()
    text, markup = await _list_view(context, fields[0])
    await edit(query, text, markup)


async def _revocation(
    query: CallbackQuery, context: DanvanContext, *, apply: bool
) -> invites.Revoked | None:
    assert context.member is not None
    fields = ints(parse(query.data, "inv", 1))
    if fields is None:
        await answer_problem(query, context.t, ManageOutcome.STALE)
        return None
    revoked = await invites.revoke(
        context.session, context.member, fields[0], now=flows.now(context), apply=apply
    )
    if revoked.outcome is not ManageOutcome.OK:
        await answer_problem(query, context.t, revoked.outcome)
        return None
    await query.answer()
    return revoked


@guarded(Role.OFFICIAL)
async def on_revoke_ask(update: Update, context: DanvanContext) -> None:
    """🚫 CODE under the list: ask before withdrawing."""
    query = update.callback_query
    assert query is not None
    t = context.t
    revoked = await _revocation(query, context, apply=False)
    if revoked is None:
        return
    invite, unit = revoked.invite, revoked.unit
    assert invite is not None and unit is not None
    buttons = [
        Button(t._("🚫 Withdraw"), callback_data=f"inv:xok:{invite.id}"),
        Button(t._("✖️ Cancel"), callback_data=f"inv:keep:{invite.id}"),
    ]
    await reply(
        update,
        t._(
            "Withdraw the invite <code>{code}</code> ({role}, {unit})? Nobody will be able to "
            "join with it any more; people who already joined stay.",
            code=invite.code,
            role=role_label(t, invite.role),
            unit=escape_html(unit.name),
        ),
        reply_markup=InlineKeyboardMarkup([buttons]),
    )


@guarded(Role.OFFICIAL)
async def on_revoke_confirmed(update: Update, context: DanvanContext) -> None:
    """🚫 Withdraw on the question: withdraw the invite."""
    query = update.callback_query
    assert query is not None
    revoked = await _revocation(query, context, apply=True)
    if revoked is None:
        return
    assert revoked.invite is not None
    text = context.t._("🚫 The invite <code>{code}</code> was withdrawn.", code=revoked.invite.code)
    await edit(query, text, None)


@guarded(Role.OFFICIAL)
async def on_keep(update: Update, context: DanvanContext) -> None:
    """✖️ Cancel on the question: keep the invite."""
    query = update.callback_query
    assert query is not None
    await query.answer()
    await edit(query, context.t._("Cancelled; nothing was changed."), None)


def handlers() -> list[BaseHandler[Update, DanvanContext, Any]]:
    return [
        CommandHandler(["moi", "invite"], invite_command),
        CallbackQueryHandler(on_role, pattern=r"^inv:r:"),
        CallbackQueryHandler(on_browse, pattern=r"^inv:b:"),
        CallbackQueryHandler(on_unit, pattern=r"^inv:u:"),
        CallbackQueryHandler(on_create, pattern=r"^inv:n:"),
        CallbackQueryHandler(on_list, pattern=r"^inv:ls$"),
        CallbackQueryHandler(on_list_page, pattern=r"^inv:lp:"),
        CallbackQueryHandler(on_revoke_ask, pattern=r"^inv:x:"),
        CallbackQueryHandler(on_revoke_confirmed, pattern=r"^inv:xok:"),
        CallbackQueryHandler(on_keep, pattern=r"^inv:keep:"),
    ]
