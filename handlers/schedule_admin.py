"""/lich (/schedule): see and set when a unit's reminders and digests go out.

The card shows the unit's effective times (bot/schedule.py: the unit's own, else its parent's,
up to the built-in defaults), each marked as the unit's own or inherited. To change one: ✏️ on
the card, then the day (a weekday, or a day of the month for the monthly digest), then the
time, tapped or typed ("16:00", "7h30", "16 giờ"). ↩️ clears the unit's own setting, so that
it inherits again. After every change the JobQueue jobs are rebuilt from the database
(bot/jobs.py), so the new time holds at once; quiet hours still apply when the jobs run, and
the card says so when a chosen time falls in them.

Typing the time is the one step that needs memory between messages: a small persistent
ConversationHandler waits in TYPING_TIME for a message that looks like a time, and
user_data["schedule_time"] says for which unit, slot and day. Other messages pass on to the
other handlers untouched. Every button carries the unit's id, and every press checks the
scope again.
"""

from __future__ import annotations

import contextlib
import re
import warnings
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)
from telegram.warnings import PTBUserWarning

from bot.domain.access import Role
from bot.domain.formatting import SHOWN_CODE, escape_html, shorten
from bot.domain.i18n import N_, Translator
from bot.domain.periods import WEEKDAYS
from bot.domain.schedule import QuietHours
from bot.domain.textnorm import fold
from handlers import conversation as flows
from handlers.common import DanvanContext, guarded, listed_units, reply, stale_text
from handlers.stats import (
    child_units,
    command_name,
    own_unit,
    scoped_unit,
    typed_unit,
    unit_keyboard,
)
from storage import schedules
from storage.models import Unit, pk

PREFIX = "sc"
PENDING = "schedule_time"  # user_data key: the time being typed is for this unit, slot, day
TYPING_TIME = 1
END = ConversationHandler.END


@dataclass(frozen=True)
class Slot:
    """One of the four schedule entries: a day field and a time field of the Schedule table."""

    day_field: str
    time_field: str
    label: str
    monthly: bool = False


SLOTS: dict[str, Slot] = {
    "r": Slot("reminder_weekday", "reminder_time", N_("Reminder to coordinators")),
    "f": Slot("followup_weekday", "followup_time", N_("Follow-up to officials")),
    "w": Slot("weekly_digest_weekday", "weekly_digest_time", N_("Weekly digest")),
    "m": Slot("monthly_digest_day", "monthly_digest_time", N_("Monthly digest"), monthly=True),
}
MONTH_DAYS = range(1, 29)  # every month has them
TIME_BUTTONS = ["07:00", "07:30", "08:00", "09:00", "11:00", "14:00", "16:00", "17:00", "19:00"]

# "16:00", "7h30", "16h", "16 giờ 30": hours, a separator, maybe minutes. Not "7.30", which
# could be a number meant for a form (0.5 workdays) while a time is awaited.
_TIME_TEXT = re.compile(r"(\d{1,2})\s*(?::|h|g|gio)\s*(\d{1,2})?\s*(?:phut|p)?")


def looks_like_time(text: str) -> bool:
    return _TIME_TEXT.fullmatch(fold(text)) is not None


def parse_time(text: str) -> time | None:
    """The time typed, or None when it is not one (also "25:00" or "7:75")."""
    match = _TIME_TEXT.fullmatch(fold(text))
    if match is None:
        return None
    hour, minute = int(match[1]), int(match[2] or 0)
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


class _TimeText(filters.MessageFilter):
    """A text message that looks like a time of day."""

    def filter(self, message: Message) -> bool:
        return message.text is not None and looks_like_time(message.text)


# --- texts ---------------------------------------------------------------------------------------


def hhmm(value: time) -> str:
    return value.strftime("%H:%M")


def day_text(t: Translator, slot: Slot, day: int) -> str:
    if slot.monthly:
        return t._("day {day} of the month", day=day)
    return t._(WEEKDAYS[day])


def when_text(t: Translator, slot: Slot, day: int, at: time) -> str:
    return t._("{day} at {time}", day=day_text(t, slot, day), time=hhmm(at))


def _quiet(context: DanvanContext) -> QuietHours:
    return QuietHours(context.settings.quiet_start, context.settings.quiet_end)


def _back(t: Translator, unit: Unit) -> list[InlineKeyboardButton]:
    return [InlineKeyboardButton(t._("◀ Back"), callback_data=f"{PREFIX}:c:{pk(unit)}")]


