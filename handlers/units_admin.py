"""/donvi (/units): the tree of units in a person's area, a card for each unit, and for admins
the changes: add a unit, rename, move, merge, deactivate, and import a CSV file. The rules live
in storage/unit_admin.py and storage/units.py, shared with `danvan units ...`; the chats are
bot/domain/forms/units.py's flows.

Officials see their unit's subtree, admins everything (storage/scope.py). The tree and the cards
are plain messages whose buttons use the callback codec ("un:<action>:<id>"); anything that
does not decode, or names a unit out of the person's area, is stale. Every change is
admin-only (`@guarded(Role.ADMIN)` on its button, `needs=Role.ADMIN` on every answer), starts
from a unit's card (◀ on its first step shows the card again), ends on a card with ✅ Confirm,
and is checked again, in the person's area as it is then, when confirmed.

A CSV file an admin sends while no chat is in progress starts the import with it; during a
chat, a file is that chat's answer.
"""

from __future__ import annotations

from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.domain import access, callbacks
from bot.domain import flow as engine
from bot.domain.access import Role
from bot.domain.flow import Draft, Env, Flow
from bot.domain.formatting import (
    MESSAGE_LIMIT,
    SHOWN_CODE,
    escape_html,
    format_date,
    shorten,
    split_lines,
    utf16_length,
)
from bot.domain.forms.units import (
    ADD,
    DEACTIVATE,
    FIND,
    IMPORT,
    MERGE,
    MOVE,
    RENAME,
    DeactivationOutline,
    MergeOutline,
    error_lines,
    import_csv,
    problem_text,
    records_line,
    unit_label,
)
from bot.domain.i18n import Translator
from bot.domain.unit_csv import parse_unit_csv
from bot.domain.units import (
    UnitAdminError,
    UnitOption,
    button_label,
    describe_problem,
    find_units,
)
from handlers import conversation
from handlers.common import (
    DanvanContext,
    after_commit,
    edit_in_place,
    guarded,
    refuse,
    reply,
    stale,
    stale_text,
    unit_options,
)
from handlers.conversation import FlowBinding
from storage import scope as scopes
from storage import unit_admin, units
from storage.audit import record
from storage.models import Member, Unit, pk

PREFIX = "un"  # callback data: un:tree:<page>, un:view:<id>, un:add:<id>, ...
TREE_PAGE_UNITS = 30  # units per page of the tree (fewer when their lines are long)
FOUND_SHOWN = 10  # units offered when a typed name matches several
CHAT_ACTOR = "chat"


# --- small helpers -------------------------------------------------------------------------------


def _member(context: DanvanContext) -> Member:
    assert context.member is not None
    return context.member


async def _scope(context: DanvanContext) -> str | None:
    return await scopes.member_scope(context.session, _member(context))


async def _unit(context: DanvanContext, unit_id: int | None) -> Unit | None:
    """The unit if the member may see it, else None (as if it did not exist)."""
    if unit_id is None:
        return None
    return (await scopes.find_unit(context.session, _member(context), unit_id=unit_id)).unit


def _is_admin(context: DanvanContext) -> bool:
    return access.check(context.member, Role.ADMIN) is None


def _one(unit: Unit | None) -> UnitOption | None:
    return unit_options([unit])[0] if unit is not None else None


def _button(text: str, action: str, *parts: int) -> InlineKeyboardButton:
    return InlineKeyboardButton(text, callback_data=callbacks.pack(PREFIX, action, *parts))


def _numbers(update: Update, action: str) -> list[int] | None:
    """The numbers of an "un:<action>:<n>" button; None when the data is not such a button's."""
    query = update.callback_query
    parts = callbacks.unpack(query.data if query is not None else None, PREFIX, 2)
    if parts is None or parts[0] != action:
        return None
    return callbacks.numbers(parts[1:], 1)


def _open_button(t: Translator, unit_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[_button(t._("📍 Open the unit"), "view", unit_id)]])


