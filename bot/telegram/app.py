"""Assembling the PTB Application: settings, database, handlers in their order, errors."""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from telegram import Update
from telegram.error import BadRequest, NetworkError
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, ContextTypes, ExtBot

from bot.domain.i18n import translator
from bot.settings import Settings
from bot.telegram import command_menus
from bot.telegram.bot_api_http import AiohttpRequest
from bot.telegram.inbox import InboxQueue
from bot.telegram.jobs import Scheduler, scheduler
from bot.telegram.outbox import BACKOFF as OUTBOX_BACKOFF
from bot.telegram.outbox import OWED, OutboxSender, owe
from bot.telegram.persistence import OUTBOX_SENDER, DatabasePersistence, FlushingApplication
from bot.telegram.update_processor import PerChatUpdateProcessor
from handlers import (
    audit_log,
    broadcast,
    conversation,
    digests,
    export,
    forms,
    invites_admin,
    members_admin,
    menu,
    onboarding,
    reminders,
    review,
    schedule_admin,
    stats,
    units_admin,
)
from handlers.common import DanvanContext
from storage import outbox
from storage.engine import Database, check_no_transaction
from storage.outbox import begin_work, current_work, end_work

log = logging.getLogger(__name__)

SWEEP_SECONDS = 60
SWEEP_JOB = "expire-idle-drafts"
CATCH_UP_JOB = "catch-up"

DanvanApplication = Application[Any, DanvanContext, Any, Any, Any, Any]


def database_unreachable(error: BaseException | None) -> bool:
    """The database is down or restarting (not a bug): worth one log line, not a traceback."""
    return isinstance(error, OperationalError | InterfaceError) or (
        isinstance(error, DBAPIError) and error.connection_invalidated
    )


async def on_error(update: object, context: DanvanContext) -> None:
    """Log the failure with its update, and tell the person to try again."""
    if database_unreachable(context.error):
        update_id = update.update_id if isinstance(update, Update) else None
        log.warning("Database unreachable while handling update %s: %s", update_id, context.error)
    else:
        log.error("Error while handling %r", update, exc_info=context.error)
    if isinstance(update, Update) and update.effective_chat is not None:
        user = update.effective_user
        t = translator(user.language_code if user else None)
        # At once, not owed: the update may not commit (the database is down, say).
        token = begin_work(None)
        try:
            await update.effective_chat.send_message(
                html.escape(t._("Something went wrong. Please try again in a moment.")),
                parse_mode="HTML",
            )
        except Exception:  # the person is told nothing more; the log has it all
            log.warning("Could not tell the user about the error", exc_info=True)
        finally:
            end_work(token)


async def on_startup(application: DanvanApplication, *, periodic_jobs: bool = True) -> None:
    """After initialize(), before polling: the command menu and the periodic jobs (tests
    that drive the clock themselves leave the jobs out and call them directly)."""
    await scheduler(application).recover_claims()  # before anything sends: we are the active bot
    outbox_sender(application).start()  # what earlier processes owed and did not send, first
    await command_menus.register_commands(application.bot)
    await command_menus.register_member_commands(application.bot, application.bot_data["db"])
    if periodic_jobs:
        assert application.job_queue is not None
        application.job_queue.run_repeating(
            expire_idle_drafts_job, interval=SWEEP_SECONDS, first=1, name=SWEEP_JOB
        )
        await scheduler(application).rebuild()
        application.job_queue.run_once(catch_up_job, when=1, name=CATCH_UP_JOB)


async def catch_up_job(context: DanvanContext) -> None:
    """What fell due while the bot was down, once it is running."""
    await scheduler(context.application).catch_up()


async def expire_idle_drafts_job(context: DanvanContext) -> None:
    """Close forms left idle past the timeout (also those left before a restart), and forget
    updates handled and messages sent long ago."""
    clock: Callable[[], datetime] = context.application.bot_data["clock"]
    await conversation.expire_idle_drafts(context.application, clock())
    await inbox(context.application).prune()
    async with context.db.session() as session:
        await outbox.prune(session, clock())


def outbox_sender(application: Application[Any, Any, Any, Any, Any, Any]) -> OutboxSender:
    sender: OutboxSender = application.bot_data[OUTBOX_SENDER]
    return sender


SHUTDOWN_GRACE = 2.0  # seconds for the replies just committed to go out


async def on_shutdown(application: DanvanApplication) -> None:
    """Stop sending, after a moment for what was just committed: a stuck send does not hold up
    the stop; what was not sent stays in the outbox for the next process."""
    sender = outbox_sender(application)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(sender.drained(), SHUTDOWN_GRACE)
    await sender.stop()