async def _card(
    context: DanvanContext, unit: Unit, notes: list[str] | None = None
) -> tuple[str, InlineKeyboardMarkup]:
    """The unit's four times, whose they are, and a ✏️ button for each."""
    t = context.t
    unit_id = pk(unit)
    times = (await schedules.effective_times(context.session))[unit_id]
    own = await schedules.own_times(context.session, unit_id) or {}
    lines = [
        *(notes or []),
        t._("⏰ <b>Reminder and digest times: {unit}</b>", unit=escape_html(unit.name)),
    ]
    for slot in SLOTS.values():
        day, at = times[slot.day_field], times[slot.time_field]
        assert isinstance(day, int) and isinstance(at, time)
        mine = own.get(slot.day_field) is not None or own.get(slot.time_field) is not None
        source = t._("own setting") if mine else t._("inherited")
        lines.append(f"• {t._(slot.label)}: <b>{when_text(t, slot, day, at)}</b> ({source})")
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
        [InlineKeyboardButton(f"✏️ {t._(slot.label)}", callback_data=f"{PREFIX}:e:{unit_id}:{key}")]
        for key, slot in SLOTS.items()
    ]
    return "\n".join(lines), InlineKeyboardMarkup(rows)


async def _edit(update: Update, text: str, markup: InlineKeyboardMarkup | None) -> None:
    """Show `text` in place of the message whose button was pressed."""
    query = update.callback_query
    assert query is not None
    try:
        await query.edit_message_text(text, parse_mode="HTML", reply_markup=markup)
    except BadRequest as exc:  # pressed twice: the message already shows this
        if "not modified" not in str(exc).lower():
            raise


# --- the command ---------------------------------------------------------------------------------


@guarded(Role.OFFICIAL)
async def schedule_command(update: Update, context: DanvanContext) -> None:
    """/lich [CODE]: the card of the unit given, or a choice among the official's units."""
    member, t = context.member, context.t
    assert member is not None
    if context.args:
        unit = await typed_unit(context.session, member, context.args[0])
        if unit is None:
            await reply(
                update,
                t._(
                    "There is no unit with code {code}.",
                    code=escape_html(shorten(context.args[0], SHOWN_CODE)),
                ),
            )
            return
        text, markup = await _card(context, unit)
        await reply(update, text, reply_markup=markup)
        return
    own = await own_unit(context.session, member)
    children = await child_units(context.session, own)
    if not children:
        text, markup = await _card(context, own)
        await reply(update, text, reply_markup=markup)
        return
    shown, left_out = listed_units(t, children)
    text = "\n".join(
        [
            t._("Reminder and digest times of which unit?"),
            *left_out,
            t._(
                "Or send a unit's code after the command, e.g. {example}.",
                example=f"{command_name(t, 'lich', 'schedule')} {escape_html(children[0].code)}",
            ),
        ]
    )
    markup = unit_keyboard(own, shown, lambda unit: f"{PREFIX}:c:{pk(unit)}")
    await reply(update, text, reply_markup=markup)


# --- the buttons ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pressed:
    """What a button names: always a unit (in scope), then maybe a slot, a day and a time."""

    unit: Unit
    key: str = ""
    day: int = -1
    at: time | None = None

    @property
    def slot(self) -> Slot:
        return SLOTS[self.key]


def _day_of(slot: Slot, text: str) -> int | None:
    day = int(text) if text.isdigit() else -1
    valid = day in MONTH_DAYS if slot.monthly else 0 <= day < len(WEEKDAYS)
    return day if valid else None


def _time_of(text: str) -> time | None:
    """ "1600" → 16:00."""
    return parse_time(f"{text[:2]}:{text[2:]}") if len(text) == 4 and text.isdigit() else None


async def _pressed(update: Update, context: DanvanContext) -> Pressed | None:
    """What the pressed button names, if it still makes sense; else answer it as stale."""
    query = update.callback_query
    assert query is not None and query.data is not None
    _, _, unit_id, *rest = query.data.split(":")
    unit = await scoped_unit(context, unit_id)
    pressed = None if unit is None else Pressed(unit)
    if pressed is not None and rest:
        key = rest[0]
        pressed = Pressed(pressed.unit, key) if key in SLOTS else None
    if pressed is not None and len(rest) > 1:
        day = _day_of(pressed.slot, rest[1])
        pressed = None if day is None else Pressed(pressed.unit, pressed.key, day)
    if pressed is not None and len(rest) > 2:
        at = _time_of(rest[2])
        pressed = None if at is None else Pressed(pressed.unit, pressed.key, pressed.day, at)
    if pressed is None:
        await query.answer(stale_text(context.t), show_alert=True)
        return None
    await query.answer()
    return pressed


