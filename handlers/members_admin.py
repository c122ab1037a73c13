"""Thành viên (/thanhvien): the members of a unit, and changing one's role, unit or active.

Who may do what is decided in storage/members.py: admins manage everyone; officials see every
member of their unit's subtree but manage only its coordinators (a new unit in their subtree,
deactivate, reactivate; no role changes, since the only role they may give is coordinator);
nobody manages their own account.

/thanhvien asks for the unit (bot/domain/forms/members.py's MEMBERS_UNIT: a picker of the
member's area; `/thanhvien CODE` names it at once). The list of its members and a member's
card are pages to browse (callback data "mb:...", bot/domain/callbacks.py):
  l:UNIT:PAGE   a page of the members of UNIT        b:UNIT   ◀ Back: choose another unit
  m:MEMBER      a member's card
  r / mv / d / a:MEMBER   from the card: change the role, move, deactivate, reactivate
Each change is a chat of its own (MEMBER_ROLE, MEMBER_MOVE, MEMBER_DEACTIVATE,
MEMBER_REACTIVATE) that ends on a card to confirm; ◀ Back on its first question shows the
member's card again. Every button is checked again when pressed, every change once more when
confirmed (against what the chat began with: a change someone else made meanwhile makes it
stale), and audited.
"""

from __future__ import annotations

from typing import Any

from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.domain import access, callbacks
from bot.domain.access import Role, role_label
from bot.domain.flow import Draft, Env, Flow
from bot.domain.formatting import escape_html, format_date, shorten
from bot.domain.forms.members import (
    MEMBER_DEACTIVATE,
    MEMBER_MOVE,
    MEMBER_REACTIVATE,
    MEMBER_ROLE,
    MEMBERS_UNIT,
    SHOWN_NAME,
    problem_text,
)
from bot.domain.i18n import Translator
from handlers.common import (
    DanvanContext,
    edit_in_place,
    guarded,
    named_unit,
    pressed,
    reply,
    stale,
)
from handlers.conversation import FlowBinding, begin, now
from handlers.menu import refresh_commands
from storage import members, scope
from storage.members import Change, MemberLine
from storage.models import Member, Unit, pk

PREFIX = "mb"

Markup = InlineKeyboardMarkup
Button = InlineKeyboardButton


def _data(*parts: str | int) -> str:
    return callbacks.pack(PREFIX, *parts)


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
            rows.append([Button(label, callback_data=_data("m", line.id))])
    paging = []
    if listed.page > 0:
        paging.append(Button("◀", callback_data=_data("l", pk(unit), listed.page - 1)))
    if listed.page < listed.pages - 1:
        paging.append(Button("▶", callback_data=_data("l", pk(unit), listed.page + 1)))
    if paging:
        rows.append(paging)
    rows.append([Button(t._("◀ Back"), callback_data=_data("b", pk(unit)))])
    return "\n".join(lines), InlineKeyboardMarkup(rows)


async def units_to_list(context: DanvanContext, draft: Draft) -> dict[str, Any]:
    """The units of the member's area, as they are now, and where to start: the unit the
    chat began from, or their own."""
    member = context.member
    assert member is not None
    home = draft["answers"].get("start") or member.unit_id
    return {"units": await scope.area_units(context.session, member), "home": home}


@guarded(Role.OFFICIAL)
async def members_command(update: Update, context: DanvanContext) -> None:
    """/thanhvien [CODE]: the members of a unit in the official's area."""
    member = context.member
    assert member is not None
    if not context.args:
        await begin(update, context, MEMBERS_UNIT)
        return
    unit = await named_unit(update, context, " ".join(context.args), audit_as="members_list")
    if unit is None:
        return
    text, markup = await _list_view(context, unit, 0)
    await reply(update, text, reply_markup=markup)


async def show_members(update: Update, context: DanvanContext, draft: Draft, env: Env) -> None:
    """A unit chosen: the first page of its members (if it is still in the member's area)."""
    member = context.member
    assert member is not None
    found = await scope.find_unit(
        context.session,
        member,
        unit_id=draft["answers"]["unit"],
        audit_as="members_list",
        now=env.now,
    )
    if found.unit is None:
        await reply(update, problem_text(context.t, access.ManageOutcome.STALE))
        return
    text, markup = await _list_view(context, found.unit, 0)
    await reply(update, text, reply_markup=markup)


async def _pressed_unit(
    update: Update, context: DanvanContext, action: str, count: int
) -> tuple[CallbackQuery, Unit, list[int]] | None:
    """The pressed list button, its unit (if in the member's area) and its other numbers, the
    button's spinner stopped; otherwise the button is answered (out of the area: refused and
    audited) and None returned."""
    assert context.member is not None
    button = await pressed(update, context, PREFIX, action, count)
    if button is None:
        return None
    query, (unit_id, *rest) = button
    found = await scope.find_unit(
        context.session, context.member, unit_id=unit_id, audit_as="members_list", now=now(context)
    )
    if found.out_of_scope:
        outside = problem_text(context.t, access.ManageOutcome.OUT_OF_SCOPE)
        await query.answer(outside, show_alert=True)
        return None
    if found.unit is None:
        await stale(update, context)
        return None
    await query.answer()
    return query, found.unit, rest


