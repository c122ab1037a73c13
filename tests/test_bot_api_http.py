"""The bot's aiohttp client for the Bot API (bot/bot_api_http.py) against the fake, over HTTP:
answers, Bot API errors, uploads, timeouts and a refused connection, as PTB expects them."""

from __future__ import annotations

import io
import socket
from collections.abc import AsyncIterator

import pytest
from telegram import Bot
from telegram.error import BadRequest, NetworkError, TimedOut

from bot.telegram.bot_api_http import AiohttpRequest
from tests.fakebot import FakeBotAPI

TOKEN = "123456:HTTP-CLIENT-SECRET"


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI(TOKEN) as server:
        yield server


def client_bot(api_url: str, **timeouts: float) -> Bot:
    return Bot(
        TOKEN,
        base_url=f"{api_url}/bot",
        request=AiohttpRequest(pool_size=4, **timeouts),
        get_updates_request=AiohttpRequest(pool_size=1),
    )


async def test_messages_errors_and_uploads_go_through(fake: FakeBotAPI) -> None:
    alice = fake.user(1001)
    async with client_bot(fake.base_url) as bot:
        sent = await bot.send_message(alice.id, "<b>Chào</b> bà", parse_mode="HTML")
        assert sent.text == "Chào bà"
        with pytest.raises(BadRequest, match=r"(?i)can.t parse entities"):
            await bot.send_message(alice.id, "<b>unclosed", parse_mode="HTML")
        await bot.send_document(
            alice.id, io.BytesIO(b"PK\x03\x04 xlsx"), filename="bao-cao.xlsx", caption="Tệp"
        )
    assert alice.texts[0] == "Chào bà"
    document = fake.calls("sendDocument")[0]
    assert document["caption"] == "Tệp"


async def test_a_slow_answer_times_out(fake: FakeBotAPI) -> None:
    alice = fake.user(1001)
    fake.inject_delay("sendMessage", 0.5)
    async with client_bot(fake.base_url, read_timeout=0.05) as bot:
        with pytest.raises(TimedOut):
            await bot.send_message(alice.id, "chậm")


async def test_a_refused_connection_is_a_network_error_without_the_token() -> None:
    with socket.socket() as probe:  # a free port on loopback that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    request = AiohttpRequest(pool_size=1)
    await request.initialize()
    try:
        with pytest.raises(NetworkError) as caught:
            await request.post(f"http://127.0.0.1:{port}/bot{TOKEN}/getMe")
    finally:
        await request.shutdown()
    assert not isinstance(caught.value, TimedOut)
    assert TOKEN not in str(caught.value)
    assert "HTTP-CLIENT-SECRET" not in repr(caught.value)
