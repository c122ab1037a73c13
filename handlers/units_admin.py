"""/donvi (/units): the tree of units in a person's area, a card for each unit, and for admins
the changes: add a unit, rename, move, deactivate, merge, and import a CSV file sent as a
document. The rules live in storage/unit_admin.py, shared with `danvan units ...`.

Officials see their unit's subtree, admins everything (storage/scope.py). Every change is
admin-only (`@guarded(Role.ADMIN)`, so a refusal is answered and audited), is shown on a card
with ✅ / ✖️ first, and is checked again when confirmed.

Typed answers (a code, a name, a level, a unit to find) use Telegram's ForceReply: each
question is a bot message that starts with PROMPT_MARK, and only replies to such messages reach
this module (`PROMPT_REPLY`), so the coordinators' flows and the menu never lose a message to
it. What is being asked, and the change waiting for ✅, are kept in `user_data` (JSON-native,
persisted): a reply to an older question, or ✅ on an older card, is answered as stale.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from telegram import (
    CallbackQuery,
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.error import BadRequest
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.domain import access
from bot.domain.access import Role
from bot.domain.formatting import (
    MESSAGE_LIMIT,
    SHOWN_CODE,
    escape_html,
    format_date,
    shorten,
    split_lines,
    utf16_length,
)
from bot.domain.i18n import Translator
from bot.domain.unit_csv import RowError, UnitRow, describe_row_error, parse_unit_csv
from bot.domain.units import UnitAdminError, describe_problem, find_units
from handlers import conversation as flows
from handlers.common import DanvanContext, RepliesToBotPrompt, guarded, refuse, reply, stale_text
from storage import scope as scopes
from storage import unit_admin, units
from storage.audit import record
from storage.models import Member, Unit, pk

PROMPT_MARK = "🏛"
INPUT = "units_input"  # user_data: the question waiting for a typed answer
CONFIRM = "units_confirm"  # user_data: the change waiting for ✅
TREE_PAGE_UNITS = 30  # units per page of the tree (fewer when their lines are long)
PICK_PAGE_UNITS = 12  # choices per page when picking a unit
FOUND_SHOWN = 10  # units offered when a typed name matches several
MAX_CSV_BYTES = 1_000_000
MAX_CSV_LABEL = "1 MB"
PREVIEW_LINES = 5  # first lines shown of each kind of change in an import preview
ERRORS_SHOWN = 20
CHAT_ACTOR = "chat"


# --- small helpers -------------------------------------------------------------------------------


def _data(context: DanvanContext) -> dict[Any, Any]:
    assert context.user_data is not None
    return context.user_data


def _member(context: DanvanContext) -> Member:
    assert context.member is not None
    return context.member


def _label(unit: Unit) -> str:
    return f"{escape_html(unit.name)} ({escape_html(unit.code)})"


def _button_label(unit: Unit, limit: int = 40) -> str:
    text = f"{unit.code} · {unit.name}"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _numbers(data: str | None) -> list[int]:
    """The numbers after the action in "un:action:1:2"."""
    return [int(part) for part in (data or "").split(":")[2:] if part.isdigit()]


def _is_current(context: DanvanContext, state: dict[str, Any]) -> bool:
    """Whether a question or a card kept in user_data is still within the timeout."""
    asked = datetime.fromisoformat(state["at"])
    limit = timedelta(minutes=context.settings.conversation_timeout_minutes)
    return flows.now(context) - asked <= limit


def _pending(context: DanvanContext, key: str, token: str | None = None) -> dict[str, Any] | None:
    """The live state under `key` (with this token, if given); an expired one is dropped."""
    state: dict[str, Any] | None = _data(context).get(key)
    if state is None or (token is not None and state.get("token") != token):
        return None
    if not _is_current(context, state):
        _data(context).pop(key, None)
        return None
    return state


async def _scope(context: DanvanContext) -> str | None:
    return await scopes.member_scope(context.session, _member(context))


async def _unit(context: DanvanContext, unit_id: int) -> Unit | None:
    """The unit if the member may see it, else None (as if it did not exist)."""
    return (await scopes.find_unit(context.session, _member(context), unit_id=unit_id)).unit


def _is_admin(context: DanvanContext) -> bool:
    return access.check(context.member, Role.ADMIN) is None


async def _edit(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None) -> None:
    try:
        await query.edit_message_text(text, parse_mode="HTML", reply_markup=markup)
    except BadRequest as exc:  # pressed twice: the message already shows this
        if "not modified" not in str(exc).lower():
            raise


async def _stale(update: Update, context: DanvanContext) -> None:
    query = update.callback_query
    if query is not None:
        await query.answer(stale_text(context.t), show_alert=True)
    else:
        await reply(update, stale_text(context.t))


async def _rebuild_jobs(context: DanvanContext) -> None:
    """Moves, merges and imports change which schedule each unit inherits: remake the slot
    jobs, if this application runs them (tests that drive the clock themselves do not)."""
    await context.scheduler.refresh()


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
    codes = [
        InlineKeyboardButton(unit.code[:30], callback_data=f"un:view:{pk(unit)}")
        for unit, _ in shown
    ]
    rows = [codes[i : i + 3] for i in range(0, len(codes), 3)]
    paging = []
    if page > 0:
        paging.append(InlineKeyboardButton("◀", callback_data=f"un:tree:{page - 1}"))
    if page < len(pages) - 1:
        paging.append(InlineKeyboardButton("▶", callback_data=f"un:tree:{page + 1}"))
    if paging:
        rows.append(paging)
    rows.append([InlineKeyboardButton(t._("🔎 Find a unit"), callback_data="un:find")])
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
    """◀ / ▶ under the tree: another page in the same message."""
    query = update.callback_query
    assert query is not None
    await query.answer()
    text, markup = await _tree_view(context, _numbers(query.data)[0])
    await _edit(query, text, markup)


async def _show_found(update: Update, context: DanvanContext, wanted: str) -> None:
    """The card of the unit `wanted` names, or the units it may mean."""
    t = context.t
    found = find_units(wanted, await unit_admin.tree(context.session, await _scope(context)))
    if len(found) == 1:
        text, markup = await _card(context, found[0])
        await reply(update, text, reply_markup=markup)
        return
    if not found:
        await reply(
            update,
            t._(
                "No unit in your area matches “{text}”.",
                text=escape_html(shorten(wanted.strip(), SHOWN_CODE)),
            ),
        )
        return
    buttons = [
        [InlineKeyboardButton(_button_label(unit), callback_data=f"un:view:{pk(unit)}")]
        for unit in found[:FOUND_SHOWN]
    ]
    await reply(
        update,
        t._(
            "Several units match “{text}”; choose one:",
            text=escape_html(shorten(wanted.strip(), SHOWN_CODE)),
        ),
        reply_markup=InlineKeyboardMarkup(buttons),
    )


@guarded(Role.OFFICIAL)
async def on_find(update: Update, context: DanvanContext) -> None:
    """🔎 under the tree: ask for a code or a name."""
    query = update.callback_query
    assert query is not None
    await query.answer()
    await _ask(
        update,
        context,
        "find",
        context.t._("Which unit? Reply to this message with its code or name."),
    )


# --- one unit --------------------------------------------------------------------------------


async def _card(context: DanvanContext, unit: Unit) -> tuple[str, InlineKeyboardMarkup]:
    t, session = context.t, context.session
    found = await unit_admin.summary(session, unit)
    parent = await _unit(context, unit.parent_id) if unit.parent_id else None
    lines = [f"📍 <b>{escape_html(unit.name)}</b> · <code>{escape_html(unit.code)}</code>"]
    lines.append(t._("Level: {level}", level=escape_html(unit.level)))
    if parent is not None:
        lines.append(t._("Part of: {unit}", unit=_label(parent)))
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
    lines.append(_records_line(t, found.records))
    rows: list[list[InlineKeyboardButton]] = []
    unit_id = pk(unit)
    if _is_admin(context):
        if unit.active:
            rows.append(
                [
                    InlineKeyboardButton(
                        t._("➕ Add a unit under it"), callback_data=f"un:add:{unit_id}"
                    )
                ]
            )
            rows.append(
                [
                    InlineKeyboardButton(t._("✏️ Rename"), callback_data=f"un:ren:{unit_id}"),
                    InlineKeyboardButton(t._("↪️ Move"), callback_data=f"un:mv:{unit_id}:0"),
                ]
            )
            rows.append(
                [
                    InlineKeyboardButton(t._("🔀 Merge into…"), callback_data=f"un:mg:{unit_id}:0"),
                    InlineKeyboardButton(
                        t._("⛔ Deactivate the unit"), callback_data=f"un:de:{unit_id}"
                    ),
                ]
            )
        else:
            rows.append(
                [
                    InlineKeyboardButton(t._("✏️ Rename"), callback_data=f"un:ren:{unit_id}"),
                    InlineKeyboardButton(t._("🔀 Merge into…"), callback_data=f"un:mg:{unit_id}:0"),
                ]
            )
    navigation = [InlineKeyboardButton(t._("🗂 All units"), callback_data="un:tree:0")]
    if parent is not None:
        navigation.insert(
            0, InlineKeyboardButton(f"⬆ {parent.code[:30]}", callback_data=f"un:view:{pk(parent)}")
        )
    rows.append(navigation)
    return "\n".join(lines), InlineKeyboardMarkup(rows)


def _records_line(t: Translator, counts: dict[str, int]) -> str:
    return t._(
        "Records: {activities} activities, {land} land pledges, {workdays} workday entries, "
        "{nil} nil reports",
        activities=counts["activity"],
        land=counts["land_pledge"],
        workdays=counts["workday"],
        nil=counts["nil_report"],
    )


@guarded(Role.OFFICIAL)
async def on_view(update: Update, context: DanvanContext) -> None:
    """A unit's code button: its card."""
    query = update.callback_query
    assert query is not None
    unit = await _unit(context, _numbers(query.data)[0])
    if unit is None:
        await _stale(update, context)
        return
    await query.answer()
    text, markup = await _card(context, unit)
    await reply(update, text, reply_markup=markup)