async def _refuse(update: Update, context: DanvanContext, handler: str) -> None:
    """What the guard does for a refusal, for the checks made inside a handler."""
    denial = access.check(context.member, Role.ADMIN)
    assert denial is not None
    if context.member is not None:
        await record(
            context.session,
            "command",
            None,
            "refused",
            None,
            {"handler": handler, "reason": denial.value},
            unit_id=context.member.unit_id,
            actor_id=context.member.id,
        )
    await refuse(update, context, denial)


async def _show(update: Update, text: str, markup: InlineKeyboardMarkup | None) -> None:
    """In the pressed message, if a button was pressed; else as a new message."""
    query = update.callback_query
    if query is not None and query.message is not None:
        await edit_in_place(query, text, markup)
    else:
        await reply(update, text, reply_markup=markup)


# --- the tree --------------------------------------------------------------------------------


def _tree_line(t: Translator, unit: Unit, depth: int) -> str:
    line = "    " * depth + ("└ " if depth else "")
    line += f"<b>{escape_html(unit.code)}</b> {escape_html(unit.name)} · <i>"
    line += escape_html(unit.level) + "</i>"
    if unit.former_name:
        line += " (" + t._("formerly {name}", name=escape_html(unit.former_name)) + ")"
    if not unit.active:
        line += " ⛔ " + t._("[inactive]")
    return line


def _tree_pages(t: Translator, found: list[Unit], reserve: int) -> list[list[tuple[Unit, str]]]:
    """The units with their lines, cut into pages that each fit one message."""
    pages: list[list[tuple[Unit, str]]] = []
    current: list[tuple[Unit, str]] = []
    size = reserve
    for unit in found:
        line = _tree_line(t, unit, unit_admin.relative_depth(unit, found))
        length = utf16_length(line) + 1
        if current and (len(current) >= TREE_PAGE_UNITS or size + length > MESSAGE_LIMIT):
            pages.append(current)
            current, size = [], reserve
        current.append((unit, line))
        size += length
    if current:
        pages.append(current)
    return pages


async def _tree_view(context: DanvanContext, page: int) -> tuple[str, InlineKeyboardMarkup]:
    t = context.t
    found = await unit_admin.tree(context.session, await _scope(context))
    footer = t._("Tap a code to open its card, or send /donvi with a code or a name.")
    if _is_admin(context):
        footer += "\n" + t._("To import units, send a CSV file (code,name,level,parent_code).")
    pages = _tree_pages(t, found, utf16_length(footer) + 120)
    page = max(0, min(page, len(pages) - 1))
    header = t._("🗂 <b>Units</b> · page {page}/{pages}", page=page + 1, pages=max(len(pages), 1))
    shown = pages[page] if pages else []
    text = "\n".join([header, "", *(line for _, line in shown), "", footer])
    codes = [_button(shorten(unit.code, 30), "view", pk(unit)) for unit, _ in shown]
    rows = [codes[i : i + 3] for i in range(0, len(codes), 3)]
    paging = []
    if page > 0:
        paging.append(_button("◀", "tree", page - 1))
    if page < len(pages) - 1:
        paging.append(_button("▶", "tree", page + 1))
    if paging:
        rows.append(paging)
    rows.append([InlineKeyboardButton(t._("🔎 Find a unit"), callback_data=f"{PREFIX}:find")])
    if _is_admin(context):
        rows.append(
            [
                InlineKeyboardButton(
                    t._("📥 Import units from a CSV file"), callback_data=f"{PREFIX}:import"
                )
            ]
        )
    return text, InlineKeyboardMarkup(rows)


@guarded(Role.OFFICIAL)
async def units_command(update: Update, context: DanvanContext) -> None:
    """/donvi [code or name]: the units of the area, or the one named."""
    wanted = " ".join(context.args or [])
    if wanted.strip():
        await _show_found(update, context, wanted)
        return
    text, markup = await _tree_view(context, 0)
    await reply(update, text, reply_markup=markup)


@guarded(Role.OFFICIAL)
async def on_tree_page(update: Update, context: DanvanContext) -> None:
    """◀ / ▶ under the tree (or 🗂 on a card): that page, in the same message."""
    query = update.callback_query
    assert query is not None
    page = _numbers(update, "tree")
    if page is None:
        await stale(update, context)
        return
    await query.answer()
    text, markup = await _tree_view(context, page[0])
    await edit_in_place(query, text, markup)