@guarded(Role.OFFICIAL)
async def on_list(update: Update, context: DanvanContext) -> None:
    """◀ ▶ under the list, or ◀ Back on a card: a page of a unit's members."""
    button = await _pressed_unit(update, context, "l", 2)
    if button is not None:
        query, unit, (page,) = button
        text, markup = await _list_view(context, unit, page)
        await edit_in_place(query, text, markup)


@guarded(Role.OFFICIAL)
async def on_other_unit(update: Update, context: DanvanContext) -> None:
    """◀ Back under the list: choose another unit, starting from the one listed."""
    button = await _pressed_unit(update, context, "b", 1)
    if button is not None:
        await begin(update, context, MEMBERS_UNIT, start=pk(button[1]))


# --- one member ------------------------------------------------------------------------------


async def _card(
    context: DanvanContext, target: Member, unit: Unit, note: str | None = None
) -> tuple[str, Markup]:
    member, t = context.member, context.t
    assert member is not None
    target_id = pk(target)
    last = (await members.last_reports(context.session, [target_id])).get(target_id)
    lines = [note, ""] if note else []
    lines.append(
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
    )
    if not target.active:
        lines.append(t._("⛔ Deactivated: cannot use danvan; their records stay."))
    rows = []
    if _new_roles(member, target.role):
        rows.append([Button(t._("👤 Change role"), callback_data=_data("r", target_id))])
    rows.append([Button(t._("🏠 Move to another unit"), callback_data=_data("mv", target_id))])
    if target.active:
        rows.append([Button(t._("⛔ Deactivate"), callback_data=_data("d", target_id))])
    else:
        rows.append([Button(t._("✅ Reactivate"), callback_data=_data("a", target_id))])
    rows.append([Button(t._("◀ Back"), callback_data=_data("l", target.unit_id, 0))])
    return "\n".join(lines), InlineKeyboardMarkup(rows)


async def _target(context: DanvanContext, member_id: int, action: str) -> Change:
    """The member of a button, if the member may manage them (a refusal is audited)."""
    assert context.member is not None
    return await members.find_target(
        context.session, context.member, member_id, now=now(context), action=action
    )


async def _refused(update: Update, context: DanvanContext, change: Change) -> None:
    """Answer the button of a request that did not go through."""
    query = update.callback_query
    assert query is not None
    await query.answer(problem_text(context.t, change.outcome), show_alert=True)


@guarded(Role.OFFICIAL)
async def on_member(update: Update, context: DanvanContext) -> None:
    """A member's button under the list: their card."""
    button = await pressed(update, context, PREFIX, "m", 1)
    if button is None:
        return
    query, (member_id,) = button
    found = await _target(context, member_id, "member_view")
    if not found.ok:
        await _refused(update, context, found)
        return
    assert found.member is not None and found.unit is not None
    await query.answer()
    text, markup = await _card(context, found.member, found.unit)
    await edit_in_place(query, text, markup)


# --- the changes -----------------------------------------------------------------------------


async def _may_change(context: DanvanContext, action: str, member_id: int) -> Change:
    """Whether the card's change may be begun, as storage/members.py would judge it now."""
    assert context.member is not None
    session, actor, moment = context.session, context.member, now(context)
    if action == "d" or action == "a":
        return await members.set_active(
            session, actor, member_id, active=action == "a", now=moment, apply=False
        )
    audited_as = "member_role" if action == "r" else "member_unit"
    found = await _target(context, member_id, audited_as)
    if action != "r" or found.member is None or not found.ok:
        return found
    if not _new_roles(actor, found.member.role):  # an official: coordinator is all they give
        outcome = access.ManageOutcome.ROLE
        await members.record_refusal(
            session, actor, "member", member_id, outcome, audited_as, moment
        )
        return Change(outcome, found.member, found.unit)
    return found


def _new_roles(actor: Member, current: str) -> list[str]:
    """The roles the actor may give a member who has the role `current`."""
    return [role.value for role in access.grantable_roles(actor.role) if role != current]


CHANGES: dict[str, Flow] = {
    "r": MEMBER_ROLE,
    "mv": MEMBER_MOVE,
    "d": MEMBER_DEACTIVATE,
    "a": MEMBER_REACTIVATE,
}


