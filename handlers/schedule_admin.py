"""/lich (/schedule): see and set when a unit's reminders and digests go out.

The card shows the unit's effective times (bot/domain/schedule.py: the unit's own, else its
parent's, up to the built-in defaults), each marked as the unit's own or inherited, with a ✏️
for each. The unit is the one whose code follows the command, else the official's own when it
has none below it, else chosen in a chat (bot/domain/forms/schedule.py, SCHEDULE_UNIT).

✏️ opens the chat of one time in the card's own message (SCHEDULE): the day, then the time,
tapped or typed ("16:00", "7h30", "16 giờ"); it is saved as soon as the time is given, the
jobs are rebuilt from the database (bot/telegram/jobs.py) so that the new time holds at once,
and the card comes again, saying when the time falls in the quiet hours (which still apply
when the jobs run). "↩️ Use the inherited time" on the day step clears the unit's own setting;
◀ Back there shows the card again. The ✏️ buttons carry the unit's id and every press, answer
and save checks the unit against the official's area again.
"""

from __future__ import annotations

from datetime import time
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.domain import callbacks
from bot.domain.access import Role
from bot.domain.flow import Draft, Env
from bot.domain.formatting import escape_html
from bot.domain.forms.schedule import (
    SCHEDULE,
    SCHEDULE_UNIT,
    SETTINGS,
    Setting,
    chosen_time,
    when_text,
)
from bot.domain.schedule import QuietHours, hhmm
from handlers.common import (
    DanvanContext,
    after_commit,
    edit_in_place,
    guarded,
    named_unit,
    reply,
    stale,
    stale_text,
    unit_options,
)
from handlers.conversation import FlowBinding, begin
from storage import export as store
from storage import schedules, scope
from storage.models import Unit, pk

PREFIX = "sc"
CHANGE = "e"  # ✏️ on the card: sc:e:<unit id>:<setting>


def _quiet(context: DanvanContext) -> QuietHours:
    return QuietHours(context.settings.quiet_start, context.settings.quiet_end)


def _has_own(own: dict[str, Any] | None, setting: Setting) -> bool:
    own = own or {}
    return own.get(setting.day_field) is not None or own.get(setting.time_field) is not None


async def _card(
    context: DanvanContext, unit: Unit, notes: list[str] | None = None
) -> tuple[str, InlineKeyboardMarkup]:
    """The unit's four times, whose they are, and a ✏️ button for each."""
    t = context.t
    unit_id = pk(unit)
    times = (await schedules.effective_times(context.session))[unit_id]
    own = await schedules.own_times(context.session, unit_id)
    lines = [
        *(notes or []),
        t._("⏰ <b>Reminder and digest times: {unit}</b>", unit=escape_html(unit.name)),
    ]
    for setting in SETTINGS.values():
        day, at = times[setting.day_field], times[setting.time_field]
        assert isinstance(day, int) and isinstance(at, time)
        source = t._("own setting") if _has_own(own, setting) else t._("inherited")
        lines.append(f"• {t._(setting.label)}: <b>{when_text(t, setting, day, at)}</b> ({source})")
    quiet = _quiet(context)
    lines += [
        "",
        t._(
            "Nothing is sent in the quiet hours, {start}–{end}; what falls due then goes out "
            "at {end}.",
            start=hhmm(quiet.start),
            end=hhmm(quiet.end),
        ),
    ]
    rows = [
        [
            InlineKeyboardButton(
                f"✏️ {t._(setting.label)}",
                callback_data=callbacks.pack(PREFIX, CHANGE, unit_id, key),
            )
        ]
        for key, setting in SETTINGS.items()
    ]
    return "\n".join(lines), InlineKeyboardMarkup(rows)


async def _show_card(update: Update, context: DanvanContext, unit: Unit) -> None:
    text, markup = await _card(context, unit)
    await reply(update, text, reply_markup=markup)


# --- the command and its unit ----------------------------------------------------------------


async def units_to_choose(context: DanvanContext, draft: Draft) -> dict[str, Any]:
    """The official's own unit and the active units below it, as they are now."""
    assert context.member is not None
    return {"units": unit_options(await store.member_area(context.session, context.member))}


@guarded(Role.OFFICIAL)
async def schedule_command(update: Update, context: DanvanContext) -> None:
    """/lich [CODE]: the card of the unit given, or of the unit chosen."""
    member = context.member
    assert member is not None
    if context.args:
        unit = await named_unit(update, context, " ".join(context.args))
        if unit is None:
            return
        await _show_card(update, context, unit)
        return
    own, *below = await store.member_area(context.session, member)
    if below:
        await begin(update, context, SCHEDULE_UNIT)
    else:
        await _show_card(update, context, own)