async def _show_found(update: Update, context: DanvanContext, wanted: str) -> None:
    """The card of the unit `wanted` names, or the units it may mean."""
    t = context.t
    found = find_units(wanted, await unit_admin.tree(context.session, await _scope(context)))
    shown = escape_html(shorten(wanted.strip(), SHOWN_CODE))
    if len(found) == 1:
        text, markup = await _card(context, found[0])
        await reply(update, text, reply_markup=markup)
        return
    if not found:
        await reply(update, t._("No unit in your area matches “{text}”.", text=shown))
        return
    buttons = [[_button(button_label(unit), "view", pk(unit))] for unit in found[:FOUND_SHOWN]]
    await reply(
        update,
        t._("Several units match “{text}”; choose one:", text=shown),
        reply_markup=InlineKeyboardMarkup(buttons),
    )


@guarded(Role.OFFICIAL)
async def on_find(update: Update, context: DanvanContext) -> None:
    """🔎 under the tree: ask for a code or a name (typed as a plain message)."""
    query = update.callback_query
    assert query is not None
    await query.answer()
    await conversation.begin(update, context, FIND)


# --- one unit --------------------------------------------------------------------------------


async def _card(context: DanvanContext, unit: Unit) -> tuple[str, InlineKeyboardMarkup]:
    t, session = context.t, context.session
    found = await unit_admin.summary(session, unit)
    parent = await _unit(context, unit.parent_id)
    lines = [f"📍 <b>{escape_html(unit.name)}</b> · <code>{escape_html(unit.code)}</code>"]
    lines.append(t._("Level: {level}", level=escape_html(unit.level)))
    if parent is not None:
        lines.append(t._("Part of: {unit}", unit=unit_label(parent)))
    if unit.former_name:
        lines.append(t._("Former name: {name}", name=escape_html(unit.former_name)))
    if not unit.active:
        note = await unit_admin.merge_note(session, unit)
        if note is not None:
            lines.append(
                "⛔ "
                + t._(
                    "Inactive: merged into {unit} on {date}.",
                    unit=f"{escape_html(note.into_name)} ({escape_html(note.into_code)})",
                    date=format_date(note.at.astimezone(context.settings.tz).date()),
                )
            )
        else:
            lines.append("⛔ " + t._("[inactive]"))
    lines.append(
        t._(
            "Units under it: {units} · active members: {members}",
            units=found.subtree,
            members=found.members,
        )
    )
    lines.append(records_line(t, found.records))
    rows: list[list[InlineKeyboardButton]] = []
    unit_id = pk(unit)
    if _is_admin(context):
        rename = _button(t._("✏️ Rename"), "rename", unit_id)
        merge = _button(t._("🔀 Merge into…"), "merge", unit_id)
        if unit.active:
            rows.append([_button(t._("➕ Add a unit under it"), "add", unit_id)])
            rows.append([rename, _button(t._("↪️ Move"), "move", unit_id)])
            rows.append([merge, _button(t._("⛔ Deactivate the unit"), "deactivate", unit_id)])
        else:
            rows.append([rename, merge])
    navigation = [_button(t._("🗂 All units"), "tree", 0)]
    if parent is not None:
        navigation.insert(0, _button(f"⬆ {shorten(parent.code, 30)}", "view", pk(parent)))
    rows.append(navigation)
    return "\n".join(lines), InlineKeyboardMarkup(rows)


async def _pressed_unit(
    update: Update, context: DanvanContext, action: str, *, active_only: bool = False
) -> Unit | None:
    """The unit of an "un:<action>:<id>" button, if in the member's area (and active, when
    asked); otherwise the button is answered as stale and None returned."""
    unit_id = _numbers(update, action)
    unit = await _unit(context, unit_id[0]) if unit_id is not None else None
    if unit is None or (active_only and not unit.active):
        await stale(update, context)
        return None
    return unit