# --- typed answers (ForceReply) ----------------------------------------------------------------


# A reply to one of this module's questions: a bot message that starts with PROMPT_MARK.
# Which question is current is checked by the handler, against user_data.
PROMPT_REPLY = RepliesToBotPrompt(
    lambda text: text.startswith(PROMPT_MARK), name="units_prompt_reply"
)


async def _ask(
    update: Update,
    context: DanvanContext,
    kind: str,
    question: str,
    warning: str | None = None,
    markup: InlineKeyboardMarkup | None = None,
    **state: Any,
) -> None:
    """Ask for a typed answer (a reply to this message); `markup` offers buttons instead."""
    chat = update.effective_chat
    assert chat is not None
    text = f"{PROMPT_MARK} " + (f"⚠️ {warning}\n" if warning else "") + question
    sent = await chat.send_message(
        text, parse_mode="HTML", reply_markup=markup if markup is not None else ForceReply()
    )
    _data(context)[INPUT] = {
        "kind": kind,
        "prompt": sent.message_id,
        "at": flows.now(context).isoformat(),
        **state,
    }


def _fields(state: dict[str, Any]) -> dict[str, Any]:
    """What a question carries on to the next one (not its own kind, message and time)."""
    return {key: value for key, value in state.items() if key not in ("kind", "prompt", "at")}


