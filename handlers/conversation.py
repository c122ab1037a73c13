"""Every multi-step chat on Telegram, held one way: start, answer, go back, cancel, finish,
expire. The flows themselves (steps, validation, cards) are Telegram-free data
(bot/domain/flow.py, the forms in bot/domain/forms/); this module turns Telegram messages into
flow inputs and flow replies into messages.

A feature offers its flows as `FlowBinding`s (its module's `flows()`): the flow, the role it
needs, what its steps need from the database (`load`), what happens when it is finished
(`finish`) and, for a flow started from a card, where ◀ Back on its first step leads (`leave`).
The application keeps them by flow name (bot/telegram/app.py), so this module imports no
feature.

What a person is in the middle of is one draft in their user_data, persisted with it: a typed
answer reaches the step that asked for it whether or not the phone marked it as a reply, a
restart resumes it at the same step, and one idle past CONVERSATION_TIMEOUT_MINUTES is closed
with a message. Its buttons carry the draft's id ("d:<id>:<value>"); any other button press is
a stale one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from telegram import Message, ReplyKeyboardRemove, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import Application, BaseHandler, CallbackQueryHandler, CommandHandler

from bot.domain import access, callbacks
from bot.domain import flow as engine
from bot.domain.access import Role
from bot.domain.flow import Draft, Env, Flow, Input, InputKind, Outcome, Prompt
from bot.domain.formatting import MESSAGE_LIMIT, escape_html, visible_length
from bot.domain.i18n import Translator, translator
from handlers.common import DanvanContext, denial_text, guarded, reply, stale
from handlers.keyboards import DRAFT_BUTTON, contact_keyboard, inline, main_menu, reply_choices
from storage import outbox
from storage.outbox import IF_GONE

log = logging.getLogger(__name__)

DRAFT = "draft"
FLOWS = "flows"  # bot_data: flow name -> FlowBinding

Finish = Callable[[Update, DanvanContext, Draft, Env], Awaitable[engine.Reply | None]]
Load = Callable[[DanvanContext, Draft], Awaitable[dict[str, Any]]]
Leave = Callable[[Update, DanvanContext, Draft], Awaitable[None]]


@dataclass(frozen=True)
class FlowBinding:
    """A flow as a feature offers it.

    - `needs`: the role checked before every answer (None: anyone, e.g. joining);
    - `load`: what the steps need from the database for the draft as it is (`Env.extra`),
      read before each answer and again when the answer moved the draft to another step;
    - `finish`: the flow was confirmed (or its last step answered): do it and tell the person.
      The draft has ended when it is called; a returned Reply is shown instead and the draft
      goes on (e.g. "this may repeat #L-12, press ✅ again");
    - `leave`: ◀ Back on the first step of a `back_out` flow; without it, that cancels."""

    flow: Flow
    finish: Finish
    needs: Role | None = Role.COORDINATOR
    load: Load | None = None
    leave: Leave | None = None


def bindings(context: DanvanContext) -> Mapping[str, FlowBinding]:
    found: Mapping[str, FlowBinding] = context.application.bot_data[FLOWS]
    return found


def binding_of(context: DanvanContext, flow: Flow | str) -> FlowBinding:
    return bindings(context)[flow if isinstance(flow, str) else flow.name]


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


async def env_for(context: DanvanContext, draft: Draft) -> Env:
    """The Env for the draft's flow as it stands, with what its `load` reads."""
    binding = binding_of(context, draft["flow"])
    extra = await binding.load(context, draft) if binding.load is not None else {}
    return flow_env(context, extra)


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


def message_input(message: Message) -> Input:
    """What kind of answer a message is, for the flow in progress."""
    if message.contact is not None:
        own = (
            message.contact.user_id is not None
            and message.from_user is not None
            and (message.contact.user_id == message.from_user.id)
        )
        return Input(InputKind.CONTACT, message.contact.phone_number, own_contact=own)
    if message.photo:
        return Input(InputKind.PHOTO, message.photo[-1].file_id)
    if message.document is not None:
        document = message.document
        return Input(
            InputKind.DOCUMENT,
            document.file_id,
            name=document.file_name or "",
            size=document.file_size,
        )
    if message.text is not None:
        return Input(InputKind.TEXT, message.text)
    return Input(InputKind.OTHER)