@guarded(Role.OFFICIAL)
async def on_view(update: Update, context: DanvanContext) -> None:
    """A unit's code button: its card."""
    query = update.callback_query
    assert query is not None
    unit = await _pressed_unit(update, context, "view")
    if unit is None:
        return
    await query.answer()
    text, markup = await _card(context, unit)
    await reply(update, text, reply_markup=markup)


# --- the changes: started from a card --------------------------------------------------------


async def _start_change(
    update: Update, context: DanvanContext, action: str, flow: Flow, *, active_only: bool = False
) -> None:
    query = update.callback_query
    assert query is not None
    unit = await _pressed_unit(update, context, action, active_only=active_only)
    if unit is None:
        return
    await query.answer()
    await conversation.begin(update, context, flow, unit=pk(unit))


@guarded(Role.ADMIN)
async def on_add(update: Update, context: DanvanContext) -> None:
    """➕ on a card: a new unit under it, starting with its code."""
    await _start_change(update, context, "add", ADD, active_only=True)


@guarded(Role.ADMIN)
async def on_rename(update: Update, context: DanvanContext) -> None:
    """✏️ on a card: ask for the new name."""
    await _start_change(update, context, "rename", RENAME)


@guarded(Role.ADMIN)
async def on_move(update: Update, context: DanvanContext) -> None:
    """↪️ on a card: choose the new parent unit."""
    await _start_change(update, context, "move", MOVE, active_only=True)


@guarded(Role.ADMIN)
async def on_merge(update: Update, context: DanvanContext) -> None:
    """🔀 on a card: choose the unit to merge it into."""
    await _start_change(update, context, "merge", MERGE)


@guarded(Role.ADMIN)
async def on_deactivate(update: Update, context: DanvanContext) -> None:
    """⛔ on a card: say what deactivating does (on the confirmation), or why it cannot be
    done (an alert)."""
    query = update.callback_query
    assert query is not None
    unit = await _pressed_unit(update, context, "deactivate")
    if unit is None:
        return
    member = _member(context)
    try:
        await unit_admin.plan_deactivation(
            context.session, unit, now=conversation.now(context), actor_unit_id=member.unit_id
        )
    except UnitAdminError as error:
        # An alert shows plain text, at most 200 characters.
        await query.answer(shorten(describe_problem(context.t, error), 200), show_alert=True)
        return
    await query.answer()
    await conversation.begin(update, context, DEACTIVATE, unit=pk(unit))


# --- what the steps need (loaders) -----------------------------------------------------------


async def _started_from(context: DanvanContext, draft: Draft) -> Unit | None:
    unit_id = draft["answers"].get("unit")
    return await _unit(context, unit_id if isinstance(unit_id, int) else None)


async def load_unit(context: DanvanContext, draft: Draft) -> dict[str, Any]:
    """The unit the change is about, as the member may see it now."""
    return {"unit": _one(await _started_from(context, draft))}


async def load_add(context: DanvanContext, draft: Draft) -> dict[str, Any]:
    """The parent (if still active and in the area), the codes taken (for the code) and the
    levels to offer (read when the name is given, kept with the draft)."""
    parent = await _started_from(context, draft)
    if parent is None or not parent.active:
        return {"unit": None}
    extra: dict[str, Any] = {"unit": _one(parent)}
    if draft["step"] == "code":
        extra["taken"] = await unit_admin.taken_codes(context.session)
    elif draft["step"] == "name":
        extra["levels"] = await unit_admin.common_levels(context.session, parent)
    return extra


async def _load_other(context: DanvanContext, draft: Draft, *, move: bool) -> dict[str, Any]:
    """For a move or a merge: while choosing, the units that fit and every unit of the area;
    once chosen, the chosen one (and what a merge would move)."""
    unit = await _started_from(context, draft)
    if unit is None or (move and not unit.active):
        return {"unit": None}
    extra: dict[str, Any] = {"unit": _one(unit)}
    if draft["step"] == "target":
        area = await unit_admin.tree(context.session, await _scope(context))
        fitting = (
            unit_admin.move_choices(unit, area) if move else unit_admin.merge_choices(unit, area)
        )
        extra.update(units=unit_options(fitting), area=unit_options(area))
        return extra
    target = await _unit(context, draft["answers"].get("target"))
    extra["target"] = _one(target)
    if move:
        extra["parent"] = _one(await _unit(context, unit.parent_id))
    elif target is not None:
        try:
            plan = await unit_admin.plan_merge(context.session, unit, target)
        except UnitAdminError as error:
            extra["problem"] = problem_text(context.t, error)
        else:
            extra["plan"] = MergeOutline(
                records={name: len(ids) for name, ids in plan.records.items()},
                members=len(plan.members),
                invites=len(plan.invites),
                units=len(plan.children),
                schedule=plan.schedule,
            )
    return extra


