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

import re
import secrets
from collections.abc import Callable
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

from bot.domain.access import Role
from bot.domain.announcements import (
    AnnouncementError,
    announcement_html,
    broadcast_key,
    clean_announcement,
    describe_problem,
    outcome_text,
    prompt_text,
)
from bot.domain.formatting import escape_html, format_number
from bot.domain.i18n import LANGUAGES, Translator
from bot.services.broadcasts import broadcast_sends, record_delivered
from handlers import conversation as flows
from handlers.common import (
    DanvanContext,
    RepliesToBotPrompt,
    guarded,
    listed_units,
    reply,
    stale_text,
)
from storage import export as store
from storage import scope
from storage.audit import broadcast_started, record
from storage.models import Unit, pk

DRAFT = "broadcast"  # user_data: {"token": hex, "text": the announcement}

_TOKEN = r"([0-9a-f]{12})"
_UNIT = re.compile(rf"bc:u:{_TOKEN}:(\d+)")
_CONFIRM = re.compile(rf"bc:ok:{_TOKEN}:(\d+)")
_CANCEL = re.compile(rf"bc:no:{_TOKEN}")


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
        (await scope.find_unit(context.session, context.member, unit_id=int(match[2]))).unit
        if match and draft
        else None
    )
    if match is None or draft is None or unit is None:
        await query.answer(stale_text(context.t), show_alert=True)
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
        (await scope.find_unit(context.session, member, unit_id=int(match[2]))).unit
        if match and draft
        else None
    )
    if match is None or draft is None or unit is None:
        await query.answer(stale_text(t), show_alert=True)
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
    report = await context.scheduler.delivery.deliver(sends)
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
        await query.answer(stale_text(t), show_alert=True)
        return
    context.user_data.pop(DRAFT, None)
    await query.answer()
    await _drop_buttons(query)
    await reply(update, t._("The announcement was cancelled; nothing was sent."))


def RepliesTo(prompt: Callable[[Translator], str]) -> RepliesToBotPrompt:
    """A reply to the bot's message that ends with `prompt`, worded in any of the languages."""
    prompts = tuple({prompt(Translator(language)) for language in LANGUAGES})
    return RepliesToBotPrompt(lambda text: text.endswith(prompts), name="RepliesTo")


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
