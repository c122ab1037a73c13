"""The baseline for the conversation-load benchmark: a bare PTB Application that answers each
message with one sendMessage and each button press with one answerCallbackQuery.

It is built like danvan's (bot/app.py): long polling, the same per-chat concurrent update
processor (at the number of updates at once that suits it best), AIORateLimiter; no
persistence, no database. Its replies carry one inline button,
so that the load's simulated people have something to press.
"""

from __future__ import annotations

from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackContext,
    CallbackQueryHandler,
    MessageHandler,
    filters,
)

from bot.telegram.update_processor import PerChatUpdateProcessor

EchoApplication = Application[Any, Any, Any, Any, Any, Any]

BUTTON = "OK"


async def echo(update: Update, context: CallbackContext[Any, Any, Any, Any]) -> None:
    message = update.effective_message
    assert message is not None
    await message.reply_text(
        message.text or "?",
        reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton(BUTTON, callback_data="ok")]]),
    )


async def answer(update: Update, context: CallbackContext[Any, Any, Any, Any]) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer()


def build_echo_application(
    token: str, api_url: str, rate_limiter: AIORateLimiter | None = None
) -> EchoApplication:
    """The echo bot against `api_url` (the root, as TELEGRAM_API_URL). `rate_limiter` defaults
    to the one bot/app.py gives danvan."""
    application: EchoApplication = (
        ApplicationBuilder()
        .token(token)
        .base_url(f"{api_url}/bot")
        .base_file_url(f"{api_url}/file/bot")
        # 64 at once, not danvan's 256: PTB's httpx client slows down with many requests at
        # once, and this is the echo bot's best here (about 350 updates/s against 150 at 256).
        .concurrent_updates(PerChatUpdateProcessor(64))
        .rate_limiter(rate_limiter or AIORateLimiter(max_retries=3))
        .build()
    )
    application.add_handler(MessageHandler(filters.ALL, echo))
    application.add_handler(CallbackQueryHandler(answer))
    return application