async def load_move(context: DanvanContext, draft: Draft) -> dict[str, Any]:
    return await _load_other(context, draft, move=True)


async def load_merge(context: DanvanContext, draft: Draft) -> dict[str, Any]:
    return await _load_other(context, draft, move=False)


async def load_deactivate(context: DanvanContext, draft: Draft) -> dict[str, Any]:
    """What deactivating the unit would do now, or why it cannot be done."""
    unit = await _started_from(context, draft)
    if unit is None:
        return {"unit": None}
    try:
        plan = await unit_admin.plan_deactivation(
            context.session,
            unit,
            now=conversation.now(context),
            actor_unit_id=_member(context).unit_id,
        )
    except UnitAdminError as error:
        return {"unit": _one(unit), "problem": problem_text(context.t, error)}
    outline = DeactivationOutline(members=len(plan.members), invites=len(plan.invites))
    return {"unit": _one(unit), "plan": outline}


async def load_import(context: DanvanContext, draft: Draft) -> dict[str, Any]:
    """The units there are, which the file's rows are compared with."""
    return {"known": await units.known_units(context.session)}


async def load_find(context: DanvanContext, draft: Draft) -> dict[str, Any]:
    """The units of the member's area, inactive ones too."""
    return {"area": unit_options(await unit_admin.tree(context.session, await _scope(context)))}


# --- where ◀ on a first step leads -----------------------------------------------------------


async def back_to_card(update: Update, context: DanvanContext, draft: Draft) -> None:
    """The unit's card again, in the message of the question."""
    unit = await _started_from(context, draft)
    if unit is None:
        await _show(update, stale_text(context.t), None)
        return
    await _show(update, *(await _card(context, unit)))


async def back_to_tree(update: Update, context: DanvanContext, draft: Draft) -> None:
    await _show(update, *(await _tree_view(context, 0)))


# --- doing it (checked again first) ----------------------------------------------------------


async def _done(
    update: Update, context: DanvanContext, text: str, unit_id: int, *, rebuild: bool = False
) -> None:
    """The change is made: say so (with 📍 to open the unit), and for moves, merges and
    imports remake the reminder jobs, which follow the tree, once it is committed."""
    await reply(update, text, reply_markup=_open_button(context.t, unit_id))
    if rebuild:
        await after_commit(context, context.scheduler.refresh)


async def _refused(
    update: Update, context: DanvanContext, error: UnitAdminError, unit_id: int
) -> None:
    await reply(
        update, "⚠️ " + problem_text(context.t, error), reply_markup=_open_button(context.t, unit_id)
    )


async def finish_find(
    update: Update, context: DanvanContext, draft: Draft, env: Env
) -> engine.Reply | None:
    unit = await _unit(context, draft["answers"].get("unit"))
    if unit is None:
        await reply(update, stale_text(context.t))
        return None
    text, markup = await _card(context, unit)
    await reply(update, text, reply_markup=markup)
    return None


async def finish_add(
    update: Update, context: DanvanContext, draft: Draft, env: Env
) -> engine.Reply | None:
    t, answers = context.t, draft["answers"]
    parent = await _started_from(context, draft)
    if parent is None:
        await reply(update, stale_text(t))
        return None
    parent_id, parent_label = pk(parent), unit_label(parent)
    try:
        added = await unit_admin.add_unit(
            context.session,
            parent,
            code=answers["code"],
            name=answers["name"],
            level=answers["level"],
            now=env.now,
            actor_id=pk(_member(context)),
        )
    except UnitAdminError as error:
        await _refused(update, context, error, parent_id)
        return None
    done = t._(
        "✅ Added <b>{unit}</b> under <b>{parent}</b>.", unit=unit_label(added), parent=parent_label
    )
    await _done(update, context, done, pk(added))
    return None


