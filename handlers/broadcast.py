"""/thongbao (/broadcast): an official or admin sends an announcement to the coordinators and
officials of a unit of their area, through the shared paced Delivery.

Steps:
1. /thongbao TEXT, or /thongbao alone and the text in reply to the bot's prompt (a ForceReply,
   recognised like the export's dates: handlers.export.RepliesTo). At most MAX_LENGTH characters
   as Telegram counts them (UTF-16), tidied like every text we keep (bot.textnorm.nfc) and sent
   as plain text, HTML-escaped. The draft waits in user_data["broadcast"] under a random token.
2. The unit: the member's own and its active children (skipped when there are no children).
3. A preview, exactly as recipients will see it, with the number of recipients and a confirm
   button; every button names the draft's token, so a button of an older draft is stale.
4. Confirm: audited, committed, then delivered. Every Send's period_key is "b-<token>", so the
   SendLedger sends each person the announcement once, even if confirm is tapped twice (the
   second tap finds the draft gone and is answered as stale anyway). The sender gets the counts.
   A bot killed mid-delivery handles the confirm again when it restarts (bot/inbox.py), with
   the draft it had before: the delivery is finished, not begun anew, and the sender is told.

Who receives it: the active coordinators and officials of the unit's subtree, not the sender and
not admins (storage.export.broadcast_audience). Members the bot already knows it cannot reach
(they blocked it) are not sent to, and are counted with those who turn out to have blocked it.
The text is shown under a header naming the sender's unit and the sender, in each recipient's
language.
"""

from __future__ import annotations

import enum
import re
import secrets
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession
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

from bot.domain.formatting import escape_html, format_number, utf16_length
from bot.domain.i18n import N_, Translator, translator
from bot.domain.outgoing import OutMessage, Send, SendKind
from bot.domain.textnorm import nfc
from bot.telegram.delivery import Report
from bot.telegram.jobs import scheduler
from handlers import conversation as flows
from handlers.common import DanvanContext, guarded, listed_units, reply
from handlers.export import RepliesTo
from storage import export as store
from storage import scope
from storage.audit import broadcast_started, record
from storage.export import Audience
from storage.models import Role, Unit, pk

MAX_LENGTH = 3000
DRAFT = "broadcast"  # user_data: {"token": hex, "text": the announcement}
PROMPT = N_(
    "Type the announcement, at most {limit} characters. Next you choose who receives it, and "
    "see it before it goes out."
)

_TOKEN = r"([0-9a-f]{12})"
_UNIT = re.compile(rf"bc:u:{_TOKEN}:(\d+)")
_CONFIRM = re.compile(rf"bc:ok:{_TOKEN}:(\d+)")
_CANCEL = re.compile(rf"bc:no:{_TOKEN}")


# --- the announcement, free of Telegram ---------------------------------------------------------


class TextProblem(enum.StrEnum):
    EMPTY = "empty"
    TOO_LONG = "too_long"


class AnnouncementError(ValueError):
    def __init__(self, problem: TextProblem, length: int = 0) -> None:
        super().__init__(problem.value)
        self.problem = problem
        self.length = length


def clean_announcement(text: str) -> str:
    """The text as it will be sent, or AnnouncementError."""
    cleaned = nfc(text)
    if not cleaned.replace("\u200c", "").replace("\u200d", "").strip():  # nfc keeps ZWNJ, ZWJ
        raise AnnouncementError(TextProblem.EMPTY)
    length = utf16_length(cleaned)
    if length > MAX_LENGTH:
        raise AnnouncementError(TextProblem.TOO_LONG, length)
    return cleaned


def describe_problem(t: Translator, error: AnnouncementError) -> str:
    if error.problem is TextProblem.TOO_LONG:
        return t._(
            "The announcement is too long: {length} characters, and at most {limit} fit.",
            length=format_number(error.length),
            limit=format_number(MAX_LENGTH),
        )
    return t._("The announcement is empty.")


def prompt_text(t: Translator) -> str:
    """Plain text (no HTML), so the replied-to message's text is exactly this."""
    return t._(PROMPT, limit=format_number(MAX_LENGTH))


def announcement_html(t: Translator, sender_unit: str, sender: str, text: str) -> str:
    """What a recipient reads: a header naming the sender, then the text, escaped."""
    header = t._(
        "📢 <b>Announcement from {unit}</b> ({name})",
        unit=escape_html(sender_unit),
        name=escape_html(sender),
    )
    return f"{header}\n\n{escape_html(text)}"


def broadcast_key(token: str) -> str:
    """The ledger's period_key of every Send of one announcement."""
    return f"b-{token}"


def broadcast_sends(
    audience: Audience, token: str, sender_unit: str, sender: str, text: str, due: datetime
) -> list[Send]:
    """One Send per recipient, in their language."""
    rendered: dict[str, str] = {}
    sends = []
    for person in audience.recipients:
        if person.language not in rendered:
            rendered[person.language] = announcement_html(
                translator(person.language), sender_unit, sender, text
            )
        sends.append(
            Send(
                SendKind.BROADCAST,
                person.telegram_id,
                broadcast_key(token),
                [OutMessage(rendered[person.language])],
                member_id=person.member_id,
                due_at=due,
            )
        )
    return sends


