"""/xuat (/export): an official or admin takes the records of a unit of their area out of the
bot, as an Excel workbook or as CSV files (the files themselves: bot/export.py).

Three steps, each a message with buttons whose callback data carries everything chosen so far,
so nothing is kept between taps and every tap is checked against the member's scope again:
1. /xuat [CODE]: the period (this week, last week, this month, last month, this year), or
   "choose dates", which asks for them with a ForceReply;
2. the unit: the starting unit (the member's own, or CODE if in their scope) and its active
   children;
3. the format: XLSX or CSV; the file follows.

Typed dates are the answer to the bot's prompt: a text sent in reply to a bot message ending with
the prompt's text, in either language (`RepliesTo`). Anything else typed meanwhile goes where it
always goes (a record's flow, the menu), and a flow in progress is not disturbed. The starting
unit waits in user_data["export"] with the prompt's message id; an answer to an older prompt is
stale. Telegram opens the reply field by itself for a ForceReply; someone who closes it and
types the dates without replying is answered by the menu, and can tap the button again.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from telegram import (
    CallbackQuery,
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Update,
)
from telegram.error import BadRequest
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot.domain.access import Role
from bot.domain.formatting import SHOWN_CODE, escape_html, format_date, format_number, shorten
from bot.domain.i18n import LANGUAGES, N_, Translator
from bot.domain.outgoing import Attachment, OutMessage
from bot.domain.periods import (
    PeriodChoice,
    RangeError,
    describe_range_error,
    parse_range,
    period_range,
)
from bot.services.exports import ExportFormat, export_filename, write_export
from handlers import conversation as flows
from handlers.common import (
    DanvanContext,
    RepliesToBotPrompt,
    guarded,
    listed_units,
    reply,
    stale_text,
)
from handlers.stats import command_name
from storage import export as store
from storage import scope
from storage.audit import record
from storage.models import Unit, pk

PENDING = "export"  # user_data: {"root": unit id, "prompt": message id} while dates are asked
SENT = "export_sent"  # user_data: "<message id>:<callback data>" of the last file sent
CUSTOM = "cu"
TELEGRAM_FILE_LIMIT = 50 * 1024 * 1024  # what a bot may upload

PERIOD_LABELS: dict[PeriodChoice, str] = {
    PeriodChoice.THIS_WEEK: N_("This week"),
    PeriodChoice.LAST_WEEK: N_("Last week"),
    PeriodChoice.THIS_MONTH: N_("This month"),
    PeriodChoice.LAST_MONTH: N_("Last month"),
    PeriodChoice.THIS_YEAR: N_("This year"),
}
PERIOD_LAYOUT = [
    [PeriodChoice.THIS_WEEK, PeriodChoice.LAST_WEEK],
    [PeriodChoice.THIS_MONTH, PeriodChoice.LAST_MONTH],
    [PeriodChoice.THIS_YEAR],
]
FORMAT_LABELS: dict[ExportFormat, str] = {
    ExportFormat.XLSX: N_("📊 Excel (.xlsx)"),
    ExportFormat.CSV: N_("📄 CSV files (.zip)"),
}
DATES_PROMPT = N_("Type the first and the last day, for example: 01/11/2026 - 25/11/2026")

_PERIOD = re.compile(r"xp:p:(\d+):(tw|lw|tm|lm|ty|cu)")
_UNIT = re.compile(r"xp:u:(\d+):(\d{8}):(\d{8})")
_FORMAT = re.compile(r"xp:f:(xlsx|csv):(\d+):(\d{8}):(\d{8})")


def RepliesTo(prompt: Callable[[Translator], str]) -> RepliesToBotPrompt:
    """A reply to the bot's message that ends with `prompt`, worded in any of the languages."""
    prompts = tuple({prompt(Translator(language)) for language in LANGUAGES})
    return RepliesToBotPrompt(lambda text: text.endswith(prompts), name="RepliesTo")


def dates_prompt(t: Translator) -> str:
    """Plain text (no HTML), so the replied-to message's text is exactly this."""
    return t._(DATES_PROMPT)


def _today(context: DanvanContext) -> date:
    return flows.now(context).astimezone(context.settings.tz).date()


def _span(start: date, end: date) -> str:
    return f"{start:%Y%m%d}:{end:%Y%m%d}"


def _dates(start: str, end: str) -> tuple[date, date] | None:
    try:
        first = datetime.strptime(start, "%Y%m%d").date()
        last = datetime.strptime(end, "%Y%m%d").date()
    except ValueError:
        return None
    return (first, last) if first <= last else None


async def _edit(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None) -> None:
    try:
        await query.edit_message_text(text, parse_mode="HTML", reply_markup=markup)
    except BadRequest as exc:  # pressed twice: the message already shows this
        if "not modified" not in str(exc).lower():
            raise