async def show_chosen(update: Update, context: DanvanContext, draft: Draft, env: Env) -> None:
    """The unit was chosen: its card (if it is still in the area)."""
    assert context.member is not None
    found = await scope.find_unit(context.session, context.member, unit_id=draft["answers"]["unit"])
    if found.unit is None:
        await reply(update, stale_text(context.t))
        return
    await _show_card(update, context, found.unit)


# --- changing one time -----------------------------------------------------------------------


@guarded(Role.OFFICIAL)
async def on_change(update: Update, context: DanvanContext) -> None:
    """✏️ on the card: the chat of that time, in the card's message (◀ Back brings it back)."""
    query = update.callback_query
    assert query is not None and context.member is not None
    parts = callbacks.unpack(query.data, PREFIX, 3)
    ids = callbacks.numbers(parts[1:2]) if parts is not None and parts[0] == CHANGE else None
    key = parts[2] if parts is not None else ""
    unit = None
    if ids is not None and key in SETTINGS:
        unit = (await scope.find_unit(context.session, context.member, unit_id=ids[0])).unit
    if unit is None or not isinstance(query.message, Message):
        await stale(update, context)
        return
    await query.answer()
    # The flow's first question takes the card's place, as a later question takes the place of
    # the one answered: the draft starts with the card as its prompt.
    in_place = {
        "prompt_message_id": query.message.message_id,
        "prompt_html": query.message.text_html,
    }
    await begin(
        update, context, SCHEDULE, keep=in_place, unit=pk(unit), unit_name=unit.name, setting=key
    )


async def what_the_day_needs(context: DanvanContext, draft: Draft) -> dict[str, Any]:
    """Whether the unit has its own time for the setting (↩️ is offered then)."""
    assert context.member is not None
    answers = draft["answers"]
    if draft["step"] != "day":
        return {}
    found = await scope.find_unit(context.session, context.member, unit_id=answers["unit"])
    if found.unit is None:
        return {}
    own = await schedules.own_times(context.session, pk(found.unit))
    return {"has_own": _has_own(own, SETTINGS[answers["setting"]])}


async def back_to_card(update: Update, context: DanvanContext, draft: Draft) -> None:
    """◀ Back on the day step: the card again, in the same message."""
    assert context.member is not None
    query = update.callback_query
    found = await scope.find_unit(context.session, context.member, unit_id=draft["answers"]["unit"])
    if found.unit is None:
        text, markup = stale_text(context.t), None
    else:
        text, markup = await _card(context, found.unit)
    if query is not None:
        await edit_in_place(query, text, markup)
    else:
        await reply(update, text, reply_markup=markup)


async def save_time(update: Update, context: DanvanContext, draft: Draft, env: Env) -> None:
    """The time was given (or ↩️ pressed): store it, rebuild the jobs, show the card."""
    member, t = context.member, context.t
    assert member is not None
    answers = draft["answers"]
    unit = (await scope.find_unit(context.session, member, unit_id=answers["unit"])).unit
    if unit is None:
        await reply(update, stale_text(t))
        return
    setting = SETTINGS[answers["setting"]]
    what = t._(setting.label)
    if answers.get("reset"):
        changes: dict[str, Any] = {setting.day_field: None, setting.time_field: None}
        notes = [t._("↩️ {what}: back to the inherited time.", what=what)]
    else:
        day, at = int(answers["day"]), chosen_time(draft)
        changes = {setting.day_field: day, setting.time_field: at}
        when = when_text(t, setting, day, at)
        notes = [t._("✅ Saved: {what}, {when}.", what=what, when=when)]
        quiet = _quiet(context)
        if quiet.contains(at):
            notes.append(
                t._(
                    "⚠️ {time} is in the quiet hours ({start}–{end}), so it will go out at {end}.",
                    time=hhmm(at),
                    start=hhmm(quiet.start),
                    end=hhmm(quiet.end),
                )
            )
    await schedules.set_times(context.session, pk(unit), changes, actor_id=member.id)
    text, markup = await _card(context, unit, [*notes, ""])
    await after_commit(context, context.scheduler.rebuild)  # from the new times
    await reply(update, text, reply_markup=markup)


def flows() -> list[FlowBinding]:
    return [
        FlowBinding(SCHEDULE_UNIT, show_chosen, needs=Role.OFFICIAL, load=units_to_choose),
        FlowBinding(
            SCHEDULE,
            save_time,
            needs=Role.OFFICIAL,
            load=what_the_day_needs,
            leave=back_to_card,
        ),
    ]


def handlers() -> list[BaseHandler[Update, DanvanContext, Any]]:
    return [
        CommandHandler(["lich", "schedule"], schedule_command),
        CallbackQueryHandler(on_change, pattern=rf"^{PREFIX}:"),
    ]