@guarded(Role.OFFICIAL)
async def on_reply(update: Update, context: DanvanContext) -> None:
    """A reply to one of the questions: check it and ask the next, or show the card."""
    message = update.effective_message
    assert message is not None and message.reply_to_message is not None
    state = _pending(context, INPUT)
    if state is None or state.get("prompt") != message.reply_to_message.message_id:
        await _stale(update, context)
        return
    text = message.text or ""
    kind = state["kind"]
    if kind == "find":
        _data(context).pop(INPUT, None)
        await _show_found(update, context, text)
        return
    if not _is_admin(context):  # e.g. no longer an admin since the question
        _data(context).pop(INPUT, None)
        await _refuse(update, context, "on_reply")
        return
    answers = {
        "code": _on_code,
        "name": _on_name,
        "level": _confirm_add,
        "rename": _on_new_name,
        "mv": _on_target_text,
        "mg": _on_target_text,
    }
    await answers[kind](update, context, state, text)


async def _refuse(update: Update, context: DanvanContext, handler: str) -> None:
    """What the guard does for a refusal, for the checks made inside a handler."""
    member = _member(context)
    denial = access.check(member, Role.ADMIN)
    assert denial is not None
    await record(
        context.session,
        "command",
        None,
        "refused",
        None,
        {"handler": handler, "reason": denial.value},
        actor_id=member.id,
    )
    await refuse(update, context, denial)


async def _asked_unit(update: Update, context: DanvanContext, state: dict[str, Any]) -> Unit | None:
    unit = await _unit(context, int(state["unit"]))
    if unit is None:
        _data(context).pop(INPUT, None)
        await _stale(update, context)
    return unit


# --- adding a unit -------------------------------------------------------------------------------


def _code_question(t: Translator, parent: Unit) -> str:
    return t._(
        "New unit under <b>{parent}</b>. Reply with its code: letters A-Z, digits, '-', '_' "
        "or '.', e.g. CN3.",
        parent=_label(parent),
    )


def _name_question(t: Translator, code: str) -> str:
    return t._("Reply with the name of the new unit {code}.", code=escape_html(code))


def _level_question(t: Translator, name: str) -> str:
    return t._("What level is {name}? Tap one, or reply with another.", name=escape_html(name))


@guarded(Role.ADMIN)
async def on_add(update: Update, context: DanvanContext) -> None:
    """➕ on a card: ask for the new unit's code."""
    query = update.callback_query
    assert query is not None
    parent = await _unit(context, _numbers(query.data)[0])
    if parent is None or not parent.active:
        await _stale(update, context)
        return
    await query.answer()
    await _ask(update, context, "code", _code_question(context.t, parent), unit=pk(parent))


async def _on_code(
    update: Update, context: DanvanContext, state: dict[str, Any], text: str
) -> None:
    parent = await _asked_unit(update, context, state)
    if parent is None:
        return
    t = context.t
    try:
        code = await unit_admin.check_new_code(context.session, text)
    except UnitAdminError as error:
        warning = describe_problem(t, error)
        await _ask(update, context, "code", _code_question(t, parent), warning, unit=pk(parent))
        return
    await _ask(update, context, "name", _name_question(t, code), unit=pk(parent), code=code)


async def _on_name(
    update: Update, context: DanvanContext, state: dict[str, Any], text: str
) -> None:
    parent = await _asked_unit(update, context, state)
    if parent is None:
        return
    t = context.t
    code = state["code"]
    try:
        name = unit_admin.clean_name(text)
    except UnitAdminError as error:
        warning = describe_problem(t, error)
        await _ask(update, context, "name", _name_question(t, code), warning, **_fields(state))
        return
    levels = await unit_admin.common_levels(context.session, parent)
    await _ask_level(update, context, {**state, "name": name, "levels": levels})