async def _stale(query: CallbackQuery, t: Translator) -> None:
    await query.answer(stale_text(t), show_alert=True)


# --- step 1: the period ---------------------------------------------------------------------------


def _period_keyboard(t: Translator, root_id: int) -> InlineKeyboardMarkup:
    rows = [
        [
            InlineKeyboardButton(
                t._(PERIOD_LABELS[choice]), callback_data=f"xp:p:{root_id}:{choice}"
            )
            for choice in row
        ]
        for row in PERIOD_LAYOUT
    ]
    rows.append(
        [InlineKeyboardButton(t._("📅 Choose dates…"), callback_data=f"xp:p:{root_id}:{CUSTOM}")]
    )
    return InlineKeyboardMarkup(rows)


@guarded(Role.OFFICIAL)
async def export_command(update: Update, context: DanvanContext) -> None:
    """/xuat [UNIT]: choose the period of the export."""
    member, t = context.member, context.t
    assert member is not None
    args = context.args or []
    if args:
        root = (await scope.find_unit(context.session, member, code=args[0])).unit
        if root is None:
            await reply(
                update,
                t._(
                    "There is no unit with code {code} in your area.",
                    code=escape_html(shorten(args[0], SHOWN_CODE)),
                ),
            )
            return
    else:
        root = await context.session.get(Unit, member.unit_id)
        assert root is not None
    await reply(
        update,
        t._("📤 <b>Export records to Excel or CSV</b>\nWhich period?"),
        reply_markup=_period_keyboard(t, pk(root)),
    )


@guarded(Role.OFFICIAL)
async def on_period(update: Update, context: DanvanContext) -> None:
    """A period button: on to the unit, or ask for the dates."""
    query = update.callback_query
    assert query is not None and context.member is not None
    t = context.t
    match = _PERIOD.fullmatch(query.data or "")
    root = (
        (await scope.find_unit(context.session, context.member, unit_id=int(match[1]))).unit
        if match
        else None
    )
    if match is None or root is None:
        await _stale(query, t)
        return
    await query.answer()
    if match[2] == CUSTOM:
        chat = update.effective_chat
        assert chat is not None and context.user_data is not None
        sent = await chat.send_message(
            escape_html(dates_prompt(t)),
            parse_mode="HTML",
            reply_markup=ForceReply(input_field_placeholder=t._("dd/mm/yyyy - dd/mm/yyyy")),
        )
        context.user_data[PENDING] = {"root": pk(root), "prompt": sent.message_id}
        return
    start, end = period_range(PeriodChoice(match[2]), _today(context))
    await _show_units(update, context, root, start, end, query)


@guarded(Role.OFFICIAL)
async def on_dates(update: Update, context: DanvanContext) -> None:
    """The dates, typed in reply to the prompt."""
    message = update.effective_message
    assert message is not None and context.member is not None
    t = context.t
    data = context.user_data if context.user_data is not None else {}
    pending: dict[str, Any] = data.get(PENDING) or {}
    replied = message.reply_to_message
    root = None
    if replied is not None and pending and replied.message_id == pending.get("prompt"):
        found = await scope.find_unit(context.session, context.member, unit_id=int(pending["root"]))
        root = found.unit
    if root is None:
        await reply(update, escape_html(stale_text(t)))
        return
    try:
        start, end = parse_range(message.text or "", _today(context))
    except RangeError as error:
        problem = escape_html(describe_range_error(t, error))
        chat = update.effective_chat
        assert chat is not None
        sent = await chat.send_message(
            f"⚠️ {problem}\n{escape_html(dates_prompt(t))}",
            parse_mode="HTML",
            reply_markup=ForceReply(input_field_placeholder=t._("dd/mm/yyyy - dd/mm/yyyy")),
        )
        data[PENDING] = {"root": pk(root), "prompt": sent.message_id}
        return
    data.pop(PENDING, None)
    await _show_units(update, context, root, start, end, None)


# --- step 2: the unit -----------------------------------------------------------------------------


async def _show_units(
    update: Update,
    context: DanvanContext,
    root: Unit,
    start: date,
    end: date,
    query: CallbackQuery | None,
) -> None:
    t = context.t
    choices = await store.unit_choices(context.session, root)
    if len(choices) == 1:
        await _show_formats(update, context, root, start, end, query)
        return
    span = _span(start, end)
    shown, left_out = listed_units(t, choices)
    markup = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(unit.name, callback_data=f"xp:u:{pk(unit)}:{span}")]
            for unit in shown
        ]
    )
    question = t._(
        "📤 Export {start} – {end}: which unit?", start=format_date(start), end=format_date(end)
    )
    typed = t._(
        "Or send a unit's code after the command, e.g. {example}.",
        example=f"{command_name(t, 'xuat', 'export')} {escape_html(choices[1].code)}",
    )
    text = "\n".join([question, *left_out, typed] if left_out else [question])
    if query is not None:
        await _edit(query, text, markup)
    else:
        await reply(update, text, reply_markup=markup)