@guarded(Role.OFFICIAL)
async def on_change(update: Update, context: DanvanContext) -> None:
    """👤 Change role, 🏠 Move, ⛔ Deactivate or ✅ Reactivate on a card: begin that change."""
    query = update.callback_query
    assert query is not None
    parts = callbacks.unpack(query.data, PREFIX, 2)
    fields = callbacks.numbers(parts[1:]) if parts is not None else None
    if parts is None or fields is None or parts[0] not in CHANGES:
        await stale(update, context)
        return
    change = await _may_change(context, parts[0], fields[0])
    if not change.ok:
        await _refused(update, context, change)
        return
    target, unit = change.member, change.unit
    assert target is not None and unit is not None
    await query.answer()
    await begin(
        update,
        context,
        CHANGES[parts[0]],
        member=pk(target),
        member_name=target.full_name,
        expected=target.role,
        from_unit=pk(unit),
        from_unit_name=unit.name,
    )


async def what_to_offer(context: DanvanContext, draft: Draft) -> dict[str, Any]:
    """The roles the actor may give now; on the unit step, the units of their area."""
    member = context.member
    assert member is not None
    extra: dict[str, Any] = {"roles": _new_roles(member, draft["answers"]["expected"])}
    if draft["step"] == "unit":
        extra.update(await units_to_list(context, draft))
    return extra


async def back_to_card(update: Update, context: DanvanContext, draft: Draft) -> None:
    """◀ Back on a change's first question: the member's card again, in its place."""
    query = update.callback_query
    assert query is not None
    found = await _target(context, draft["answers"]["member"], "member_view")
    if not found.ok or found.member is None or found.unit is None:
        await edit_in_place(query, problem_text(context.t, found.outcome))
        return
    text, markup = await _card(context, found.member, found.unit)
    await edit_in_place(query, text, markup)


async def _apply(context: DanvanContext, draft: Draft, env: Env) -> Change:
    """The change the card confirmed, if the member may still make it and the member being
    changed is still as the chat found them (storage/members.py checks, audits and does)."""
    actor, session, answers = context.member, context.session, draft["answers"]
    assert actor is not None
    target = answers["member"]
    if draft["flow"] == MEMBER_ROLE.name:
        return await members.change_role(
            session, actor, target, expected=answers["expected"], role=answers["role"], now=env.now
        )
    if draft["flow"] == MEMBER_MOVE.name:
        return await members.change_unit(
            session,
            actor,
            target,
            expected_unit_id=answers["from_unit"],
            unit_id=answers["unit"],
            now=env.now,
        )
    active = draft["flow"] == MEMBER_REACTIVATE.name
    return await members.set_active(session, actor, target, active=active, now=env.now)


def _done_text(t: Translator, flow: str, member: Member, unit: Unit) -> str:
    name = escape_html(member.full_name)
    if flow == MEMBER_ROLE.name:
        return t._(
            "✅ <b>{name}</b> now has the role {role}.", name=name, role=role_label(t, member.role)
        )
    if flow == MEMBER_MOVE.name:
        return t._(
            "✅ <b>{name}</b> now belongs to <b>{unit}</b>.", name=name, unit=escape_html(unit.name)
        )
    if member.active:
        return t._("✅ <b>{name}</b> can use danvan again.", name=name)
    return t._("⛔ <b>{name}</b> was deactivated. Their records stay.", name=name)


async def make_change(update: Update, context: DanvanContext, draft: Draft, env: Env) -> None:
    """A change confirmed: if it went through, keep it, give the member the command menu of
    their role (and active) now, and say so above their card (with their unit, the new one
    after a move); otherwise say why not."""
    t = context.t
    change = await _apply(context, draft, env)
    member, unit = change.member, change.unit
    if not change.ok or member is None or unit is None:
        await reply(update, problem_text(t, change.outcome))
        return
    if draft["flow"] != MEMBER_MOVE.name:
        await refresh_commands(context.bot, member)  # owed, sent once the change commits
    text, markup = await _card(context, member, unit, _done_text(t, draft["flow"], member, unit))
    await reply(update, text, reply_markup=markup)


def flows() -> list[FlowBinding]:
    return [
        FlowBinding(MEMBERS_UNIT, show_members, needs=Role.OFFICIAL, load=units_to_list),
        *(
            FlowBinding(
                flow, make_change, needs=Role.OFFICIAL, load=what_to_offer, leave=back_to_card
            )
            for flow in CHANGES.values()
        ),
    ]


def handlers() -> list[BaseHandler[Update, DanvanContext, Any]]:
    return [
        CommandHandler(["thanhvien", "members"], members_command),
        CallbackQueryHandler(on_list, pattern=r"^mb:l:"),
        CallbackQueryHandler(on_other_unit, pattern=r"^mb:b:"),
        CallbackQueryHandler(on_member, pattern=r"^mb:m:"),
        CallbackQueryHandler(on_change, pattern=r"^mb:(r|mv|d|a):"),
    ]