async def _ask_level(
    update: Update, context: DanvanContext, state: dict[str, Any], warning: str | None = None
) -> None:
    t = context.t
    buttons = [
        InlineKeyboardButton(level[:40], callback_data=f"un:lv:{index}")
        for index, level in enumerate(state["levels"])
    ]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    rows.append([InlineKeyboardButton(t._("⌨️ Another level"), callback_data="un:lvt")])
    await _ask(
        update,
        context,
        "level",
        _level_question(t, state["name"]),
        warning,
        InlineKeyboardMarkup(rows),
        **_fields(state),
    )


@guarded(Role.ADMIN)
async def on_level(update: Update, context: DanvanContext) -> None:
    """A suggested level: on to the confirmation."""
    query = update.callback_query
    assert query is not None
    state = _pending(context, INPUT)
    index = _numbers(query.data)[0]
    if state is None or state.get("kind") != "level" or index >= len(state["levels"]):
        await _stale(update, context)
        return
    await query.answer()
    await _confirm_add(update, context, state, state["levels"][index])


@guarded(Role.ADMIN)
async def on_level_typed(update: Update, context: DanvanContext) -> None:
    """⌨️ Another level: ask for it as a typed answer."""
    query = update.callback_query
    assert query is not None
    state = _pending(context, INPUT)
    if state is None or state.get("kind") != "level":
        await _stale(update, context)
        return
    await query.answer()
    question = context.t._(
        "Reply with the level of {name}, e.g. thôn or tổ dân phố.",
        name=escape_html(state["name"]),
    )
    await _ask(update, context, "level", question, **_fields(state))


async def _confirm_add(
    update: Update, context: DanvanContext, state: dict[str, Any], text: str
) -> None:
    """A level chosen or typed: show the new unit with ✅ / ✖️."""
    t = context.t
    parent = await _asked_unit(update, context, state)
    if parent is None:
        return
    try:
        level = unit_admin.clean_level(text)
    except UnitAdminError as error:
        await _ask_level(update, context, state, describe_problem(t, error))
        return
    _data(context).pop(INPUT, None)
    question = t._(
        "Add <b>{name}</b> (code {code}, level {level}) under <b>{parent}</b>?",
        name=escape_html(state["name"]),
        code=escape_html(state["code"]),
        level=escape_html(level),
        parent=_label(parent),
    )
    await _confirm(
        update,
        context,
        question,
        "add",
        unit=pk(parent),
        code=state["code"],
        name=state["name"],
        level=level,
    )


# --- renaming ------------------------------------------------------------------------------------


def _rename_question(t: Translator, unit: Unit) -> str:
    return t._(
        "Reply with the new name of <b>{unit}</b>. The current name is kept as its former "
        "name, so it can still be found.",
        unit=_label(unit),
    )


@guarded(Role.ADMIN)
async def on_rename(update: Update, context: DanvanContext) -> None:
    """✏️ on a card: ask for the new name."""
    query = update.callback_query
    assert query is not None
    unit = await _unit(context, _numbers(query.data)[0])
    if unit is None:
        await _stale(update, context)
        return
    await query.answer()
    await _ask(update, context, "rename", _rename_question(context.t, unit), unit=pk(unit))


async def _on_new_name(
    update: Update, context: DanvanContext, state: dict[str, Any], text: str
) -> None:
    unit = await _asked_unit(update, context, state)
    if unit is None:
        return
    t = context.t
    try:
        name = unit_admin.check_rename(unit, text)
    except UnitAdminError as error:
        warning = describe_problem(t, error)
        await _ask(update, context, "rename", _rename_question(t, unit), warning, unit=pk(unit))
        return
    _data(context).pop(INPUT, None)
    question = t._(
        "Rename <b>{old}</b> to <b>{new}</b>?",
        old=_label(unit),
        new=escape_html(name),
    )
    await _confirm(update, context, question, "rename", unit=pk(unit), name=name)


# --- moving and merging: choosing the other unit ----------------------------------------------


def _pick_question(t: Translator, action: str, unit: Unit) -> str:
    if action == "mv":
        return t._(
            "Where should <b>{unit}</b> go? Choose its new parent unit, or type a code or name.",
            unit=_label(unit),
        )
    return t._(
        "Merge <b>{unit}</b> into which unit? Choose it, or type a code or name.",
        unit=_label(unit),
    )


async def _targets(context: DanvanContext, action: str, unit: Unit) -> list[Unit]:
    if action == "mv":
        return await unit_admin.move_targets(context.session, unit, await _scope(context))
    return await unit_admin.merge_targets(context.session, unit, await _scope(context))


