"""`danvan run`: become the active process (or wait as a standby), migrate, connect to the
Bot API with backoff, then poll or serve the webhook until told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
import sys
import uuid
from datetime import UTC, datetime

from sqlalchemy.exc import OperationalError
from telegram import Update
from telegram.error import InvalidToken, NetworkError

from bot.domain.i18n import Translator, translator
from bot.services.health import HEARTBEAT_SECONDS, check_health
from bot.settings import Settings
from bot.telegram.app import (
    DanvanApplication,
    build_application,
    inbox,
    on_shutdown,
    on_startup,
)
from bot.telegram.logging_setup import configure_logging
from bot.telegram.webhook import WebhookServer
from storage import runtime
from storage.active_lock import ActiveLock, active_lock_for
from storage.engine import Database
from storage.migrate import upgrade
from storage.runtime import ProcessStatus

log = logging.getLogger("danvan")

EXIT_CONFIG = 2
EXIT_REPLACED = 75  # another process became active; a supervisor restarts this one as standby
MAX_BACKOFF_SECONDS = 60.0
STANDBY_POLL_SECONDS = 1.0


def missing_token_text(t: Translator) -> str:
    return t._(
        "TELEGRAM_BOT_TOKEN is not set, so the bot cannot start.\n"
        "\n"
        "1. In Telegram, open a chat with @BotFather and send /newbot.\n"
        "2. Choose a name and a username ending in 'bot'; BotFather replies with a token "
        "like 123456789:AAE...\n"
        "3. Put it in the file .env in this folder:\n"
        "     TELEGRAM_BOT_TOKEN=123456789:AAE...\n"
        "   (or set it as an environment variable), then run the bot again."
    )


async def connect(
    application: DanvanApplication, t: Translator, api_url: str, stop: asyncio.Event
) -> bool:
    """Initialize (getMe) until the Bot API answers, waiting longer after each failure.
    False when told to stop first."""
    delay = 1.0
    while not stop.is_set():
        try:
            await application.initialize()
            return True
        except InvalidToken:
            raise
        except NetworkError as exc:
            log.warning(
                t._(
                    "Cannot reach the Telegram Bot API at {url} ({error}). "
                    "Trying again in {seconds} s.",
                    url=api_url,
                    error=exc.message,
                    seconds=int(delay),
                )
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
            delay = min(delay * 2, MAX_BACKOFF_SECONDS)
    return False


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    """Pause for `seconds`, or less when told to stop."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def _beat(db: Database, status: ProcessStatus) -> None:
    status.heartbeat_at = datetime.now(UTC)
    try:
        async with db.session() as session:
            await runtime.beat(session, status)
    except Exception:  # the database is down or not migrated yet; the next beat tries again
        log.debug("Could not write the heartbeat", exc_info=True)


async def wait_until_active(
    lock: ActiveLock, db: Database, status: ProcessStatus, t: Translator, stop: asyncio.Event
) -> bool:
    """Take the active lock, waiting as a standby while another process holds it. False when
    told to stop first."""
    said = False
    last_beat = 0.0
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        if await lock.try_acquire():
            if said:
                log.info(t._("The active danvan process is gone; taking over."))
            return True
        if not said:
            log.info(t._("Another danvan process is active; waiting as a standby."))
            said = True
        if loop.time() - last_beat >= HEARTBEAT_SECONDS:
            await _beat(db, status)
            last_beat = loop.time()
        await _wait(stop, STANDBY_POLL_SECONDS)
    return False


async def migrate(settings: Settings, t: Translator, stop: asyncio.Event) -> bool:
    """Bring the schema up to date, waiting for the database if it is not reachable yet."""
    delay = 1.0
    while not stop.is_set():
        try:
            await upgrade(settings.database_url)
            return True
        except (OperationalError, OSError) as exc:
            log.warning(
                t._(
                    "Cannot reach the database ({error}). Trying again in {seconds} s.",
                    error=type(exc).__name__,
                    seconds=int(delay),
                )
            )
            await _wait(stop, delay)
            delay = min(delay * 2, MAX_BACKOFF_SECONDS)
    return False


def _describe_jobs(application: DanvanApplication, status: ProcessStatus) -> None:
    assert application.job_queue is not None
    jobs = application.job_queue.jobs()
    status.scheduled_jobs = len(jobs)
    upcoming = [job.next_t for job in jobs if job.next_t is not None]
    status.next_job_at = min(upcoming) if upcoming else None


