"""A fake Telegram Bot API server and fake users, for driving the real PTB in tests.

async with FakeBotAPI("123456:TEST-TOKEN") as fake:
    app = (ApplicationBuilder().token(fake.token).base_url(f"{fake.base_url}/bot")
           .base_file_url(f"{fake.base_url}/file/bot").build())
    ...start the app and its updater's polling...
    alice = fake.user(1001, first_name="Lan", language_code="vi")
    reply = await alice.ask("/start")
    await alice.press(reply, "yes")
    await fake.wait_for(lambda: alice.answers)
"""

from .html_check import EntityParseError, parse_html, utf16_len
from .models import (
    ApiCall,
    ApiErrorRecord,
    CallbackAnswer,
    FakeFile,
    FakeMessage,
    ManualClock,
    ReplyButton,
    Upload,
)
from .server import FakeBotAPI
from .users import FakeUser

__all__ = [
    "ApiCall",
    "ApiErrorRecord",
    "CallbackAnswer",
    "EntityParseError",
    "FakeBotAPI",
    "FakeFile",
    "FakeMessage",
    "FakeUser",
    "ManualClock",
    "ReplyButton",
    "Upload",
    "parse_html",
    "utf16_len",
]