async def _picker(
    context: DanvanContext, action: str, unit: Unit, page: int
) -> tuple[str, InlineKeyboardMarkup]:
    t = context.t
    targets = await _targets(context, action, unit)
    pages = max(1, -(-len(targets) // PICK_PAGE_UNITS))
    page = max(0, min(page, pages - 1))
    unit_id = pk(unit)
    shown = targets[page * PICK_PAGE_UNITS : (page + 1) * PICK_PAGE_UNITS]
    rows = [
        [
            InlineKeyboardButton(
                _button_label(target), callback_data=f"un:{action}to:{unit_id}:{pk(target)}"
            )
        ]
        for target in shown
    ]
    paging = []
    if page > 0:
        paging.append(InlineKeyboardButton("◀", callback_data=f"un:{action}:{unit_id}:{page - 1}"))
    if page < pages - 1:
        paging.append(InlineKeyboardButton("▶", callback_data=f"un:{action}:{unit_id}:{page + 1}"))
    if paging:
        rows.append(paging)
    rows.append(
        [
            InlineKeyboardButton(
                t._("⌨️ Type a code or name"), callback_data=f"un:{action}t:{unit_id}"
            )
        ]
    )
    text = _pick_question(t, action, unit)
    if pages > 1:
        text += "\n" + t._("Page {page}/{pages}", page=page + 1, pages=pages)
    if not targets:
        text += "\n" + t._("No unit in your area can take it.")
    return text, InlineKeyboardMarkup(rows)


@guarded(Role.ADMIN)
async def on_pick_page(update: Update, context: DanvanContext) -> None:
    """↪️ Move or 🔀 Merge on a card (page 0), or ◀ / ▶ under the choices."""
    query = update.callback_query
    assert query is not None and query.data is not None
    action = query.data.split(":")[1]
    unit_id, page = _numbers(query.data)
    unit = await _unit(context, unit_id)
    if unit is None or (action == "mv" and not unit.active):
        await _stale(update, context)
        return
    await query.answer()
    text, markup = await _picker(context, action, unit, page)
    if _from_picker(query):
        await _edit(query, text, markup)
    else:
        await reply(update, text, reply_markup=markup)


def _from_picker(query: CallbackQuery) -> bool:
    """Whether the pressed button sits under a list of choices (paging), not on a card."""
    message = query.message
    if not isinstance(message, Message) or message.reply_markup is None:
        return False
    return any(
        (button.callback_data or "").startswith(("un:mvto:", "un:mgto:", "un:mvt:", "un:mgt:"))
        for row in message.reply_markup.inline_keyboard
        for button in row
        if isinstance(button.callback_data, str)
    )


@guarded(Role.ADMIN)
async def on_pick_typed(update: Update, context: DanvanContext) -> None:
    """⌨️ under the choices: ask for the code or name of the other unit."""
    query = update.callback_query
    assert query is not None and query.data is not None
    action = query.data.split(":")[1][:2]
    unit = await _unit(context, _numbers(query.data)[0])
    if unit is None:
        await _stale(update, context)
        return
    await query.answer()
    await _ask(
        update, context, action, _typed_target_question(context.t, action, unit), unit=pk(unit)
    )


def _typed_target_question(t: Translator, action: str, unit: Unit) -> str:
    if action == "mv":
        return t._(
            "Reply with the code or name of the new parent unit of <b>{unit}</b>.",
            unit=_label(unit),
        )
    return t._(
        "Reply with the code or name of the unit that <b>{unit}</b> should be merged into.",
        unit=_label(unit),
    )


async def _on_target_text(
    update: Update, context: DanvanContext, state: dict[str, Any], text: str
) -> None:
    unit = await _asked_unit(update, context, state)
    if unit is None:
        return
    t, action = context.t, state["kind"]
    found = find_units(text, await unit_admin.tree(context.session, await _scope(context)))
    question = _typed_target_question(t, action, unit)
    if len(found) == 1:
        try:
            _check(action, unit, found[0])
        except UnitAdminError as error:
            await _ask(update, context, action, question, describe_problem(t, error), unit=pk(unit))
            return
        _data(context).pop(INPUT, None)
        await _confirm_pair(update, context, action, unit, found[0])
        return
    targets = {pk(target) for target in await _targets(context, action, unit)}
    fitting = [other for other in found if pk(other) in targets]
    if not fitting:
        warning = t._(
            "No unit that fits matches “{text}”.",
            text=escape_html(shorten(text.strip(), SHOWN_CODE)),
        )
        await _ask(update, context, action, question, warning, unit=pk(unit))
        return
    _data(context).pop(INPUT, None)
    buttons = [
        [
            InlineKeyboardButton(
                _button_label(other), callback_data=f"un:{action}to:{pk(unit)}:{pk(other)}"
            )
        ]
        for other in fitting[:FOUND_SHOWN]
    ]
    await reply(
        update,
        t._(
            "Several units match “{text}”; choose one:",
            text=escape_html(shorten(text.strip(), SHOWN_CODE)),
        ),
        reply_markup=InlineKeyboardMarkup(buttons),
    )


def _check(action: str, unit: Unit, other: Unit) -> None:
    if action == "mv":
        unit_admin.check_move(unit, other)
    else:
        unit_admin.check_merge(unit, other)


@guarded(Role.ADMIN)
async def on_picked(update: Update, context: DanvanContext) -> None:
    """A unit chosen to move under or merge into: show what would happen."""
    query = update.callback_query
    assert query is not None and query.data is not None
    action = query.data.split(":")[1][:2]
    unit_id, other_id = _numbers(query.data)
    unit, other = await _unit(context, unit_id), await _unit(context, other_id)
    if unit is None or other is None:
        await _stale(update, context)
        return
    try:
        _check(action, unit, other)
    except UnitAdminError as error:
        await query.answer(describe_problem(context.t, error), show_alert=True)
        return
    await query.answer()
    await _confirm_pair(update, context, action, unit, other)


async def _confirm_pair(
    update: Update, context: DanvanContext, action: str, unit: Unit, other: Unit
) -> None:
    t = context.t
    if action == "mv":
        old = await context.session.get(Unit, unit.parent_id) if unit.parent_id else None
        question = t._(
            "Move <b>{unit}</b>, with everything under it, from <b>{old}</b> to <b>{new}</b>?",
            unit=_label(unit),
            old=_label(old) if old else "—",
            new=_label(other),
        )
        await _confirm(update, context, question, "move", unit=pk(unit), other=pk(other))
        return
    plan = await unit_admin.plan_merge(context.session, unit, other)
    lines = [
        t._(
            "Merge <b>{source}</b> into <b>{target}</b>? Everything of {source} moves to {target}:",
            source=_label(unit),
            target=_label(other),
        ),
        "• " + _records_line(t, {name: len(ids) for name, ids in plan.records.items()}),
        "• "
        + t._(
            "members: {members}, invites: {invites}, units under it: {units}",
            members=len(plan.members),
            invites=len(plan.invites),
            units=len(plan.children),
        ),
    ]
    if plan.schedule == "moved":
        lines.append("• " + t._("its own reminder and digest times"))
    elif plan.schedule == "dropped":
        lines.append(
            "• "
            + t._(
                "its own reminder and digest times are dropped: {target} keeps its own",
                target=_label(other),
            )
        )
    lines.append(t._("Afterwards {source} is inactive. Nothing is deleted.", source=_label(unit)))
    await _confirm(update, context, "\n".join(lines), "merge", unit=pk(unit), other=pk(other))


# --- deactivating --------------------------------------------------------------------------------


@guarded(Role.ADMIN)
async def on_deactivate(update: Update, context: DanvanContext) -> None:
    """⛔ on a card: say what deactivating does, or why it cannot be done."""
    query = update.callback_query
    assert query is not None
    t = context.t
    unit = await _unit(context, _numbers(query.data)[0])
    if unit is None:
        await _stale(update, context)
        return
    member = _member(context)
    try:
        plan = await unit_admin.plan_deactivation(
            context.session, unit, now=flows.now(context), actor_unit_id=member.unit_id
        )
    except UnitAdminError as error:
        await query.answer(describe_problem(t, error), show_alert=True)
        return
    await query.answer()
    question = t._(
        "Deactivate <b>{unit}</b>? Its records are kept. Its {members} active member(s) can "
        "no longer use the bot, and its {invites} open invite(s) are withdrawn.",
        unit=_label(unit),
        members=len(plan.members),
        invites=len(plan.invites),
    )
    await _confirm(update, context, question, "deactivate", unit=pk(unit))


# --- confirming ----------------------------------------------------------------------------------


async def _confirm(
    update: Update, context: DanvanContext, question: str, action: str, **state: Any
) -> None:
    """Show the change with ✅ / ✖️, and keep it until one is pressed."""
    t = context.t
    token = secrets.token_hex(4)
    _data(context)[CONFIRM] = {
        "token": token,
        "action": action,
        "at": flows.now(context).isoformat(),
        **state,
    }
    buttons = [
        InlineKeyboardButton(t._("✅ Confirm"), callback_data=f"un:ok:{token}"),
        InlineKeyboardButton(t._("✖️ Cancel"), callback_data=f"un:no:{token}"),
    ]
    await _reply_lines(update, question.split("\n"), InlineKeyboardMarkup([buttons]))


def _token(query: CallbackQuery) -> str:
    return (query.data or "").rsplit(":", 1)[-1]


async def on_confirm(update: Update, context: DanvanContext) -> None:
    """✅ on a card: make the change; then keep the reminder jobs in step with the tree."""
    if await _apply_confirmed(update, context) is True:
        await _rebuild_jobs(context)  # after the guard's session has committed


@guarded(Role.ADMIN)
async def _apply_confirmed(update: Update, context: DanvanContext) -> bool:
    """Check the change again and make it; True when units moved (schedules may differ)."""
    query = update.callback_query
    assert query is not None
    t = context.t
    state = _pending(context, CONFIRM, _token(query))
    if state is None:
        await _stale(update, context)
        return False
    _data(context).pop(CONFIRM, None)
    await query.answer()
    member = _member(context)
    actor_id, actor_unit_id, now = pk(member), member.unit_id, flows.now(context)
    action = state["action"]
    try:
        if action == "import":
            return await _apply_import(update, context, state, actor_id)
        unit = await _unit(context, int(state["unit"]))
        other = await _unit(context, int(state["other"])) if "other" in state else None
        if unit is None or ("other" in state and other is None):
            await _edit(query, stale_text(t), None)
            return False
        if action == "add":
            added = await unit_admin.add_unit(
                context.session,
                unit,
                code=state["code"],
                name=state["name"],
                level=state["level"],
                now=now,
                actor_id=actor_id,
            )
            done = t._(
                "✅ Added <b>{unit}</b> under <b>{parent}</b>.",
                unit=_label(added),
                parent=_label(unit),
            )
            await _edit(query, done, _open_button(t, added))
            return False
        if action == "rename":
            old = _label(unit)
            await unit_admin.rename(
                context.session, unit, state["name"], now=now, actor_id=actor_id
            )
            done = t._("✅ {old} is now called <b>{new}</b>.", old=old, new=_label(unit))
            await _edit(query, done, _open_button(t, unit))
            return False
        if action == "deactivate":
            label, unit_id = _label(unit), pk(unit)
            plan = await unit_admin.deactivate(
                context.session, unit, now=now, actor_id=actor_id, actor_unit_id=actor_unit_id
            )
            done = t._(
                "✅ {unit} is inactive: {members} member(s) deactivated, {invites} invite(s) "
                "withdrawn.",
                unit=label,
                members=len(plan.members),
                invites=len(plan.invites),
            )
            await _edit(query, done, _open_button(t, unit_id=unit_id))
            return False
        assert other is not None
        label, other_label, unit_id = _label(unit), _label(other), pk(unit)
        if action == "move":
            await unit_admin.move(context.session, unit, other, now=now, actor_id=actor_id)
            done = t._("✅ {unit} is now under {parent}.", unit=label, parent=other_label)
            await _edit(query, done, _open_button(t, unit_id=unit_id))
            return True
        merged = await unit_admin.merge(context.session, unit, other, now=now, actor_id=actor_id)
        done = t._(
            "✅ {source} was merged into {target}: {records} record(s), {members} member(s), "
            "{invites} invite(s) and {units} unit(s) moved.",
            source=label,
            target=other_label,
            records=merged.record_count,
            members=len(merged.members),
            invites=len(merged.invites),
            units=len(merged.children),
        )
        await _edit(query, done, _open_button(t, unit_id=unit_id))
        return True
    except UnitAdminError as error:
        await _edit(query, "⚠️ " + describe_problem(t, error), None)
        return False


def _open_button(
    t: Translator, unit: Unit | None = None, *, unit_id: int | None = None
) -> InlineKeyboardMarkup:
    target = unit_id if unit_id is not None else pk(unit) if unit is not None else 0
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(t._("📍 Open the unit"), callback_data=f"un:view:{target}")]]
    )