@guarded(Role.OFFICIAL)
async def on_unit(update: Update, context: DanvanContext) -> None:
    """A unit button: on to the format."""
    query = update.callback_query
    assert query is not None and context.member is not None
    match = _UNIT.fullmatch(query.data or "")
    dates = _dates(match[2], match[3]) if match else None
    unit = (
        (await scope.find_unit(context.session, context.member, unit_id=int(match[1]))).unit
        if match and dates
        else None
    )
    if unit is None or dates is None:
        await _stale(query, context.t)
        return
    await query.answer()
    await _show_formats(update, context, unit, *dates, query)


# --- step 3: the format, and the file -------------------------------------------------------------


async def _show_formats(
    update: Update,
    context: DanvanContext,
    unit: Unit,
    start: date,
    end: date,
    query: CallbackQuery | None,
) -> None:
    t = context.t
    span = _span(start, end)
    markup = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(t._(label), callback_data=f"xp:f:{fmt}:{pk(unit)}:{span}")
                for fmt, label in FORMAT_LABELS.items()
            ]
        ]
    )
    text = t._(
        "📤 Export of <b>{unit}</b>, {start} – {end}: which format?",
        unit=escape_html(unit.name),
        start=format_date(start),
        end=format_date(end),
    )
    if query is not None:
        await _edit(query, text, markup)
    else:
        await reply(update, text, reply_markup=markup)


@guarded(Role.OFFICIAL)
async def on_format(update: Update, context: DanvanContext) -> None:
    """A format button: build the file and send it."""
    query = update.callback_query
    member, t = context.member, context.t
    assert query is not None and member is not None
    match = _FORMAT.fullmatch(query.data or "")
    dates = _dates(match[3], match[4]) if match else None
    unit = (
        (await scope.find_unit(context.session, member, unit_id=int(match[2]))).unit
        if match and dates
        else None
    )
    if match is None or unit is None or dates is None:
        await _stale(query, t)
        return
    # A second tap on the same button, queued behind the first: one file is enough.
    tapped = f"{query.message.message_id if query.message else 0}:{query.data}"
    assert context.user_data is not None
    if context.user_data.get(SENT) == tapped:
        await _stale(query, t)
        return
    context.user_data[SENT] = tapped
    fmt = ExportFormat(match[1])
    start, end = dates
    await query.answer()
    shown = {"unit": escape_html(unit.name), "start": format_date(start), "end": format_date(end)}
    await _edit(
        query, t._("⏳ Preparing the export of <b>{unit}</b>, {start} – {end}…", **shown), None
    )
    buffer = io.BytesIO()
    counts = await write_export(
        context.session, unit, start, end, fmt, buffer, today=_today(context)
    )
    await record(
        context.session,
        "export",
        pk(unit),
        "exported",
        None,
        {
            "unit": unit.code,
            "from": start.isoformat(),
            "to": end.isoformat(),
            "format": fmt.value,
            "records": counts.records,
        },
        actor_id=member.id,
        at=flows.now(context),
    )
    # The file is built: let SQLite's write lock go before the upload.
    await context.session.commit()
    content = buffer.getvalue()
    if len(content) > TELEGRAM_FILE_LIMIT:
        await reply(
            update,
            t._(
                "The file is too large to send through Telegram ({size} MB). Please choose a "
                "shorter period or a smaller unit.",
                size=format_number(len(content) // (1024 * 1024)),
            ),
        )
        return
    caption = t._(
        "<b>{unit}</b>, {start} – {end}\n"
        "Activities: {activities} · Land pledges: {land} · Workday entries: {workdays}",
        activities=format_number(counts.activities),
        land=format_number(counts.land),
        workdays=format_number(counts.workdays),
        **shown,
    )
    attachment = Attachment(export_filename(unit.code, start, end, fmt), content, caption=caption)
    chat = update.effective_chat
    assert chat is not None
    await context.scheduler.delivery.send_messages(
        chat.id, [OutMessage("", attachments=[attachment])]
    )


def handlers() -> list[BaseHandler[Update, DanvanContext, Any]]:
    return [
        CommandHandler(["xuat", "export"], export_command),
        CallbackQueryHandler(on_period, pattern=r"^xp:p:"),
        CallbackQueryHandler(on_unit, pattern=r"^xp:u:"),
        CallbackQueryHandler(on_format, pattern=r"^xp:f:"),
        MessageHandler(
            filters.REPLY & filters.TEXT & ~filters.COMMAND & RepliesTo(dates_prompt), on_dates
        ),
    ]