async def supervise(
    application: DanvanApplication,
    db: Database,
    lock: ActiveLock,
    status: ProcessStatus,
    t: Translator,
    stop: asyncio.Event,
) -> int:
    """While active: write the heartbeat, and watch the lock. When its database connection
    broke, take it again; if another process took it meanwhile, step down (returns
    EXIT_REPLACED and sets `stop`)."""
    queue = inbox(application)
    loop = asyncio.get_running_loop()
    last_beat = -float(HEARTBEAT_SECONDS)
    while not stop.is_set():
        if not await lock.still_held():
            log.error(t._("Lost the database connection that holds the active lock."))
            while not stop.is_set() and not await lock.try_acquire():
                if lock.held_elsewhere:
                    log.error(t._("Another danvan process is active now; stopping this one."))
                    stop.set()
                    return EXIT_REPLACED
                await _wait(stop, STANDBY_POLL_SECONDS)
            log.info(t._("Holding the active lock again."))
        if loop.time() - last_beat >= HEARTBEAT_SECONDS:
            status.last_update_id = queue.last_update_id
            status.last_update_at = queue.last_update_at
            _describe_jobs(application, status)
            await _beat(db, status)
            last_beat = loop.time()
        await _wait(stop, STANDBY_POLL_SECONDS)
    return 0


async def serve(
    settings: Settings, stop: asyncio.Event | None = None, *, webhook: bool = False
) -> int:
    """Run until `stop` is set (or SIGINT/SIGTERM); returns the exit status."""
    t = translator(settings.default_language)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    started = datetime.now(UTC)
    status = ProcessStatus(
        instance=f"bot:{uuid.uuid4().hex[:16]}",
        host=socket.gethostname(),
        pid=os.getpid(),
        mode="webhook" if webhook else "polling",
        active=False,
        started_at=started,
        heartbeat_at=started,
    )
    db = Database(settings.database_url)
    lock = active_lock_for(settings.database_url)
    try:
        # Only the active process migrates, so two starting at once do not race.
        if not await wait_until_active(lock, db, status, t, stop):
            return 0
        if not await migrate(settings, t, stop):
            return 0
        status.active = True
        await _beat(db, status)
        return await _serve_active(settings, db, lock, status, t, stop, webhook=webhook)
    finally:
        with contextlib.suppress(Exception):
            async with db.session() as session:
                await runtime.forget(session, status.instance)
        await lock.release()
        await db.dispose()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def leave_loaded_objects_to_refcounting() -> None:
    """What is loaded by now (modules, the application, its handlers) lives as long as the
    process: keep it out of Python's full garbage collections, which otherwise stop the bot
    for a few hundred ms each time they walk all of it (bench/test_conversation_load.py)."""
    gc.collect()
    gc.freeze()


async def _serve_active(
    settings: Settings,
    db: Database,
    lock: ActiveLock,
    status: ProcessStatus,
    t: Translator,
    stop: asyncio.Event,
    *,
    webhook: bool,
) -> int:
    application = build_application(settings, db, instance=status.instance)
    try:
        if not await connect(application, t, settings.telegram_api_url, stop):
            return 0
    except InvalidToken:
        print(
            t._(
                "The Bot API refused TELEGRAM_BOT_TOKEN. Check the token with @BotFather "
                "(/mybots → API Token) and put it in .env."
            ),
            file=sys.stderr,
        )
        return EXIT_CONFIG
    await on_startup(application)
    await application.start()
    await inbox(application).replay(application.bot)
    server: WebhookServer | None = None
    me = application.bot.bot
    if webhook:
        assert settings.webhook_url is not None and settings.webhook_secret is not None
        server = WebhookServer(
            application, settings, lambda: check_health(settings, db, datetime.now(UTC))
        )
        await server.start()
        await application.bot.set_webhook(
            url=settings.webhook_url,
            secret_token=settings.webhook_secret.get_secret_value(),
            allowed_updates=Update.ALL_TYPES,
        )
        log.info(
            t._(
                "Connected as @{username}. Taking updates at {host}:{port}{path}.",
                username=me.username,
                host=settings.listen_host,
                port=settings.listen_port,
                path=settings.webhook_path,
            )
        )
    else:
        assert application.updater is not None
        await application.updater.start_polling(allowed_updates=Update.ALL_TYPES)
        log.info(t._("Connected as @{username}. Polling for updates.", username=me.username))
    leave_loaded_objects_to_refcounting()  # once taking updates: start-up is not held up
    supervisor = asyncio.create_task(supervise(application, db, lock, status, t, stop))
    await stop.wait()
    log.info(t._("Stopping."))
    exit_status = await supervisor
    # Stop taking updates first; then application.stop() finishes those in flight and
    # writes the conversation state.
    if server is not None:
        await server.stop()
    elif application.updater is not None:
        await application.updater.stop()
    await application.stop()
    await on_shutdown(application)
    await application.shutdown()
    return exit_status


def run(settings: Settings, *, webhook: bool = False) -> int:
    t = translator(settings.default_language)
    if settings.telegram_bot_token is None:
        print(missing_token_text(t), file=sys.stderr)
        return EXIT_CONFIG
    if webhook and (settings.webhook_url is None or settings.webhook_secret is None):
        print(
            t._(
                "Webhook mode needs WEBHOOK_URL (the public https address Telegram calls) and "
                "WEBHOOK_SECRET (1-256 characters of A-Z, a-z, 0-9, _ and -). Set both in .env."
            ),
            file=sys.stderr,
        )
        return EXIT_CONFIG
    configure_logging(settings)
    return asyncio.run(serve(settings, webhook=webhook))