@guarded(Role.ADMIN)
async def on_cancel(update: Update, context: DanvanContext) -> None:
    """✖️ on a card: forget the change."""
    query = update.callback_query
    assert query is not None
    if _pending(context, CONFIRM, _token(query)) is None:
        await _stale(update, context)
        return
    _data(context).pop(CONFIRM, None)
    await query.answer()
    await _edit(query, context.t._("Cancelled. Nothing was changed."), None)


# --- importing a CSV file ------------------------------------------------------------------------


def _row_line(t: Translator, row: UnitRow) -> str:
    line = (
        f"<code>{escape_html(row.code)}</code> {escape_html(row.name)} ({escape_html(row.level)})"
    )
    if row.parent_code:
        line += " " + t._("under {parent}", parent=escape_html(row.parent_code))
    return line


def _error_lines(t: Translator, errors: list[RowError]) -> list[str]:
    lines = [t._("Nothing was imported; fix these lines first:")]
    lines += ["• " + escape_html(describe_row_error(t, error)) for error in errors[:ERRORS_SHOWN]]
    if len(errors) > ERRORS_SHOWN:
        lines.append(t._("…and {count} more", count=len(errors) - ERRORS_SHOWN))
    return lines


async def _reply_lines(update: Update, lines: list[str], markup: Any = None) -> None:
    parts = split_lines(lines)
    for index, part in enumerate(parts):
        await reply(update, part, reply_markup=markup if index == len(parts) - 1 else None)