async def finish_rename(
    update: Update, context: DanvanContext, draft: Draft, env: Env
) -> engine.Reply | None:
    t = context.t
    unit = await _started_from(context, draft)
    if unit is None:
        await reply(update, stale_text(t))
        return None
    unit_id, old = pk(unit), unit_label(unit)
    try:
        await unit_admin.rename(
            context.session,
            unit,
            draft["answers"]["name"],
            now=env.now,
            actor_id=pk(_member(context)),
        )
    except UnitAdminError as error:
        await _refused(update, context, error, unit_id)
        return None
    done = t._("✅ {old} is now called <b>{new}</b>.", old=old, new=unit_label(unit))
    await _done(update, context, done, unit_id)
    return None


async def _pair(context: DanvanContext, draft: Draft) -> tuple[Unit, Unit] | None:
    unit = await _started_from(context, draft)
    other = await _unit(context, draft["answers"].get("target"))
    return (unit, other) if unit is not None and other is not None else None


async def finish_move(
    update: Update, context: DanvanContext, draft: Draft, env: Env
) -> engine.Reply | None:
    t = context.t
    pair = await _pair(context, draft)
    if pair is None:
        await reply(update, stale_text(t))
        return None
    unit, parent = pair
    unit_id, label, parent_label = pk(unit), unit_label(unit), unit_label(parent)
    try:
        await unit_admin.move(
            context.session, unit, parent, now=env.now, actor_id=pk(_member(context))
        )
    except UnitAdminError as error:
        await _refused(update, context, error, unit_id)
        return None
    done = t._("✅ {unit} is now under {parent}.", unit=label, parent=parent_label)
    await _done(update, context, done, unit_id, rebuild=True)
    return None


async def finish_merge(
    update: Update, context: DanvanContext, draft: Draft, env: Env
) -> engine.Reply | None:
    t = context.t
    pair = await _pair(context, draft)
    if pair is None:
        await reply(update, stale_text(t))
        return None
    unit, target = pair
    unit_id, label, target_label = pk(unit), unit_label(unit), unit_label(target)
    try:
        merged = await unit_admin.merge(
            context.session, unit, target, now=env.now, actor_id=pk(_member(context))
        )
    except UnitAdminError as error:
        await _refused(update, context, error, unit_id)
        return None
    done = t._(
        "✅ {source} was merged into {target}: {records} record(s), {members} member(s), "
        "{invites} invite(s) and {units} unit(s) moved.",
        source=label,
        target=target_label,
        records=merged.record_count,
        members=len(merged.members),
        invites=len(merged.invites),
        units=len(merged.children),
    )
    await _done(update, context, done, unit_id, rebuild=True)
    return None


async def finish_deactivate(
    update: Update, context: DanvanContext, draft: Draft, env: Env
) -> engine.Reply | None:
    t, member = context.t, _member(context)
    unit = await _started_from(context, draft)
    if unit is None:
        await reply(update, stale_text(t))
        return None
    unit_id, label = pk(unit), unit_label(unit)
    try:
        plan = await unit_admin.deactivate(
            context.session, unit, now=env.now, actor_id=pk(member), actor_unit_id=member.unit_id
        )
    except UnitAdminError as error:
        await _refused(update, context, error, unit_id)
        return None
    done = t._(
        "✅ {unit} is inactive: {members} member(s) deactivated, {invites} invite(s) withdrawn.",
        unit=label,
        members=len(plan.members),
        invites=len(plan.invites),
    )
    await _done(update, context, done, unit_id)
    return None