def outcome_text(t: Translator, unit_name: str, report: Report, known_unreachable: int) -> str:
    """What the sender is told once the announcement went out (HTML)."""
    lines = [
        t._(
            "📢 Announcement to {unit}: {sent} sent, {blocked} blocked the bot, {failed} failed.",
            unit=escape_html(unit_name),
            sent=format_number(report.sent),
            blocked=format_number(report.unreachable + known_unreachable),
            failed=format_number(report.failed),
        )
    ]
    if report.skipped + report.in_progress:
        lines.append(
            t._(
                "Already received before: {count}.",
                count=format_number(report.skipped + report.in_progress),
            )
        )
    return "\n".join(lines)


async def record_delivered(
    session: AsyncSession,
    unit: Unit,
    key: str,
    report: Report,
    at: datetime,
    *,
    actor_id: int | None = None,
    actor_label: str | None = None,
) -> None:
    """The audit event that closes an announcement's "sent": how its delivery ended."""
    await record(
        session,
        "broadcast",
        pk(unit),
        "delivered",
        None,
        {
            "key": key,
            "sent": report.sent,
            "unreachable": report.unreachable,
            "failed": report.failed,
            "skipped": report.skipped + report.in_progress,
        },
        actor_id=actor_id,
        actor_label=actor_label,
        at=at,
    )


# --- on Telegram ------------------------------------------------------------------------------


def _draft(context: DanvanContext, token: str) -> dict[str, Any] | None:
    draft = (context.user_data or {}).get(DRAFT)
    return draft if isinstance(draft, dict) and draft.get("token") == token else None


async def _drop_buttons(query: CallbackQuery, suffix: str | None = None) -> None:
    """Take the buttons off the message that had them; show the choice, if given."""
    try:
        if suffix is not None and isinstance(query.message, Message):
            text = query.message.text_html or ""
            await query.edit_message_text(
                f"{text}\n➡️ <b>{escape_html(suffix)}</b>", parse_mode="HTML", reply_markup=None
            )
        else:
            await query.edit_message_reply_markup(None)
    except BadRequest as exc:  # already done by a quicker tap
        if "not modified" not in str(exc).lower():
            raise


async def _ask(update: Update, context: DanvanContext, problem: str | None = None) -> None:
    t = context.t
    chat = update.effective_chat
    assert chat is not None
    text = escape_html(prompt_text(t))
    if problem is not None:
        text = f"⚠️ {escape_html(problem)}\n{text}"
    await chat.send_message(
        text,
        parse_mode="HTML",
        reply_markup=ForceReply(input_field_placeholder=t._("Your announcement")),
    )


@guarded(Role.OFFICIAL)
async def broadcast_command(update: Update, context: DanvanContext) -> None:
    """/thongbao [TEXT]: start an announcement."""
    message = update.effective_message
    assert message is not None
    parts = (message.text or "").split(maxsplit=1)
    if len(parts) < 2:
        await _ask(update, context)
        return
    await _take_text(update, context, parts[1])


@guarded(Role.OFFICIAL)
async def on_text(update: Update, context: DanvanContext) -> None:
    """The announcement, typed in reply to the prompt."""
    message = update.effective_message
    assert message is not None
    await _take_text(update, context, message.text or "")


async def _take_text(update: Update, context: DanvanContext, raw: str) -> None:
    member, t = context.member, context.t
    assert member is not None and context.user_data is not None
    try:
        text = clean_announcement(raw)
    except AnnouncementError as error:
        await _ask(update, context, describe_problem(t, error))
        return
    token = secrets.token_hex(6)
    context.user_data[DRAFT] = {"token": token, "text": text}
    own = await context.session.get(Unit, member.unit_id)
    assert own is not None
    choices = await store.unit_choices(context.session, own)
    if len(choices) == 1:
        await _preview(update, context, own, token, text)
        return
    shown, left_out = listed_units(t, choices)
    markup = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(unit.name, callback_data=f"bc:u:{token}:{pk(unit)}")]
            for unit in shown
        ]
    )
    question = t._(
        "Who should receive it? The coordinators and officials of the unit you choose, and "
        "of every unit below it."
    )
    await reply(update, "\n".join([question, *left_out]), reply_markup=markup)


@guarded(Role.OFFICIAL)
async def on_unit(update: Update, context: DanvanContext) -> None:
    """A unit button: show the preview."""
    query = update.callback_query
    assert query is not None and context.member is not None
    match = _UNIT.fullmatch(query.data or "")
    draft = _draft(context, match[1]) if match else None
    unit = (
        await scope.unit_id_in_scope(context.session, context.member, int(match[2]))
        if match and draft
        else None
    )
    if match is None or draft is None or unit is None:
        await query.answer(flows.stale_text(context.t), show_alert=True)
        return
    await query.answer()
    await _drop_buttons(query, unit.name)
    await _preview(update, context, unit, match[1], draft["text"])