def _too_big(t: Translator, name: str) -> str:
    return t._(
        "{file} is too big: a units file may have at most {limit}.",
        file=escape_html(name),
        limit=MAX_CSV_LABEL,
    )


@guarded(Role.ADMIN)
async def on_document(update: Update, context: DanvanContext) -> None:
    """A CSV file from an admin: show what importing it would change, with ✅ / ✖️."""
    message = update.effective_message
    assert message is not None and message.document is not None
    t = context.t
    document = message.document
    name = document.file_name or "units.csv"
    if document.file_size is not None and document.file_size > MAX_CSV_BYTES:
        await reply(update, _too_big(t, name))
        return
    file = await context.bot.get_file(document.file_id)
    data = bytes(await file.download_as_bytearray())
    if len(data) > MAX_CSV_BYTES:
        await reply(update, _too_big(t, name))
        return
    rows, errors = parse_unit_csv(data)
    plan = None if errors else await units.plan_import(context.session, rows)
    if plan is not None:
        errors = plan.errors
    if errors or plan is None:
        await _reply_lines(update, _error_lines(t, errors))
        return
    if not plan.created and not plan.updated:
        await reply(
            update,
            t._(
                "Nothing to import: the {count} unit(s) in {file} are already up to date.",
                count=len(plan.unchanged),
                file=escape_html(name),
            ),
        )
        return
    by_code = {row.code: row for row in rows}
    lines = [t._("📥 Importing <b>{file}</b> would change this:", file=escape_html(name))]
    for title, codes in (
        (t._("New units: {count}", count=len(plan.created)), plan.created),
        (t._("Changed units: {count}", count=len(plan.updated)), plan.updated),
    ):
        if not codes:
            continue
        lines += ["", f"<b>{title}</b>"]
        lines += ["• " + _row_line(t, by_code[code]) for code in codes[:PREVIEW_LINES]]
        if len(codes) > PREVIEW_LINES:
            lines.append(t._("…and {count} more", count=len(codes) - PREVIEW_LINES))
    if plan.unchanged:
        lines += ["", t._("Unchanged units: {count}", count=len(plan.unchanged))]
    lines += ["", t._("Import the whole file?")]
    token = secrets.token_hex(4)
    _data(context)[CONFIRM] = {
        "token": token,
        "action": "import",
        "at": flows.now(context).isoformat(),
        "file": name,
        "csv": data.decode("utf-8-sig"),
    }
    buttons = [
        InlineKeyboardButton(t._("✅ Confirm"), callback_data=f"un:ok:{token}"),
        InlineKeyboardButton(t._("✖️ Cancel"), callback_data=f"un:no:{token}"),
    ]
    await _reply_lines(update, lines, InlineKeyboardMarkup([buttons]))


