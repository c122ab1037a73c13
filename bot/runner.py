"""`danvan run`: migrate, connect to the Bot API with backoff, poll until told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys

from telegram import Update
from telegram.error import InvalidToken, NetworkError

from bot.app import DanvanApplication, build_application, on_startup
from bot.i18n import Translator, translator
from bot.logging_setup import configure_logging
from bot.settings import Settings
from storage.engine import Database
from storage.migrate import upgrade

log = logging.getLogger("danvan")

EXIT_CONFIG = 2
MAX_BACKOFF_SECONDS = 60.0


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


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> int:
    """Run until `stop` is set (or SIGINT/SIGTERM); returns the exit status."""
    t = translator(settings.default_language)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    await upgrade(settings.database_url)
    db = Database(settings.database_url)
    application = build_application(settings, db)
    try:
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
        me = application.bot.bot
        log.info(t._("Connected as @{username}. Polling for updates.", username=me.username))
        await on_startup(application)
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(allowed_updates=Update.ALL_TYPES)
        await stop.wait()
        log.info(t._("Stopping."))
        await application.updater.stop()
        await application.stop()
        await application.shutdown()
        return 0
    finally:
        await db.dispose()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def run(settings: Settings) -> int:
    t = translator(settings.default_language)
    if settings.telegram_bot_token is None:
        print(missing_token_text(t), file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(settings)
    return asyncio.run(serve(settings))
