"""What every handler shares: the context type, one DB session per update, and the central
permission check that each handler declares with `@guarded(role)`."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import CallbackQuery, InlineKeyboardMarkup, Update
from telegram.error import BadRequest
from telegram.ext import Application, CallbackContext, ExtBot

from bot.domain import access, callbacks
from bot.domain.access import Role
from bot.domain.formatting import SHOWN_CODE, escape_html, shorten
from bot.domain.i18n import Translator, pick_language, translator
from bot.domain.outgoing import OutMessage, Report, Send
from bot.domain.units import UnitOption
from bot.settings import Settings
from storage import members, outbox, scope
from storage.audit import record
from storage.engine import Database, begin_reading
from storage.models import Member, Unit, pk

log = logging.getLogger(__name__)

R = TypeVar("R")


class Sending(Protocol):
    """How handlers send what is not a direct answer (the PTB assembly's Delivery): paced,
    retried, and for Sends claimed in the ledger first."""

    async def deliver(self, sends: Iterable[Send], *, force: bool = False) -> Report: ...

    async def send_messages(self, chat_id: int, messages: Sequence[OutMessage]) -> None: ...


class Scheduling(Protocol):
    """What handlers ask of the scheduler (bot/telegram/jobs.py) without importing it."""

    @property
    def delivery(self) -> Sending: ...

    async def rebuild(self) -> object:
        """Remake the reminder and digest jobs from the schedules in the database."""

    async def refresh(self) -> None:
        """`rebuild`, if the jobs are running (tests that drive the clock run none)."""

    async def snooze(self, session: AsyncSession, telegram_id: int, now: datetime) -> datetime:
        """Remind a coordinator again later; when."""


class DanvanContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """PTB's context plus what the guard fills in for the handler."""

    def __init__(
        self,
        application: Application[Any, Any, Any, Any, Any, Any],
        chat_id: int | None = None,
        user_id: int | None = None,
    ) -> None:
        super().__init__(application=application, chat_id=chat_id, user_id=user_id)
        self._session: AsyncSession | None = None
        self.member: Member | None = None
        self.t: Translator = translator(None)

    @property
    def db(self) -> Database:
        db: Database = self.application.bot_data["db"]
        return db

    @property
    def settings(self) -> Settings:
        settings: Settings = self.application.bot_data["settings"]
        return settings

    @property
    def members(self) -> members.MemberCache:
        """The senders already looked up (in an application built without one, a cache that
        remembers nothing)."""
        cache: members.MemberCache = self.application.bot_data.get("members") or _NO_CACHE
        return cache

    @property
    def scheduler(self) -> Scheduling:
        scheduler: Scheduling = self.application.bot_data["scheduler"]
        return scheduler

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("no session: is the handler wrapped in @guarded?")
        return self._session


Callback = Callable[[Update, DanvanContext], Coroutine[Any, Any, R]]


async def reply(update: Update, text: str, **kwargs: Any) -> None:
    """Answer in the chat the update came from, in HTML."""
    chat = update.effective_chat
    if chat is not None:
        await chat.send_message(text, parse_mode="HTML", **kwargs)


async def reply_now(update: Update, text: str, **kwargs: Any) -> None:
    """`reply`, sent at once rather than owed: a note before a long delivery the update makes
    itself (an announcement), after committing what came before."""
    work = outbox.current_work()
    if work is None:
        await reply(update, text, **kwargs)
        return
    with work.sending_directly():
        await reply(update, text, **kwargs)


async def after_commit(context: DanvanContext, follow_up: Callable[[], Awaitable[object]]) -> None:
    """Run `follow_up` once what the update changed is committed (the reminder jobs are
    remade from the database, so they must see the change)."""
    work = outbox.current_work()
    if work is None:  # not within an update the application commits
        await context.session.commit()
        await follow_up()
        return
    work.after_commit.append(follow_up)


def stale_text(t: Translator) -> str:
    return t._("This card has expired.")


async def stale(update: Update, context: DanvanContext) -> None:
    """The one answer to a button (or a reply) that no longer means anything: a card gone
    out of date, a draft ended, a unit out of reach, or callback data that does not decode."""
    query = update.callback_query
    if query is not None:
        await query.answer(stale_text(context.t), show_alert=True)
    else:
        await reply(update, stale_text(context.t))


async def pressed(
    update: Update, context: DanvanContext, prefix: str, action: str, count: int
) -> tuple[CallbackQuery, list[int]] | None:
    """The pressed button and the `count` numbers of its "prefix:action:N:…" data
    (bot/domain/callbacks.py); None, the button given the stale answer, when its data is not
    such a button's."""
    query = update.callback_query
    parts = callbacks.unpack(query.data if query is not None else None, prefix, count + 1)
    numbers = callbacks.numbers(parts[1:]) if parts is not None and parts[0] == action else None
    if query is None or numbers is None:
        await stale(update, context)
        return None
    return query, numbers


async def edit_in_place(
    query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None
) -> None:
    """Show `text` in the message whose button was pressed (without `markup`, the buttons go).
    A second press of the same button finds the message already so: nothing to change."""
    try:
        await query.edit_message_text(text, parse_mode="HTML", reply_markup=markup)
    except BadRequest as exc:
        if "not modified" not in str(exc).lower():
            raise


def not_registered_text(t: Translator) -> str:
    return t._(
        "Hello! danvan is for the Dân vận khéo teams. To join, ask your commune or ward "
        "official for an invite link, then open it on this phone."
    )


async def refuse(update: Update, context: DanvanContext, denial: access.Denial) -> None:
    """Say politely why not."""
    t = context.t
    if update.callback_query is not None:
        await update.callback_query.answer()
    await reply(update, denial_text(t, denial))


def denial_text(t: Translator, denial: access.Denial) -> str:
    if denial is access.Denial.NOT_REGISTERED:
        return not_registered_text(t)
    if denial is access.Denial.INACTIVE:
        return t._("Your account has been deactivated. Please contact your official.")
    return t._("Sorry, you do not have permission to do that.")


_NO_CACHE = members.MemberCache()  # never checked, so it remembers nothing


async def _sender(context: DanvanContext, session: AsyncSession, telegram_id: int) -> Member | None:
    """The member who sent the update: remembered (merged into this session without a query),
    or read in a read-only transaction ended at once. Most updates (a step of a form) need
    nothing more from the database, and their Bot API calls must not hold a transaction open,
    least of all SQLite's one write lock. What the callback reads or writes runs in the
    session's next transaction, committed (or rolled back) as one when the callback ends."""
    cache = context.members
    remembered = cache.get(telegram_id)
    if remembered is not None:
        return await session.merge(remembered, load=False)
    generation = cache.generation
    await begin_reading(session, one_statement=True)
    member = await members.by_telegram_id(session, telegram_id)
    await session.commit()
    if member is not None:
        cache.put(member, generation)
    return member


def guarded(needs: Role | None) -> Callable[[Callback[R]], Callback[R | None]]:
    """Open the update's DB session, find the member, and let the callback run only if
    `needs` allows it (None: anyone). A refusal is answered politely and audited."""

    def decorate(callback: Callback[R]) -> Callback[R | None]:
        @functools.wraps(callback)
        async def wrapper(update: Update, context: DanvanContext) -> R | None:
            work = outbox.current_work()
            if work is None:  # not within an update the application commits (tests of parts)
                async with context.db.session() as session:
                    return await _guarded(update, context, session, callback, needs, work)
            if work.session is None:
                work.session = context.db.open_session()
            try:
                return await _guarded(update, context, work.session, callback, needs, work)
            except BaseException:
                await work.session.rollback()
                work.discard()  # what it noted it owes goes with what it did
                raise

        return wrapper

    return decorate


async def _guarded(
    update: Update,
    context: DanvanContext,
    session: AsyncSession,
    callback: Callback[R],
    needs: Role | None,
    work: outbox.UpdateWork | None,
) -> R | None:
    user = update.effective_user
    context._session = session
    try:
        member = None
        if user is not None:
            member = await _sender(context, session, user.id)
        if member is not None and member.unreachable_at is not None:
            member.unreachable_at = None  # they talk to us again: reachable
        context.member = member
        language = (
            member.language
            if member
            else pick_language(
                user.language_code if user else None,
                context.settings.default_language,
            )
        )
        context.t = translator(language)
        if work is not None:
            work.language = context.t.language
        denial = access.check(member, needs)
        if denial is None:
            return await callback(update, context)
        if member is not None:
            await record(
                session,
                "command",
                None,
                "refused",
                None,
                {"handler": callback.__name__, "reason": denial.value},
                unit_id=member.unit_id,
                actor_id=member.id,
            )
    finally:
        context._session = None
    await refuse(update, context, denial)
    return None


async def named_unit(
    update: Update,
    context: DanvanContext,
    code: str,
    *,
    active_only: bool = False,
    audit_as: str | None = None,
) -> Unit | None:
    """The unit a code typed after a command names (/xuat CN1), if it is in the member's area;
    otherwise None, the person told there is no such unit in their area (as if unknown)."""
    found = await scope.find_unit(
        context.session,
        context.member,
        code=code,
        active_only=active_only,
        audit_as=audit_as,
        now=context.application.bot_data["clock"](),
    )
    if found.unit is None:
        await reply(update, no_unit_text(context.t, code))
    return found.unit


def no_unit_text(t: Translator, code: str) -> str:
    return t._(
        "There is no unit with code {code} in your area.",
        code=escape_html(shorten(code, SHOWN_CODE)),
    )


def unit_options(units: Iterable[Unit]) -> list[UnitOption]:
    """Units as a picker offers them (bot/domain/forms/steps.py, `unit_step`)."""
    return [
        UnitOption(
            pk(unit),
            unit.code,
            unit.name,
            unit.level,
            unit.former_name,
            unit.active,
            path=unit.path,
            parent_id=unit.parent_id,
        )
        for unit in units
    ]