async def finish_import(
    update: Update, context: DanvanContext, draft: Draft, env: Env
) -> engine.Reply | None:
    """Import the whole file kept with the draft, if it is still good; nothing otherwise."""
    t = context.t
    rows, errors = parse_unit_csv(import_csv(draft))
    plan = None if errors else await units.plan_import(context.session, rows)
    if plan is not None:
        errors = plan.errors
    if errors or plan is None:
        lines = error_lines(t, errors)
        for part in split_lines(["⚠️ " + lines[0], *lines[1:]]):
            await reply(update, part)
        return None
    actor_id = pk(_member(context))  # read before the import expires every loaded row
    await units.apply_import(context.session, plan, actor_label=CHAT_ACTOR)
    await record(
        context.session,
        "unit",
        None,
        "import",
        None,
        {"file": draft["answers"].get("file"), "created": plan.created, "updated": plan.updated},
        unit_id=None,  # a file may touch any unit: for admins only, like the command itself
        actor_id=actor_id,
        at=env.now,
    )
    done = "✅ " + t._(
        "Imported: {created} created, {updated} updated, {unchanged} unchanged.",
        created=len(plan.created),
        updated=len(plan.updated),
        unchanged=len(plan.unchanged),
    )
    await reply(update, done)
    await after_commit(context, context.scheduler.refresh)
    return None


# --- importing: a CSV file sent --------------------------------------------------------------


@guarded(None)
async def on_document(update: Update, context: DanvanContext) -> None:
    """A CSV file: the answer of the chat in progress, if there is one; from an admin, else,
    the start of an import, with the file as its first answer (the preview, or why not)."""
    message = update.effective_message
    assert message is not None and message.document is not None
    if await conversation.live_draft(update, context) is not None:
        await conversation.advance(update, context, conversation.message_input(message))
        return
    if not _is_admin(context):
        await _refuse(update, context, "on_document")
        return
    await conversation.begin(update, context, IMPORT, first=conversation.message_input(message))


@guarded(Role.ADMIN)
async def on_import(update: Update, context: DanvanContext) -> None:
    """📥 under the tree: ask for the file."""
    query = update.callback_query
    assert query is not None
    await query.answer()
    await conversation.begin(update, context, IMPORT)


def flows() -> list[FlowBinding]:
    return [
        FlowBinding(FIND, finish_find, needs=Role.OFFICIAL, load=load_find, leave=back_to_tree),
        FlowBinding(ADD, finish_add, needs=Role.ADMIN, load=load_add, leave=back_to_card),
        FlowBinding(RENAME, finish_rename, needs=Role.ADMIN, load=load_unit, leave=back_to_card),
        FlowBinding(MOVE, finish_move, needs=Role.ADMIN, load=load_move, leave=back_to_card),
        FlowBinding(MERGE, finish_merge, needs=Role.ADMIN, load=load_merge, leave=back_to_card),
        FlowBinding(
            DEACTIVATE,
            finish_deactivate,
            needs=Role.ADMIN,
            load=load_deactivate,
            leave=back_to_card,
        ),
        FlowBinding(IMPORT, finish_import, needs=Role.ADMIN, load=load_import, leave=back_to_tree),
    ]


def handlers() -> list[BaseHandler[Update, DanvanContext, Any]]:
    return [
        CommandHandler(["donvi", "units"], units_command),
        CallbackQueryHandler(on_tree_page, pattern=rf"^{PREFIX}:tree:"),
        CallbackQueryHandler(on_find, pattern=rf"^{PREFIX}:find$"),
        CallbackQueryHandler(on_import, pattern=rf"^{PREFIX}:import$"),
        CallbackQueryHandler(on_view, pattern=rf"^{PREFIX}:view:"),
        CallbackQueryHandler(on_add, pattern=rf"^{PREFIX}:add:"),
        CallbackQueryHandler(on_rename, pattern=rf"^{PREFIX}:rename:"),
        CallbackQueryHandler(on_move, pattern=rf"^{PREFIX}:move:"),
        CallbackQueryHandler(on_merge, pattern=rf"^{PREFIX}:merge:"),
        CallbackQueryHandler(on_deactivate, pattern=rf"^{PREFIX}:deactivate:"),
        MessageHandler(
            filters.Document.FileExtension("csv") | filters.Document.MimeType("text/csv"),
            on_document,
        ),
    ]
