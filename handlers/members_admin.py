"""Thành viên (/thanhvien): the members of a unit, and changing one's role, unit or active.

Who may do what is decided in storage/members.py: admins manage everyone; officials see every
member of their unit's subtree but manage only its coordinators (a new unit in their subtree,
deactivate, reactivate; no role changes, since the only role they may give is coordinator);
nobody manages their own account. Every button is checked again when pressed, and every change
is confirmed first and audited. One message is edited through a member's card, its questions
and the answer.

Callback data ("mb:..."), every id an integer:
  b:UNIT:PAGE             the unit picker at UNIT       l:UNIT:PAGE       a page of members
  m:MEMBER                a member's card               r:MEMBER          the roles to choose
  ra:MEMBER:FROM:TO       confirm a role                rok:MEMBER:FROM:TO  change the role
  mv:MEMBER:UNIT:PAGE     the picker for a new unit     ma:MEMBER:FROM:TO   confirm the move
  mok:MEMBER:FROM:TO      move                          d / dok:MEMBER      deactivate
  a / aok:MEMBER          reactivate
FROM is the value the change expects to replace, so a question answered after someone else
changed the member is stale rather than wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.domain import access
from bot.domain.access import ManageOutcome, Role, role_label
from bot.domain.formatting import SHOWN_CODE, escape_html, format_date, shorten
from bot.domain.i18n import Translator
from handlers import conversation as flows
from handlers.common import DanvanContext, guarded, reply, stale_text
from handlers.menu import refresh_commands
from storage import members, scope, units
from storage.members import Change, MemberLine
from storage.models import Member, Unit, pk

SHOWN_NAME = 60  # how much of a name or a unit name a list line shows

Markup = InlineKeyboardMarkup
Button = InlineKeyboardButton


# --- shared with invites_admin ---------------------------------------------------------------


def refusal_text(t: Translator, outcome: ManageOutcome) -> str:
    """Why a request was refused (the alert of a pressed button)."""
    if outcome is ManageOutcome.OUT_OF_SCOPE:
        return t._("Sorry, that is outside your area.")
    if outcome is ManageOutcome.SELF:
        return t._("You cannot change your own account here. Please ask an admin.")
    return t._("Sorry, you do not have permission to do that.")


async def answer_problem(query: CallbackQuery, t: Translator, outcome: ManageOutcome) -> None:
    """Answer a button whose request did not go through: stale, or refused."""
    text = refusal_text(t, outcome) if outcome in access.REFUSALS else stale_text(t)
    await query.answer(text, show_alert=True)


def no_unit_text(t: Translator, code: str) -> str:
    return t._(
        "There is no unit with the code {code} in your area.",
        code=escape_html(shorten(code, SHOWN_CODE)),
    )


async def edit(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None) -> None:
    """Show `text` in the pressed message (a second press of the same button changes nothing)."""
    try:
        await query.edit_message_text(text, parse_mode="HTML", reply_markup=markup)
    except BadRequest as exc:
        if "not modified" not in str(exc).lower():
            raise


def picker_help(t: Translator) -> str:
    return t._("Tap a unit to choose it, or 📂 to see the units under it.")


async def unit_picker(
    context: DanvanContext,
    current: Unit,
    page: int,
    *,
    choose: Callable[[int], str],
    browse: Callable[[int, int], str],
    extra: list[list[InlineKeyboardButton]] | None = None,
) -> InlineKeyboardMarkup:
    """Buttons to pick `current` (in the member's scope) or one of its active children, a 📂 to
    open a child with units under it, ◀ ▶ over the children, and ⬆ to the parent while it is
    in scope. `choose(unit_id)` and `browse(unit_id, page)` make the callback data."""
    member = context.member
    assert member is not None
    choices = await members.unit_choices(context.session, current, page)
    rows = [[Button(f"📍 {shorten(current.name, SHOWN_NAME)}", callback_data=choose(pk(current)))]]
    for choice in choices.units:
        row = [Button(shorten(choice.name, SHOWN_NAME), callback_data=choose(choice.id))]
        if choice.has_children:
            row.append(Button("📂", callback_data=browse(choice.id, 0)))
        rows.append(row)
    paging = []
    if choices.page > 0:
        paging.append(Button("◀", callback_data=browse(pk(current), choices.page - 1)))
    if choices.page < choices.pages - 1:
        paging.append(Button("▶", callback_data=browse(pk(current), choices.page + 1)))
    if paging:
        rows.append(paging)
    if current.parent_id is not None:
        parent = (await scope.find_unit(context.session, member, unit_id=current.parent_id)).unit
        if parent is not None:
            rows.append(
                [
                    Button(
                        f"⬆ {shorten(parent.name, SHOWN_NAME)}", callback_data=browse(pk(parent), 0)
                    )
                ]
            )
    return InlineKeyboardMarkup(rows + (extra or []))


async def own_unit(context: DanvanContext) -> Unit:
    """Where the member's pickers start: their own unit."""
    assert context.member is not None
    unit = (
        await scope.find_unit(context.session, context.member, unit_id=context.member.unit_id)
    ).unit
    assert unit is not None
    return unit


def parse(data: str | None, prefix: str, count: int) -> list[str] | None:
    """The fields after `prefix:action:` of well-formed callback data, else None."""
    parts = (data or "").split(":")
    if len(parts) != count + 2 or parts[0] != prefix:
        return None
    return parts[2:]


def ints(fields: list[str] | None) -> list[int] | None:
    if fields is None or not all(field.isdigit() and len(field) <= 12 for field in fields):
        return None
    return [int(field) for field in fields]


# --- the list --------------------------------------------------------------------------------


def _line_text(t: Translator, number: int, line: MemberLine) -> str:
    text = t._(
        "{number}. <b>{name}</b> · {role} · {unit}\n    ☎ {phone} · last report: {last}",
        number=number,
        name=escape_html(shorten(line.full_name, SHOWN_NAME)),
        role=role_label(t, line.role),
        unit=escape_html(shorten(line.unit_name, SHOWN_NAME)),
        phone=escape_html(line.phone) if line.phone else "—",
        last=format_date(line.last_report) if line.last_report else t._("none yet"),
    )
    if line.active:
        return text
    deactivated = t._("deactivated")
    return f"⛔ {text} · {deactivated}"


async def _list_view(context: DanvanContext, unit: Unit, page: int) -> tuple[str, Markup]:
    member, t = context.member, context.t
    assert member is not None
    listed = await members.members_page(context.session, unit, page)
    actor_scope = await scope.member_scope(context.session, member)
    lines = [
        t.ngettext(
            "<b>{unit}</b>: {count} member",
            "<b>{unit}</b>: {count} members",
            listed.total,
            unit=escape_html(shorten(unit.name, SHOWN_NAME)),
        )
    ]
    if listed.pages > 1:
        lines.append(t._("Page {page} of {pages}", page=listed.page + 1, pages=listed.pages))
    if not listed.lines:
        lines.append(t._("Nobody has joined yet. Invite someone with /moi."))
    rows = []
    for number, line in enumerate(listed.lines, start=listed.first_number):
        lines.append(_line_text(t, number, line))
        denial = access.manage_denial(
            actor_id=member.id,
            actor_role=member.role,
            actor_scope=actor_scope,
            target_id=line.id,
            target_role=line.role,
            target_unit_path=line.unit_path,
        )
        if denial is None:
            label = f"{number}. {shorten(line.full_name, 40)}"
            rows.append([Button(label, callback_data=f"mb:m:{line.id}")])
    paging = []
    if listed.page > 0:
        paging.append(Button("◀", callback_data=f"mb:l:{pk(unit)}:{listed.page - 1}"))
    if listed.page < listed.pages - 1:
        paging.append(Button("▶", callback_data=f"mb:l:{pk(unit)}:{listed.page + 1}"))
    if paging:
        rows.append(paging)
    rows.append([Button(t._("◀ Back"), callback_data=f"mb:b:{pk(unit)}:0")])
    return "\n".join(lines), InlineKeyboardMarkup(rows)


def _picker_text(t: Translator) -> str:
    return "\n".join(
        [
            t._("<b>Members</b> — of which unit? The list includes the units under it."),
            picker_help(t),
            t._("You can also send /thanhvien and a unit's code (see /donvi)."),
        ]
    )


async def _picker(context: DanvanContext, current: Unit, page: int) -> Markup:
    return await unit_picker(
        context,
        current,
        page,
        choose=lambda unit_id: f"mb:l:{unit_id}:0",
        browse=lambda unit_id, page: f"mb:b:{unit_id}:{page}",
    )


@guarded(Role.OFFICIAL)
async def members_command(update: Update, context: DanvanContext) -> None:
    """/thanhvien [CODE]: the members of a unit in the official's area."""
    member, t = context.member, context.t
    assert member is not None
    if context.args:
        code = " ".join(context.args)
        found = await scope.find_unit(
            context.session, member, code=code, audit_as="members_list", now=flows.now(context)
        )
        if found.unit is None:
            await reply(update, no_unit_text(t, code))
            return
        text, markup = await _list_view(context, found.unit, 0)
        await reply(update, text, reply_markup=markup)
        return
    await reply(
        update, _picker_text(t), reply_markup=await _picker(context, await own_unit(context), 0)
    )


async def _unit_of_button(
    query: CallbackQuery, context: DanvanContext, unit_id: int, action: str
) -> Unit | None:
    assert context.member is not None
    outcome, unit = await members.unit_for(
        context.session, context.member, unit_id, now=flows.now(context), action=action
    )
    if unit is None:
        await answer_problem(query, context.t, outcome)
    return unit


@guarded(Role.OFFICIAL)
async def on_browse(update: Update, context: DanvanContext) -> None:
    """📂, ◀ ▶ or ⬆ in the unit picker of /thanhvien."""
    query = update.callback_query
    assert query is not None
    fields = ints(parse(query.data, "mb", 2))
    if fields is None:
        await answer_problem(query, context.t, ManageOutcome.STALE)
        return
    unit = await _unit_of_button(query, context, fields[0], "members_list")
    if unit is None:
        return
    await query.answer()
    await edit(query, _picker_text(context.t), await _picker(context, unit, fields[1]))


@guarded(Role.OFFICIAL)
async def on_list(update: Update, context: DanvanContext) -> None:
    """A unit chosen in the picker, or ◀ ▶ under the list: a page of its members."""
    query = update.callback_query
    assert query is not None
    fields = ints(parse(query.data, "mb", 2))
    if fields is None:
        await answer_problem(query, context.t, ManageOutcome.STALE)
        return
    unit = await _unit_of_button(query, context, fields[0], "members_list")
    if unit is None:
        return
    await query.answer()
    text, markup = await _list_view(context, unit, fields[1])
    await edit(query, text, markup)


# --- one member ------------------------------------------------------------------------------


async def _target(
    query: CallbackQuery, context: DanvanContext, member_id: int, action: str
) -> Change | None:
    assert context.member is not None
    found = await members.find_target(
        context.session, context.member, member_id, now=flows.now(context), action=action
    )
    if not found.ok:
        await answer_problem(query, context.t, found.outcome)
        return None
    return found


def _back(t: Translator, member_id: int) -> list[list[InlineKeyboardButton]]:
    return [[Button(t._("◀ Back"), callback_data=f"mb:m:{member_id}")]]


async def _card(context: DanvanContext, target: Member, unit: Unit) -> tuple[str, Markup]:
    member, t = context.member, context.t
    assert member is not None
    target_id = pk(target)
    last = (await members.last_reports(context.session, [target_id])).get(target_id)
    lines = [
        t._(
            "<b>{name}</b>\nRole: {role}\nUnit: {unit} ({code})\nPhone: {phone}\n"
            "Last report: {last}",
            name=escape_html(target.full_name),
            role=role_label(t, target.role),
            unit=escape_html(unit.name),
            code=escape_html(unit.code),
            phone=escape_html(target.phone) if target.phone else "—",
            last=format_date(last) if last else t._("none yet"),
        )
    ]
    if not target.active:
        lines.append(t._("⛔ Deactivated: cannot use danvan; their records stay."))
    rows = []
    if any(role != target.role for role in access.grantable_roles(member.role)):
        rows.append([Button(t._("👤 Change role"), callback_data=f"mb:r:{target_id}")])
    rows.append(
        [
            Button(
                t._("🏠 Move to another unit"),
                callback_data=f"mb:mv:{target_id}:{member.unit_id}:0",
            )
        ]
    )
    if target.active:
        rows.append([Button(t._("⛔ Deactivate"), callback_data=f"mb:d:{target_id}")])
    else:
        rows.append([Button(t._("✅ Reactivate"), callback_data=f"mb:a:{target_id}")])
    rows.append([Button(t._("◀ Back"), callback_data=f"mb:l:{target.unit_id}:0")])
    return "\n".join(lines), InlineKeyboardMarkup(rows)


@guarded(Role.OFFICIAL)
async def on_member(update: Update, context: DanvanContext) -> None:
    """A member's button under the list (or ◀ Back, ✖️ Cancel): their card."""
    query = update.callback_query
    assert query is not None
    fields = ints(parse(query.data, "mb", 1))
    if fields is None:
        await answer_problem(query, context.t, ManageOutcome.STALE)
        return
    found = await _target(query, context, fields[0], "member_view")
    if found is None:
        return
    assert found.member is not None and found.unit is not None
    await query.answer()
    text, markup = await _card(context, found.member, found.unit)
    await edit(query, text, markup)


# --- role ------------------------------------------------------------------------------------


@guarded(Role.OFFICIAL)
async def on_roles(update: Update, context: DanvanContext) -> None:
    """👤 Change role: the roles the actor may give."""
    query = update.callback_query
    assert query is not None and context.member is not None
    t = context.t
    fields = ints(parse(query.data, "mb", 1))
    if fields is None:
        await answer_problem(query, t, ManageOutcome.STALE)
        return
    found = await _target(query, context, fields[0], "member_role")
    if found is None:
        return
    target = found.member
    assert target is not None
    choices = [role for role in access.grantable_roles(context.member.role) if role != target.role]
    if not choices:
        await answer_problem(query, t, ManageOutcome.ROLE)
        return
    await query.answer()
    rows = [
        [
            Button(
                role_label(t, role),
                callback_data=f"mb:ra:{pk(target)}:{target.role}:{role.value}",
            )
        ]
        for role in choices
    ]
    text = t._(
        "New role for <b>{name}</b> (now {role}):",
        name=escape_html(target.full_name),
        role=role_label(t, target.role),
    )
    await edit(query, text, InlineKeyboardMarkup(rows + _back(t, pk(target))))


def _role_fields(data: str | None) -> tuple[int, str, str] | None:
    fields = parse(data, "mb", 3)
    if fields is None or not fields[0].isdigit() or len(fields[0]) > 12:
        return None
    return int(fields[0]), fields[1], fields[2]


@guarded(Role.OFFICIAL)
async def on_role_ask(update: Update, context: DanvanContext) -> None:
    """A role chosen: ask before changing it."""
    query = update.callback_query
    assert query is not None and context.member is not None
    t = context.t
    fields = _role_fields(query.data)
    if fields is None:
        await answer_problem(query, t, ManageOutcome.STALE)
        return
    member_id, old, new = fields
    change = await members.change_role(
        context.session,
        context.member,
        member_id,
        expected=old,
        role=new,
        now=flows.now(context),
        apply=False,
    )
    if not change.ok:
        await answer_problem(query, t, change.outcome)
        return
    assert change.member is not None
    await query.answer()
    buttons = [
        Button(t._("✅ Confirm"), callback_data=f"mb:rok:{member_id}:{old}:{new}"),
        Button(t._("✖️ Cancel"), callback_data=f"mb:m:{member_id}"),
    ]
    text = t._(
        "Give <b>{name}</b> the role {role}?",
        name=escape_html(change.member.full_name),
        role=role_label(t, new),
    )
    await edit(query, text, InlineKeyboardMarkup([buttons]))


@guarded(Role.OFFICIAL)
async def on_role_confirmed(update: Update, context: DanvanContext) -> None:
    """✅ Confirm: change the role."""
    query = update.callback_query
    assert query is not None and context.member is not None
    t = context.t
    fields = _role_fields(query.data)
    if fields is None:
        await answer_problem(query, t, ManageOutcome.STALE)
        return
    member_id, old, new = fields
    change = await members.change_role(
        context.session, context.member, member_id, expected=old, role=new, now=flows.now(context)
    )
    if not change.ok:
        await answer_problem(query, t, change.outcome)
        return
    assert change.member is not None
    await query.answer()
    await refresh_commands(context.bot, change.member)
    text = t._(
        "✅ <b>{name}</b> now has the role {role}.",
        name=escape_html(change.member.full_name),
        role=role_label(t, new),
    )
    await edit(query, text, InlineKeyboardMarkup(_back(t, member_id)))


# --- unit ------------------------------------------------------------------------------------


@guarded(Role.OFFICIAL)
async def on_move_browse(update: Update, context: DanvanContext) -> None:
    """🏠 Move to another unit (and 📂 ◀ ▶ ⬆ after it): the picker for the new unit."""
    query = update.callback_query
    assert query is not None
    t = context.t
    fields = ints(parse(query.data, "mb", 3))
    if fields is None:
        await answer_problem(query, t, ManageOutcome.STALE)
        return
    member_id, unit_id, page = fields
    found = await _target(query, context, member_id, "member_unit")
    if found is None:
        return
    unit = await _unit_of_button(query, context, unit_id, "member_unit")
    if unit is None:
        return
    target, old = found.member, found.unit
    assert target is not None and old is not None
    await query.answer()
    markup = await unit_picker(
        context,
        unit,
        page,
        choose=lambda to: f"mb:ma:{member_id}:{pk(old)}:{to}",
        browse=lambda to, page: f"mb:mv:{member_id}:{to}:{page}",
        extra=_back(t, member_id),
    )
    text = "\n".join(
        [
            t._(
                "Move <b>{name}</b> (now in {unit}) to which unit?",
                name=escape_html(target.full_name),
                unit=escape_html(old.name),
            ),
            picker_help(t),
        ]
    )
    await edit(query, text, markup)


async def _move(query: CallbackQuery, context: DanvanContext, *, apply: bool) -> Change | None:
    assert context.member is not None
    t = context.t
    fields = ints(parse(query.data, "mb", 3))
    if fields is None:
        await answer_problem(query, t, ManageOutcome.STALE)
        return None
    member_id, old, new = fields
    if old == new:
        found = await _target(query, context, member_id, "member_unit")
        if found is not None:
            assert found.member is not None and found.unit is not None
            await query.answer(
                t._(
                    "{name} is already in {unit}.",
                    name=shorten(found.member.full_name, SHOWN_NAME),
                    unit=shorten(found.unit.name, SHOWN_NAME),
                ),
                show_alert=True,
            )
        return None
    change = await members.change_unit(
        context.session,
        context.member,
        member_id,
        expected_unit_id=old,
        unit_id=new,
        now=flows.now(context),
        apply=apply,
    )
    if not change.ok:
        await answer_problem(query, t, change.outcome)
        return None
    await query.answer()
    return change


@guarded(Role.OFFICIAL)
async def on_move_ask(update: Update, context: DanvanContext) -> None:
    """A new unit chosen: ask before moving the member."""
    query = update.callback_query
    assert query is not None
    t = context.t
    change = await _move(query, context, apply=False)
    if change is None:
        return
    assert change.member is not None and change.unit is not None
    old = await units.by_id(context.session, change.member.unit_id)  # not moved yet
    member_id = pk(change.member)
    buttons = [
        Button(
            t._("✅ Confirm"),
            callback_data=f"mb:mok:{member_id}:{change.member.unit_id}:{pk(change.unit)}",
        ),
        Button(t._("✖️ Cancel"), callback_data=f"mb:m:{member_id}"),
    ]
    text = t._(
        "Move <b>{name}</b> from {old} to <b>{new}</b>? Their records stay with the unit they "
        "were logged for.",
        name=escape_html(change.member.full_name),
        old=escape_html(old.name if old else "?"),
        new=escape_html(change.unit.name),
    )
    await edit(query, text, InlineKeyboardMarkup([buttons]))


@guarded(Role.OFFICIAL)
async def on_move_confirmed(update: Update, context: DanvanContext) -> None:
    """✅ Confirm: move the member."""
    query = update.callback_query
    assert query is not None
    t = context.t
    change = await _move(query, context, apply=True)
    if change is None:
        return
    assert change.member is not None and change.unit is not None
    text = t._(
        "✅ <b>{name}</b> now belongs to <b>{unit}</b>.",
        name=escape_html(change.member.full_name),
        unit=escape_html(change.unit.name),
    )
    await edit(query, text, InlineKeyboardMarkup(_back(t, pk(change.member))))


# --- active ----------------------------------------------------------------------------------


async def _activation(
    query: CallbackQuery, context: DanvanContext, *, active: bool, apply: bool
) -> Change | None:
    assert context.member is not None
    fields = ints(parse(query.data, "mb", 1))
    if fields is None:
        await answer_problem(query, context.t, ManageOutcome.STALE)
        return None
    change = await members.set_active(
        context.session,
        context.member,
        fields[0],
        active=active,
        now=flows.now(context),
        apply=apply,
    )
    if not change.ok:
        await answer_problem(query, context.t, change.outcome)
        return None
    await query.answer()
    if apply and change.member is not None:
        await refresh_commands(context.bot, change.member)
    return change


@guarded(Role.OFFICIAL)
async def on_deactivate_ask(update: Update, context: DanvanContext) -> None:
    """⛔ Deactivate: ask first."""
    query = update.callback_query
    assert query is not None
    t = context.t
    change = await _activation(query, context, active=False, apply=False)
    if change is None:
        return
    assert change.member is not None
    member_id = pk(change.member)
    buttons = [
        Button(t._("⛔ Deactivate"), callback_data=f"mb:dok:{member_id}"),
        Button(t._("✖️ Cancel"), callback_data=f"mb:m:{member_id}"),
    ]
    text = t._(
        "Deactivate <b>{name}</b>? They will no longer be able to use danvan. Their records "
        "stay and keep counting.",
        name=escape_html(change.member.full_name),
    )
    await edit(query, text, InlineKeyboardMarkup([buttons]))


@guarded(Role.OFFICIAL)
async def on_deactivate_confirmed(update: Update, context: DanvanContext) -> None:
    """⛔ Deactivate on the question: deactivate."""
    query = update.callback_query
    assert query is not None
    t = context.t
    change = await _activation(query, context, active=False, apply=True)
    if change is None:
        return
    assert change.member is not None
    text = t._(
        "⛔ <b>{name}</b> was deactivated. Their records stay.",
        name=escape_html(change.member.full_name),
    )
    await edit(query, text, InlineKeyboardMarkup(_back(t, pk(change.member))))


@guarded(Role.OFFICIAL)
async def on_reactivate_ask(update: Update, context: DanvanContext) -> None:
    """✅ Reactivate: ask first."""
    query = update.callback_query
    assert query is not None
    t = context.t
    change = await _activation(query, context, active=True, apply=False)
    if change is None:
        return
    assert change.member is not None
    member_id = pk(change.member)
    buttons = [
        Button(t._("✅ Reactivate"), callback_data=f"mb:aok:{member_id}"),
        Button(t._("✖️ Cancel"), callback_data=f"mb:m:{member_id}"),
    ]
    text = t._(
        "Reactivate <b>{name}</b>? They will be able to use danvan again.",
        name=escape_html(change.member.full_name),
    )
    await edit(query, text, InlineKeyboardMarkup([buttons]))


@guarded(Role.OFFICIAL)
async def on_reactivate_confirmed(update: Update, context: DanvanContext) -> None:
    """✅ Reactivate on the question: reactivate."""
    query = update.callback_query
    assert query is not None
    t = context.t
    change = await _activation(query, context, active=True, apply=True)
    if change is None:
        return
    assert change.member is not None
    text = t._("✅ <b>{name}</b> can use danvan again.", name=escape_html(change.member.full_name))
    await edit(query, text, InlineKeyboardMarkup(_back(t, pk(change.member))))


def handlers() -> list[BaseHandler[Update, DanvanContext, Any]]:
    return [
        CommandHandler(["thanhvien", "members"], members_command),
        CallbackQueryHandler(on_browse, pattern=r"^mb:b:"),
        CallbackQueryHandler(on_list, pattern=r"^mb:l:"),
        CallbackQueryHandler(on_member, pattern=r"^mb:m:"),
        CallbackQueryHandler(on_roles, pattern=r"^mb:r:"),
        CallbackQueryHandler(on_role_ask, pattern=r"^mb:ra:"),
        CallbackQueryHandler(on_role_confirmed, pattern=r"^mb:rok:"),
        CallbackQueryHandler(on_move_browse, pattern=r"^mb:mv:"),
        CallbackQueryHandler(on_move_ask, pattern=r"^mb:ma:"),
        CallbackQueryHandler(on_move_confirmed, pattern=r"^mb:mok:"),
        CallbackQueryHandler(on_deactivate_ask, pattern=r"^mb:d:"),
        CallbackQueryHandler(on_deactivate_confirmed, pattern=r"^mb:dok:"),
        CallbackQueryHandler(on_reactivate_ask, pattern=r"^mb:a:"),
        CallbackQueryHandler(on_reactivate_confirmed, pattern=r"^mb:aok:"),
    ]