async def _apply_import(
    update: Update, context: DanvanContext, state: dict[str, Any], actor_id: int
) -> bool:
    """Import the whole file kept with the card, if it is still good; nothing otherwise."""
    query = update.callback_query
    assert query is not None
    t = context.t
    rows, errors = parse_unit_csv(str(state["csv"]).encode())
    plan = None if errors else await units.plan_import(context.session, rows)
    if plan is not None:
        errors = plan.errors
    if errors or plan is None:
        await _edit(query, "⚠️ " + t._("Nothing was imported."), None)
        await _reply_lines(update, _error_lines(t, errors))
        return False
    await units.apply_import(context.session, plan, actor_label=CHAT_ACTOR)
    await record(
        context.session,
        "unit",
        None,
        "import",
        None,
        {"file": state.get("file"), "created": plan.created, "updated": plan.updated},
        actor_id=actor_id,
        at=flows.now(context),
    )
    done = "✅ " + t._(
        "Imported: {created} created, {updated} updated, {unchanged} unchanged.",
        created=len(plan.created),
        updated=len(plan.updated),
        unchanged=len(plan.unchanged),
    )
    await _edit(query, done, None)
    return True


def handlers() -> list[BaseHandler[Update, DanvanContext, Any]]:
    return [
        CommandHandler(["donvi", "units"], units_command),
        CallbackQueryHandler(on_tree_page, pattern=r"^un:tree:\d+$"),
        CallbackQueryHandler(on_find, pattern=r"^un:find$"),
        CallbackQueryHandler(on_view, pattern=r"^un:view:\d+$"),
        CallbackQueryHandler(on_add, pattern=r"^un:add:\d+$"),
        CallbackQueryHandler(on_level, pattern=r"^un:lv:\d+$"),
        CallbackQueryHandler(on_level_typed, pattern=r"^un:lvt$"),
        CallbackQueryHandler(on_rename, pattern=r"^un:ren:\d+$"),
        CallbackQueryHandler(on_pick_page, pattern=r"^un:(mv|mg):\d+:\d+$"),
        CallbackQueryHandler(on_pick_typed, pattern=r"^un:(mv|mg)t:\d+$"),
        CallbackQueryHandler(on_picked, pattern=r"^un:(mv|mg)to:\d+:\d+$"),
        CallbackQueryHandler(on_deactivate, pattern=r"^un:de:\d+$"),
        CallbackQueryHandler(on_confirm, pattern=r"^un:ok:[0-9a-f]+$"),
        CallbackQueryHandler(on_cancel, pattern=r"^un:no:[0-9a-f]+$"),
        MessageHandler(filters.REPLY & filters.TEXT & ~filters.COMMAND & PROMPT_REPLY, on_reply),
        MessageHandler(
            filters.Document.FileExtension("csv") | filters.Document.MimeType("text/csv"),
            on_document,
        ),
    ]