async def _preview(
    update: Update, context: DanvanContext, unit: Unit, token: str, text: str
) -> None:
    member, t = context.member, context.t
    assert member is not None
    audience = await store.broadcast_audience(context.session, unit, sender_id=member.id)
    sender_unit = await context.session.get(Unit, member.unit_id)
    assert sender_unit is not None
    lines = [
        t._("<b>Preview</b>: this is what they will receive."),
        "",
        announcement_html(t, sender_unit.name, member.full_name, text),
        "",
    ]
    name = escape_html(unit.name)
    blocked = (
        [
            t._(
                "Left out: {count} who blocked the bot.",
                count=format_number(audience.unreachable),
            )
        ]
        if audience.unreachable
        else []
    )
    if not audience.size:
        lines += [t._("No one in {unit} can receive it.", unit=name), *blocked]
        assert context.user_data is not None
        context.user_data.pop(DRAFT, None)
        await reply(update, "\n".join(lines))
        return
    lines.append(
        t._(
            "Recipients in {unit}: {count} (coordinators: {coordinators}, officials: {officials}).",
            count=format_number(audience.size),
            unit=name,
            coordinators=format_number(audience.coordinators),
            officials=format_number(audience.officials),
        )
    )
    lines += blocked
    markup = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    t._("✅ Send"),
                    callback_data=f"bc:ok:{token}:{pk(unit)}",
                ),
                InlineKeyboardButton(t._("✖️ Cancel"), callback_data=f"bc:no:{token}"),
            ]
        ]
    )
    await reply(update, "\n".join(lines), reply_markup=markup)


@guarded(Role.OFFICIAL)
async def on_confirm(update: Update, context: DanvanContext) -> None:
    """✅ under the preview: audit, then deliver, then tell the sender how it went."""
    query = update.callback_query
    member, t = context.member, context.t
    assert query is not None and member is not None and context.user_data is not None
    match = _CONFIRM.fullmatch(query.data or "")
    draft = _draft(context, match[1]) if match else None
    unit = (
        await scope.unit_id_in_scope(context.session, member, int(match[2]))
        if match and draft
        else None
    )
    if match is None or draft is None or unit is None:
        await query.answer(flows.stale_text(t), show_alert=True)
        return
    token, text = match[1], draft["text"]
    context.user_data.pop(DRAFT, None)
    audience = await store.broadcast_audience(context.session, unit, sender_id=member.id)
    sender_unit = await context.session.get(Unit, member.unit_id)
    assert sender_unit is not None
    now = flows.now(context)
    key = broadcast_key(token)
    # The update is handled again after a crash mid-delivery (bot/inbox.py), its draft intact:
    # it then finishes the delivery, which skips whoever has the announcement already.
    resuming = await broadcast_started(context.session, pk(unit), key)
    if not resuming:
        await record(
            context.session,
            "broadcast",
            pk(unit),
            "sent",
            None,
            {
                "key": key,
                "unit": unit.code,
                "text": text,
                "recipients": audience.size,
                "unreachable": audience.unreachable,
            },
            actor_id=member.id,
            at=now,
        )
    sends = broadcast_sends(audience, token, sender_unit.name, member.full_name, text, now)
    # Delivery claims each Send in sessions of its own; on SQLite ours holds the write lock.
    await context.session.commit()
    await query.answer()
    await _drop_buttons(query)
    if not resuming:
        await reply(
            update,
            t._(
                "⏳ Sending the announcement to {unit} (recipients: {count})…",
                count=format_number(len(sends)),
                unit=escape_html(unit.name),
            ),
        )
    report = await scheduler(context.application).delivery.deliver(sends)
    await record_delivered(
        context.session, unit, key, report, flows.now(context), actor_id=member.id
    )
    outcome = outcome_text(t, unit.name, report, audience.unreachable)
    if resuming:
        restarted = t._(
            "The bot restarted while sending your announcement to {unit}; it has now finished.",
            unit=escape_html(unit.name),
        )
        outcome = f"{restarted}\n{outcome}"
    await reply(update, outcome)


@guarded(Role.OFFICIAL)
async def on_cancel(update: Update, context: DanvanContext) -> None:
    """✖️ under the preview: drop the draft."""
    query = update.callback_query
    assert query is not None and context.user_data is not None
    t = context.t
    match = _CANCEL.fullmatch(query.data or "")
    if match is None or _draft(context, match[1]) is None:
        await query.answer(flows.stale_text(t), show_alert=True)
        return
    context.user_data.pop(DRAFT, None)
    await query.answer()
    await _drop_buttons(query)
    await reply(update, t._("The announcement was cancelled; nothing was sent."))


def handlers() -> list[BaseHandler[Update, DanvanContext, Any]]:
    return [
        CommandHandler(["thongbao", "broadcast"], broadcast_command),
        CallbackQueryHandler(on_unit, pattern=r"^bc:u:"),
        CallbackQueryHandler(on_confirm, pattern=r"^bc:ok:"),
        CallbackQueryHandler(on_cancel, pattern=r"^bc:no:"),
        MessageHandler(
            filters.REPLY & filters.TEXT & ~filters.COMMAND & RepliesTo(prompt_text), on_text
        ),
    ]
