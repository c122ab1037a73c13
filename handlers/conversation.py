"""The guided flows on Telegram: start, answer, go back, cancel, save, expire.

The flows themselves (steps, validation, cards) live in bot/records.py and bot/flow.py; this
module turns Telegram messages into flow inputs and flow replies into messages.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from telegram import Message, ReplyKeyboardRemove, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import Application, BaseHandler, CallbackQueryHandler, CommandHandler

from bot.domain import access
from bot.domain import flow as engine
from bot.domain.access import Role
from bot.domain.flow import Draft, Env, Flow, Input, InputKind, Outcome, Prompt
from bot.domain.formatting import MESSAGE_LIMIT, escape_html, visible_length
from bot.domain.forms import ACTIVITY, FLOWS, LAND, WORKDAY
from bot.domain.i18n import Translator, translator
from bot.domain.records import reference
from bot.domain.review import KIND_OF_FLOW
from handlers.common import DanvanContext, denial_text, guarded, reply, reply_kept
from handlers.keyboards import contact_keyboard, inline, main_menu, reply_choices
from storage import records

log = logging.getLogger(__name__)

DRAFT = "draft"


def now(context: DanvanContext) -> datetime:
    clock: Callable[[], datetime] = context.application.bot_data["clock"]
    return clock()


def flow_env(context: DanvanContext, extra: dict[str, Any] | None = None) -> Env:
    moment = now(context)
    return Env(
        t=context.t,
        today=moment.astimezone(context.settings.tz).date(),
        now=moment,
        extra={"region": context.settings.land_unit_region, **(extra or {})},
    )


def current_draft(context: DanvanContext) -> Draft | None:
    data = context.user_data
    return data.get(DRAFT) if data is not None else None


async def live_draft(update: Update, context: DanvanContext) -> Draft | None:
    """The draft in progress; one idle past the timeout is closed here, with a message."""
    draft = current_draft(context)
    if draft is not None and is_expired(context, draft, now(context)):
        await expire(update, context, draft)
        return None
    return draft


def is_expired(context: DanvanContext, draft: Draft, moment: datetime) -> bool:
    touched = datetime.fromisoformat(draft["touched"])
    return moment - touched > timedelta(minutes=context.settings.conversation_timeout_minutes)


async def flow_extra(context: DanvanContext, flow: Flow) -> dict[str, Any]:
    """What a flow's steps need from the database, e.g. the group's recent works."""
    if flow is WORKDAY and context.member is not None:
        works = await records.recent_works(context.session, context.member.unit_id)
        return {"recent_works": works}
    return {}


async def show(update: Update, context: DanvanContext, draft: Draft, reply_: engine.Reply) -> None:
    """Send the reply's notes and prompt, and tidy the previous prompt's buttons. A button of
    the current prompt gets its answer in the same message instead (see `_show_in_place`)."""
    assert reply_.prompt is not None
    chat = update.effective_chat
    assert chat is not None
    prompt: Prompt = reply_.prompt
    text = "\n".join([*reply_.notes, prompt.text]) if reply_.notes else prompt.text
    if await _show_in_place(update, context, draft, prompt, text):
        return
    # The old prompt is tidied while the new one is sent: the person waits for one round trip
    # to Telegram, not two.
    retiring = asyncio.ensure_future(_retire(update, context, _take_prompt(draft)))
    try:
        if prompt.ask_contact:
            markup: Any = contact_keyboard(prompt)
            draft["reply_choices"] = reply_choices(prompt)
        else:
            if draft.get("reply_choices"):
                # The phone step's reply keyboard must go before inline buttons can show.
                await chat.send_message("👍", reply_markup=ReplyKeyboardRemove())
            draft["reply_choices"] = None
            markup = inline(prompt, draft["id"])
        sent = await chat.send_message(text, parse_mode="HTML", reply_markup=markup)
    finally:
        await retiring
    draft["prompt_message_id"] = (
        sent.message_id if markup is not None and not prompt.ask_contact else None
    )
    draft["prompt_html"] = text


async def _show_in_place(
    update: Update, context: DanvanContext, draft: Draft, prompt: Prompt, text: str
) -> bool:
    """After a button of the current prompt, write what was chosen and the next question
    into that same message: the chat reads as before (each question, then ➡️ the answer),
    but one message holds a form's run of taps, and each tap costs Telegram one edit instead
    of an edit and a new message. The confirmation card starts the message afresh: it
    repeats every answer. False (nothing done) where a new message is needed: a typed
    answer, a reply keyboard, a message grown too long, or one Telegram will not edit."""
    query = update.callback_query
    message_id = draft.get("prompt_message_id")
    pressed = _pressed_label(update)
    if (
        query is None
        or query.message is None
        or query.message.message_id != message_id
        or pressed is None
        or prompt.ask_contact
        or draft.get("reply_choices")
    ):
        return False
    if draft["step"] == engine.CONFIRM_STEP:
        combined = text
    else:
        combined = f"{draft.get('prompt_html', '')}\n➡️ <b>{pressed}</b>\n\n{text}"
    if visible_length(combined) > MESSAGE_LIMIT:
        return False
    markup = inline(prompt, draft["id"])
    try:
        await context.bot.edit_message_text(
            combined,
            chat_id=query.message.chat.id,
            message_id=message_id,
            parse_mode="HTML",
            reply_markup=markup,
        )
    except BadRequest as exc:  # deleted by the person, say: ask in a new message
        log.debug("Could not edit prompt %s in place: %s", message_id, exc)
        return False
    draft["prompt_message_id"] = message_id if markup is not None else None
    draft["prompt_html"] = combined
    return True


async def _retire_prompt(update: Update, context: DanvanContext, draft: Draft) -> None:
    """Take the buttons off the last prompt; show which one was pressed, if one was."""
    await _retire(update, context, _take_prompt(draft))


def _take_prompt(draft: Draft) -> tuple[int | None, str]:
    """The last prompt's message and text, now no longer the draft's prompt."""
    message_id = draft.get("prompt_message_id")
    draft["prompt_message_id"] = None
    return message_id, draft.get("prompt_html", "")


async def _retire(update: Update, context: DanvanContext, prompt: tuple[int | None, str]) -> None:
    message_id, prompt_html = prompt
    chat = update.effective_chat
    if not message_id or chat is None:
        return
    pressed = _pressed_label(update)
    answered = f"{prompt_html}\n➡️ <b>{pressed}</b>"
    try:
        if pressed is not None and visible_length(answered) <= MESSAGE_LIMIT:
            await context.bot.edit_message_text(
                answered,
                chat_id=chat.id,
                message_id=message_id,
                parse_mode="HTML",
            )
        else:
            await context.bot.edit_message_reply_markup(chat_id=chat.id, message_id=message_id)
    except BadRequest as exc:  # deleted by the person, or already tidied
        log.debug("Could not retire prompt %s: %s", message_id, exc)
    except TelegramError as exc:  # Telegram failing for a moment: tidying is no reason to stop
        log.info("Could not retire prompt %s: %s", message_id, exc)


def _pressed_label(update: Update) -> str | None:
    query = update.callback_query
    if (
        query is None
        or not isinstance(query.message, Message)
        or query.message.reply_markup is None
    ):
        return None
    for row in query.message.reply_markup.inline_keyboard:
        for button in row:
            if button.callback_data == query.data:
                return escape_html(button.text)
    return None


async def begin(update: Update, context: DanvanContext, flow: Flow, **seed: Any) -> None:
    """Start `flow`, replacing nothing: a flow in progress must be finished or cancelled."""
    t = context.t
    draft = await live_draft(update, context)
    moment = now(context)
    if draft is not None:
        running = FLOWS[draft["flow"]]
        env = flow_env(context, await flow_extra(context, running))
        note = t._(
            "You are in the middle of “{flow}”. Finish it, or send /huy to cancel it.",
            flow=running.title(t),
        )
        await show(
            update,
            context,
            draft,
            engine.Reply(Outcome.PROMPT, engine.prompt_for(running, draft, env), [f"⚠️ {note}"]),
        )
        return
    env = flow_env(context, await flow_extra(context, flow))
    draft = engine.new_draft(flow, moment, **seed)
    draft["language"] = t.language
    assert context.user_data is not None
    context.user_data[DRAFT] = draft
    await show(
        update, context, draft, engine.Reply(Outcome.PROMPT, engine.prompt_for(flow, draft, env))
    )


def end(context: DanvanContext) -> None:
    if context.user_data is not None:
        context.user_data.pop(DRAFT, None)


async def advance(update: Update, context: DanvanContext, given: Input) -> bool:
    """Feed an input to the draft in progress; False when there is none (or it expired)."""
    draft = await live_draft(update, context)
    if draft is None:
        return False
    t = context.t
    flow = FLOWS[draft["flow"]]
    # A form is begun by someone allowed to, but they may have been deactivated since.
    denial = None if flow.name == "join" else access.check(context.member, Role.COORDINATOR)
    if denial is not None:
        await _retire_prompt(update, context, draft)
        end(context)
        await reply(update, denial_text(t, denial), reply_markup=_menu_or_none(context))
        return True
    if (
        given.kind is InputKind.TEXT
        and draft.get("reply_choices")
        and given.value in draft["reply_choices"]
    ):
        given = Input(InputKind.CHOICE, draft["reply_choices"][given.value])
    env = flow_env(context, await flow_extra(context, flow))
    result = engine.feed(flow, draft, given, env)
    if result.outcome is Outcome.CANCELLED:
        await _retire_prompt(update, context, draft)
        end(context)
        await reply(
            update, t._("Cancelled. Nothing was saved."), reply_markup=_menu_or_none(context)
        )
        return True
    if result.outcome is Outcome.SAVE:
        # The card's buttons come off while the record is written.
        retiring = asyncio.ensure_future(_retire(update, context, _take_prompt(draft)))
        try:
            await save(update, context, flow, draft, env)
        finally:
            await retiring
        return True
    await show(update, context, draft, result)
    return True


def _menu_or_none(context: DanvanContext) -> Any:
    return main_menu(context.t) if context.member is not None else ReplyKeyboardRemove()


async def save(update: Update, context: DanvanContext, flow: Flow, draft: Draft, env: Env) -> None:
    t = context.t
    if flow.name == "join":
        from handlers.onboarding import finish_joining

        await finish_joining(update, context, draft)
        return
    if draft.get("edit_of"):
        from handlers.review import save_edit

        await save_edit(update, context, flow, draft, env)
        return
    member = context.member
    assert member is not None
    kind = KIND_OF_FLOW[flow.name]
    answers = draft["answers"]
    duplicate = await records.find_duplicate(
        context.session, kind, member.unit_id, answers, env.now
    )
    if duplicate is not None and draft.get("duplicate_warned") != duplicate:
        draft["duplicate_warned"] = duplicate
        warning = t._(
            "This may repeat {reference}. Press ✅ Save again to save it anyway.",
            reference=duplicate,
        )
        prompt = engine.prompt_for(flow, draft, env)
        await show(update, context, draft, engine.Reply(Outcome.PROMPT, prompt, [f"⚠️ {warning}"]))
        return
    record_id = await records.save(context.session, kind, member, answers, env.now)
    end(context)
    # Kept before the person is told: a confirmation that fails (or times out after Telegram
    # took it) must not undo the record.
    await context.session.commit()
    await reply_kept(
        update,
        t._(
            "✅ Saved as <b>{reference}</b>. Thank you!",
            reference=reference(kind, record_id),
        ),
        reply_markup=main_menu(t),
    )


async def expire(update: Update | None, context: DanvanContext, draft: Draft) -> None:
    end(context)
    if update is not None:
        await _retire_prompt(update, context, draft)
        await reply(update, timeout_text(context.t, context.settings.conversation_timeout_minutes))


def timeout_text(t: Translator, minutes: int) -> str:
    return t._(
        "The form was closed after {minutes} minutes without an answer; nothing was saved.",
        minutes=minutes,
    )


async def expire_idle_drafts(
    application: Application[Any, Any, Any, Any, Any, Any], moment: datetime
) -> int:
    """Close every draft idle past the timeout and tell its owner; returns how many."""
    settings = application.bot_data["settings"]
    limit = timedelta(minutes=settings.conversation_timeout_minutes)
    closed = 0
    for user_id, data in list(application.user_data.items()):
        draft = data.get(DRAFT)
        if not draft or moment - datetime.fromisoformat(draft["touched"]) <= limit:
            continue
        data.pop(DRAFT, None)
        closed += 1
        if application.persistence is not None:
            await application.persistence.update_user_data(user_id, data)
        t = translator(draft.get("language") or settings.default_language)
        try:
            if draft.get("prompt_message_id"):
                await application.bot.edit_message_reply_markup(
                    chat_id=user_id, message_id=draft["prompt_message_id"]
                )
            await application.bot.send_message(
                user_id, timeout_text(t, settings.conversation_timeout_minutes)
            )
        except Exception:  # a blocked bot or a deleted chat must not stop the sweep
            log.warning("Could not tell %s that their form expired", user_id, exc_info=True)
    return closed


@guarded(Role.COORDINATOR)
async def start_activity(update: Update, context: DanvanContext) -> None:
    """/hoatdong: log an activity."""
    await begin(update, context, ACTIVITY)


@guarded(Role.COORDINATOR)
async def start_land(update: Update, context: DanvanContext) -> None:
    """/hiendat: log a land pledge."""
    await begin(update, context, LAND)


@guarded(Role.COORDINATOR)
async def start_workday(update: Update, context: DanvanContext) -> None:
    """/ngaycong: log workdays."""
    await begin(update, context, WORKDAY)


@guarded(None)
async def cancel(update: Update, context: DanvanContext) -> None:
    """/huy: drop the flow in progress, saving nothing."""
    draft = await live_draft(update, context)
    t = context.t
    if draft is None:
        await reply(update, t._("There is nothing to cancel."), reply_markup=_menu_or_none(context))
        return
    await _retire_prompt(update, context, draft)
    end(context)
    await reply(update, t._("Cancelled. Nothing was saved."), reply_markup=_menu_or_none(context))


@guarded(None)
async def on_button(update: Update, context: DanvanContext) -> None:
    """A pressed button of a flow prompt: answer it, or say the card is stale."""
    query = update.callback_query
    assert query is not None and query.data is not None
    _, draft_id, value = query.data.split(":", 2)
    draft = current_draft(context)
    on_current_prompt = (
        draft is not None
        and draft["id"] == draft_id
        and query.message is not None
        and draft.get("prompt_message_id") == query.message.message_id
    )
    if not on_current_prompt:
        await query.answer(stale_text(context.t), show_alert=True)
        return
    # Stopping the button's spinner need not hold up the answer to it.
    answering = asyncio.ensure_future(query.answer())
    try:
        await advance(update, context, Input(InputKind.CHOICE, value))
    finally:
        await answering


def stale_text(t: Translator) -> str:
    return t._("This card has expired.")


@guarded(None)
async def on_stale_button(update: Update, context: DanvanContext) -> None:
    """Any button nothing else understands: an old card."""
    query = update.callback_query
    assert query is not None
    await query.answer(stale_text(context.t), show_alert=True)


def handlers() -> list[BaseHandler[Update, DanvanContext, Any]]:
    return [
        CommandHandler(["hoatdong", "activity"], start_activity),
        CommandHandler(["hiendat", "land"], start_land),
        CommandHandler(["ngaycong", "workday"], start_workday),
        CommandHandler(["huy", "cancel"], cancel),
        CallbackQueryHandler(on_button, pattern=r"^d:[0-9a-f]+:"),
    ]


def late_handlers() -> list[BaseHandler[Update, DanvanContext, Any]]:
    return [CallbackQueryHandler(on_stale_button)]