# --- showing prompts ------------------------------------------------------------------------


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
    # The old prompt is tidied first: both calls are owed and go out in this order after the
    # commit, so the person never sees the new question before the old one loses its buttons.
    await _retire(update, context, _take_prompt(draft))
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
    repeats every answer; so does a page of choices turned with ◀ ▶. False (nothing done)
    where a new message is needed: a typed answer, a reply keyboard, a message grown too long,
    or one Telegram will not edit."""
    query = update.callback_query
    message_id = await prompt_id(context, draft)
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
    if draft["step"] == engine.CONFIRM_STEP or _turned_page(query.data):
        combined = text
    else:
        combined = f"{draft.get('prompt_html', '')}\n➡️ <b>{pressed}</b>\n\n{text}"
    if visible_length(combined) > MESSAGE_LIMIT:
        return False
    markup = inline(prompt, draft["id"])
    try:
        shown = await context.bot.edit_message_text(
            combined,
            chat_id=query.message.chat.id,
            message_id=message_id,
            parse_mode="HTML",
            reply_markup=markup,
            # Deleted by the person meanwhile, say: the question goes in a new message.
            api_kwargs={IF_GONE: text},
        )
    except BadRequest as exc:  # made at once (outside an update): ask in a new message
        log.debug("Could not edit prompt %s in place: %s", message_id, exc)
        return False
    shown_id = shown.message_id if isinstance(shown, Message) else message_id
    draft["prompt_message_id"] = shown_id if markup is not None else None
    draft["prompt_html"] = combined
    return True


async def prompt_id(context: DanvanContext, draft: Draft) -> int | None:
    """The Telegram id of the draft's prompt. A prompt owed but not sent when it was noted has
    a placeholder id (storage/outbox.py) until the outbox has sent it."""
    message_id = draft.get("prompt_message_id")
    if isinstance(message_id, int) and message_id < 0:
        sent = await outbox.sent_message_id(context.session, message_id)
        if sent is not None:
            draft["prompt_message_id"] = message_id = sent
    return message_id


def _turned_page(data: str | None) -> bool:
    parts = callbacks.unpack(data, DRAFT_BUTTON, 2, rest=True)
    return parts is not None and parts[1].startswith(engine.PAGE)


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


# --- starting, answering, ending ------------------------------------------------------------


def in_the_middle_note(t: Translator, running: Flow) -> str:
    return "⚠️ " + t._(
        "You are in the middle of “{flow}”. Finish it, or send /huy to cancel it.",
        flow=running.title(t),
    )


async def remind_of_running(update: Update, context: DanvanContext, draft: Draft) -> None:
    """Show the step of the draft in progress again, with a note that it must be finished."""
    running = binding_of(context, draft["flow"]).flow
    env = await env_for(context, draft)
    note = in_the_middle_note(context.t, running)
    prompt = engine.prompt_for(running, draft, env)
    await show(update, context, draft, engine.Reply(Outcome.PROMPT, prompt, [note]))


async def begin(
    update: Update,
    context: DanvanContext,
    flow: Flow,
    *,
    step: str | None = None,
    history: list[str] | None = None,
    notes: list[str] | None = None,
    keep: Mapping[str, Any] | None = None,
    first: Input | None = None,
    **seed: Any,
) -> Draft | None:
    """Start `flow` with `seed` answers, replacing nothing: a flow in progress must be
    finished or cancelled first. `step` and `history` open it elsewhere than its first step
    (e.g. a record's correction on "which field?"); `keep` is kept in the draft beside the
    answers (e.g. which record is corrected); `first` answers the first question at once
    (e.g. a file sent before anything asked for it). None when another flow was in progress."""
    running = await live_draft(update, context)
    if running is not None:
        await remind_of_running(update, context, running)
        return None
    draft = engine.new_draft(flow, now(context), **seed)
    if step is not None:
        draft["step"] = step
        draft["history"] = list(history or [])
    draft.update(keep or {})
    draft["language"] = context.t.language
    assert context.user_data is not None
    context.user_data[DRAFT] = draft
    if first is not None:
        await advance(update, context, first)
        return draft
    env = await env_for(context, draft)
    if draft["step"] == engine.CONFIRM_STEP and flow.confirm is None:
        # Nothing to ask (every step skipped): finished as soon as begun.
        await _finish(update, context, draft, env)
        return draft
    prompt = engine.prompt_for(flow, draft, env)
    await show(update, context, draft, engine.Reply(Outcome.PROMPT, prompt, list(notes or [])))
    return draft


def end(context: DanvanContext) -> None:
    if context.user_data is not None:
        context.user_data.pop(DRAFT, None)


async def _download(context: DanvanContext, given: Input, prompt: Prompt) -> Input:
    """A document the step asks for, fetched if it is within the step's limit; otherwise left
    without content, for the step to refuse. What the update read so far (the draft's units,
    say) is committed first: the download must not hold a transaction open."""
    if given.kind is not InputKind.DOCUMENT or InputKind.DOCUMENT not in prompt.accepts:
        return given
    if given.size is not None and given.size > prompt.document_limit:
        return given
    await context.session.commit()
    file = await context.bot.get_file(given.value)
    content = bytes(await file.download_as_bytearray())
    if len(content) > prompt.document_limit:
        return dataclasses.replace(given, size=len(content))
    return dataclasses.replace(given, content=content, size=len(content))


async def advance(update: Update, context: DanvanContext, given: Input) -> bool:
    """Feed an input to the draft in progress; False when there is none (or it expired)."""
    draft = await live_draft(update, context)
    if draft is None:
        return False
    t = context.t
    binding = binding_of(context, draft["flow"])
    flow = binding.flow
    # A flow is begun by someone allowed to, but they may have lost the right since.
    denial = access.check(context.member, binding.needs)
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
    if given.kind is InputKind.DOCUMENT:
        current = engine.prompt_for(flow, draft, flow_env(context))
        given = await _download(context, given, current)
    env = await env_for(context, draft)
    before = (draft["step"], draft.get("page"), dict(draft["answers"]))
    result = engine.feed(flow, draft, given, env)
    if result.outcome is Outcome.CANCELLED:
        await _retire_prompt(update, context, draft)
        end(context)
        await reply(
            update, t._("Cancelled. Nothing was saved."), reply_markup=_menu_or_none(context)
        )
        return True
    if result.outcome is Outcome.LEFT:
        end(context)
        if binding.leave is not None:
            await binding.leave(update, context, draft)
        else:
            await _retire_prompt(update, context, draft)
            await reply(update, t._("Cancelled. Nothing was saved."))
        return True
    if result.outcome is Outcome.SAVE:
        # The card's buttons come off while the change is made.
        retiring = asyncio.ensure_future(_retire(update, context, _take_prompt(draft)))
        try:
            await _finish(update, context, draft, env, notes=result.notes)
        finally:
            await retiring
        return True
    if binding.load is not None and (draft["step"], draft.get("page"), draft["answers"]) != before:
        # The answer changed the draft: what its steps need may have changed with it.
        env = await env_for(context, draft)
        result = engine.Reply(Outcome.PROMPT, engine.prompt_for(flow, draft, env), result.notes)
    await show(update, context, draft, result)
    return True


async def _finish(
    update: Update,
    context: DanvanContext,
    draft: Draft,
    env: Env,
    *,
    notes: list[str] | None = None,
) -> None:
    binding = binding_of(context, draft["flow"])
    end(context)
    again = await binding.finish(update, context, draft, env)
    if again is not None:
        assert context.user_data is not None
        context.user_data[DRAFT] = draft
        await show(update, context, draft, again)


def _menu_or_none(context: DanvanContext) -> Any:
    return main_menu(context.t) if context.member is not None else ReplyKeyboardRemove()


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
            async with application.bot_data["db"].session() as session:
                prompt = await outbox.sent_message_id(session, draft.get("prompt_message_id"))
            if prompt:
                await application.bot.edit_message_reply_markup(chat_id=user_id, message_id=prompt)
            await application.bot.send_message(
                user_id, timeout_text(t, settings.conversation_timeout_minutes)
            )
        except Exception:  # a blocked bot or a deleted chat must not stop the sweep
            log.warning("Could not tell %s that their form expired", user_id, exc_info=True)
    return closed


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
    assert query is not None
    parts = callbacks.unpack(query.data, DRAFT_BUTTON, 2, rest=True)
    draft = current_draft(context)
    on_current_prompt = (
        parts is not None
        and draft is not None
        and draft["id"] == parts[0]
        and query.message is not None
        and await prompt_id(context, draft) == query.message.message_id
    )
    if not on_current_prompt or parts is None:
        await stale(update, context)
        return
    # Stopping the button's spinner need not hold up the answer to it.
    answering = asyncio.ensure_future(query.answer())
    try:
        await advance(update, context, Input(InputKind.CHOICE, parts[1]))
    finally:
        await answering


@guarded(None)
async def on_stale_button(update: Update, context: DanvanContext) -> None:
    """Any button nothing else understands: an old card."""
    await stale(update, context)


def handlers() -> list[BaseHandler[Update, DanvanContext, Any]]:
    return [
        CommandHandler(["huy", "cancel"], cancel),
        CallbackQueryHandler(on_button, pattern=rf"^{DRAFT_BUTTON}:[0-9a-f]+:"),
    ]


def late_handlers() -> list[BaseHandler[Update, DanvanContext, Any]]:
    return [CallbackQueryHandler(on_stale_button)]