def _forget(context: DanvanContext) -> dict[str, Any] | None:
    """Drop (and return) the time being waited for, if any."""
    return context.user_data.pop(PENDING, None) if context.user_data is not None else None


@guarded(Role.OFFICIAL)
async def on_card(update: Update, context: DanvanContext) -> int:
    """A unit button, or ◀ Back: the unit's card."""
    pressed = await _pressed(update, context)
    if pressed is not None:
        _forget(context)
        text, markup = await _card(context, pressed.unit)
        await _edit(update, text, markup)
    return END


@guarded(Role.OFFICIAL)
async def on_change(update: Update, context: DanvanContext) -> int:
    """✏️ on the card: which day?"""
    pressed = await _pressed(update, context)
    if pressed is None:
        return END
    _forget(context)
    t, unit, slot = context.t, pressed.unit, pressed.slot
    unit_id = pk(unit)
    what, name = t._(slot.label), escape_html(unit.name)
    data = f"{PREFIX}:d:{unit_id}:{pressed.key}"
    if slot.monthly:
        question = t._("<b>{what}</b> for {unit}: on which day of the month?", what=what, unit=name)
        buttons = [
            InlineKeyboardButton(str(day), callback_data=f"{data}:{day}") for day in MONTH_DAYS
        ]
        rows = [buttons[i : i + 7] for i in range(0, len(buttons), 7)]
    else:
        question = t._("<b>{what}</b> for {unit}: on which day?", what=what, unit=name)
        buttons = [
            InlineKeyboardButton(t._(weekday), callback_data=f"{data}:{day}")
            for day, weekday in enumerate(WEEKDAYS)
        ]
        rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    own = await schedules.own_times(context.session, unit_id) or {}
    if own.get(slot.day_field) is not None or own.get(slot.time_field) is not None:
        reset = f"{PREFIX}:x:{unit_id}:{pressed.key}"
        rows.append([InlineKeyboardButton(t._("↩️ Use the inherited time"), callback_data=reset)])
    rows.append(_back(t, unit))
    await _edit(update, question, InlineKeyboardMarkup(rows))
    return END


@guarded(Role.OFFICIAL)
async def on_day(update: Update, context: DanvanContext) -> int:
    """A day button: what time? Tap one, or type it (the conversation then waits for it)."""
    pressed = await _pressed(update, context)
    if pressed is None:
        return END
    t, unit, slot = context.t, pressed.unit, pressed.slot
    query = update.callback_query
    assert query is not None and query.message is not None and context.user_data is not None
    unit_id = pk(unit)
    question = t._(
        "<b>{what}</b> for {unit}, {day}: at what time? Tap one, or type it, e.g. 16:00.",
        what=t._(slot.label),
        unit=escape_html(unit.name),
        day=day_text(t, slot, pressed.day),
    )
    data = f"{PREFIX}:t:{unit_id}:{pressed.key}:{pressed.day}"
    buttons = [
        InlineKeyboardButton(label, callback_data=f"{data}:{label.replace(':', '')}")
        for label in TIME_BUTTONS
    ]
    rows = [buttons[i : i + 3] for i in range(0, len(buttons), 3)]
    rows.append(_back(t, unit))
    await _edit(update, question, InlineKeyboardMarkup(rows))
    context.user_data[PENDING] = {
        "unit": unit_id,
        "slot": pressed.key,
        "day": pressed.day,
        "message": query.message.message_id,
        "at": flows.now(context).isoformat(),
    }
    return TYPING_TIME


async def _save(
    context: DanvanContext, unit: Unit, slot: Slot, changes: dict[str, Any], note: str
) -> tuple[str, InlineKeyboardMarkup]:
    """Store the change, rebuild the jobs, and return the card that shows it."""
    assert context.member is not None
    _forget(context)
    await schedules.set_times(context.session, pk(unit), changes, actor_id=context.member.id)
    notes = [note]
    at = changes.get(slot.time_field)
    quiet = _quiet(context)
    if isinstance(at, time) and quiet.contains(at):
        notes.append(
            context.t._(
                "⚠️ {time} is in the quiet hours ({start}–{end}), so it will go out at {end}.",
                time=hhmm(at),
                start=hhmm(quiet.start),
                end=hhmm(quiet.end),
            )
        )
    text, markup = await _card(context, unit, [*notes, ""])
    # The jobs are rebuilt from a session of their own; on SQLite ours holds the write lock.
    await context.session.commit()
    await context.scheduler.rebuild()
    return text, markup