def inbox(application: Application[Any, Any, Any, Any, Any, Any]) -> InboxQueue:
    queue = application.update_queue
    assert isinstance(queue, InboxQueue)
    return queue


class DanvanBot(ExtBot[int]):
    """PTB's bot, for whom answering a button tap is a courtesy (it stops the spinner, which
    stops by itself anyway): when Telegram no longer takes the answer ("query is too old": an
    update handled again after a restart, or late under load) or fails to take it (5xx, a
    timeout), the handler goes on with the tap's real work instead of failing, and the
    person is not told to try again what was done.

    With an `inbox`, each polled batch of updates is stored in it in one transaction before
    PTB puts the updates in the queue one by one."""

    def __init__(self, *args: Any, inbox: InboxQueue | None = None, **kwargs: Any) -> None:
        self._inbox = inbox
        super().__init__(*args, **kwargs)

    async def _do_post(self, endpoint: str, data: Any, *args: Any, **kwargs: Any) -> Any:
        work = current_work()
        if work is not None and work.capturing and endpoint in OWED:
            return owe(work, endpoint, data)  # made after the update commits
        check_no_transaction(endpoint, also=work.session if work is not None else None)
        return await super()._do_post(endpoint, data, *args, **kwargs)

    async def get_updates(self, *args: Any, **kwargs: Any) -> tuple[Update, ...]:
        updates = await super().get_updates(*args, **kwargs)
        if self._inbox is not None:
            await self._inbox.receive_batch(updates)
        return updates

    async def answer_callback_query(self, *args: Any, **kwargs: Any) -> bool:
        try:
            return await super().answer_callback_query(*args, **kwargs)
        except BadRequest as exc:
            if "query is too old" not in str(exc).lower():
                raise
            log.info("A button tap was answered too late: %s", exc)
        except NetworkError as exc:
            log.warning("A button tap could not be answered: %s", exc)
        return False


def build_application(
    settings: Settings,
    db: Database,
    *,
    clock: Callable[[], datetime] | None = None,
    instance: str = "bot",
    outbox_backoff: float = OUTBOX_BACKOFF,
) -> DanvanApplication:
    """The bot, ready to initialize. `clock` replaces the wall clock in tests; `instance`
    names this process in the send ledger and in `danvan health`."""
    if settings.telegram_bot_token is None:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
    now = clock or (lambda: datetime.now(UTC))
    queue = InboxQueue(db, now)
    application: DanvanApplication = (
        ApplicationBuilder()
        .bot(
            DanvanBot(
                settings.telegram_bot_token.get_secret_value(),
                base_url=settings.bot_base_url(),
                base_file_url=settings.bot_file_url(),
                # A pool for concurrent updates, as ApplicationBuilder gives its own bot.
                request=AiohttpRequest(pool_size=256),
                get_updates_request=AiohttpRequest(pool_size=1),
                rate_limiter=AIORateLimiter(max_retries=3),
                inbox=queue,
            )
        )
        .context_types(ContextTypes(context=DanvanContext))
        .update_queue(queue)
        .concurrent_updates(PerChatUpdateProcessor())
        .persistence(DatabasePersistence(db, clock=now))
        .application_class(FlushingApplication)
        .build()
    )
    application.bot_data["settings"] = settings
    application.bot_data["db"] = db
    application.bot_data["clock"] = now
    application.bot_data["members"] = queue.members
    application.bot_data["instance"] = instance
    application.bot_data["scheduler"] = Scheduler(application)
    application.bot_data[OUTBOX_SENDER] = OutboxSender(
        application.bot, db, clock=now, backoff=outbox_backoff
    )
    # Every multi-step chat, by flow name (handlers/conversation.py).
    application.bot_data[conversation.FLOWS] = {
        binding.flow.name: binding
        for binding in [
            *onboarding.flows(),
            *forms.flows(),
            *export.flows(),
            *broadcast.flows(),
            *stats.flows(),
            *schedule_admin.flows(),
            *units_admin.flows(),
            *invites_admin.flows(),
            *members_admin.flows(),
        ]
    }
    # One group, so the first handler that matches wins and the fallback comes last.
    application.add_handlers(
        [
            *onboarding.handlers(),
            *conversation.handlers(),
            *forms.handlers(),
            *menu.handlers(),
            *review.handlers(),
            *reminders.handlers(),
            *digests.handlers(),
            *units_admin.handlers(),
            *invites_admin.handlers(),
            *members_admin.handlers(),
            *export.handlers(),
            *broadcast.handlers(),
            *stats.handlers(),
            *schedule_admin.handlers(),
            *audit_log.handlers(),
            *conversation.late_handlers(),
            *menu.late_handlers(),
        ]
    )
    application.add_error_handler(on_error)
    return application