async def _set(
    context: DanvanContext, unit: Unit, key: str, day: int, at: time
) -> tuple[str, InlineKeyboardMarkup]:
    t, slot = context.t, SLOTS[key]
    what, when = t._(slot.label), when_text(t, slot, day, at)
    note = t._("✅ Saved: {what}, {when}.", what=what, when=when)
    return await _save(context, unit, slot, {slot.day_field: day, slot.time_field: at}, note)


@guarded(Role.OFFICIAL)
async def on_time(update: Update, context: DanvanContext) -> int:
    """A time button: save."""
    pressed = await _pressed(update, context)
    if pressed is not None and pressed.at is not None:
        text, markup = await _set(context, pressed.unit, pressed.key, pressed.day, pressed.at)
        await _edit(update, text, markup)
    return END


@guarded(Role.OFFICIAL)
async def on_reset(update: Update, context: DanvanContext) -> int:
    """↩️: clear the unit's own day and time for the slot."""
    pressed = await _pressed(update, context)
    if pressed is None:
        return END
    t, slot = context.t, pressed.slot
    note = t._("↩️ {what}: back to the inherited time.", what=t._(slot.label))
    cleared = {slot.day_field: None, slot.time_field: None}
    text, markup = await _save(context, pressed.unit, slot, cleared, note)
    await _edit(update, text, markup)
    return END


@guarded(Role.OFFICIAL)
async def on_typed_time(update: Update, context: DanvanContext) -> int:
    """A time typed after a day was chosen: save it, or ask again."""
    t = context.t
    message = update.effective_message
    assert message is not None and message.text is not None
    pending = (context.user_data or {}).get(PENDING)
    limit = timedelta(minutes=context.settings.conversation_timeout_minutes)
    if pending is None or flows.now(context) - datetime.fromisoformat(pending["at"]) > limit:
        _forget(context)
        await reply(update, stale_text(t))
        return END
    at = parse_time(message.text)
    if at is None:
        await reply(update, t._("Please send a time from 00:00 to 23:59, e.g. 16:00."))
        return TYPING_TIME
    unit = await scoped_unit(context, str(pending["unit"]))
    if unit is None:
        _forget(context)
        await reply(update, stale_text(t))
        return END
    text, markup = await _set(context, unit, pending["slot"], pending["day"], at)
    with contextlib.suppress(BadRequest):  # the question was deleted meanwhile
        await context.bot.edit_message_reply_markup(message.chat_id, pending["message"])
    await reply(update, text, reply_markup=markup)
    return END


def handlers() -> list[BaseHandler[Update, DanvanContext, Any]]:
    buttons: list[BaseHandler[Update, DanvanContext, object]] = [
        CallbackQueryHandler(on_card, pattern=rf"^{PREFIX}:c:\d+$"),
        CallbackQueryHandler(on_change, pattern=rf"^{PREFIX}:e:\d+:\w$"),
        CallbackQueryHandler(on_day, pattern=rf"^{PREFIX}:d:\d+:\w:\d+$"),
        CallbackQueryHandler(on_time, pattern=rf"^{PREFIX}:t:\d+:\w:\d+:\d{{4}}$"),
        CallbackQueryHandler(on_reset, pattern=rf"^{PREFIX}:x:\d+:\w$"),
    ]
    with warnings.catch_warnings():
        # Every button is an entry point, tracked per chat and user rather than per message:
        # just what we want, though PTB warns about it.
        warnings.filterwarnings("ignore", "If 'per_message=False'", PTBUserWarning)
        typing_time = ConversationHandler(
            entry_points=buttons,
            states={
                TYPING_TIME: [
                    MessageHandler(filters.UpdateType.MESSAGE & _TimeText(), on_typed_time)
                ]
            },
            fallbacks=[],
            allow_reentry=True,
            name="schedule_time",
            persistent=True,
        )
    return [CommandHandler(["lich", "schedule"], schedule_command), typing_time]
