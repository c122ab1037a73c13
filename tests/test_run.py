"""`danvan run` as a real process: polls the Bot API it is pointed at, answers, stops on
SIGTERM, waits out an unreachable API with backoff, refuses a wrong token, never logs it."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.telegram.runner import leave_loaded_objects_to_refcounting
from tests.bot_process import BotProcess, bot_env, free_port
from tests.fakebot import FakeBotAPI
from tests.harness import TOKEN

SECRET = TOKEN.split(":", 1)[1]


def sqlite_env(tmp_path: Path, api_url: str, **extra: str) -> dict[str, str]:
    return bot_env(api_url, f"sqlite:///{tmp_path / 'danvan.db'}", **extra)


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI(TOKEN) as server:
        yield server


async def test_run_polls_the_configured_api_answers_and_stops_cleanly(
    fake: FakeBotAPI, tmp_path: Path
) -> None:
    bot = await BotProcess(tmp_path, sqlite_env(tmp_path, fake.base_url)).start()
    try:
        await fake.wait_for(lambda: fake.calls("getUpdates"), timeout=60, what="polling")
        answer = await fake.user(9001).ask("/start", timeout=30)
        assert "link mời" in answer.body
    finally:
        status = await bot.stop()
    assert status == 0, bot.log
    assert "Traceback" not in bot.log
    assert SECRET not in bot.log
    assert (tmp_path / "danvan.db").exists()


async def test_an_unreachable_api_is_reported_and_retried(tmp_path: Path) -> None:
    unreachable = f"http://127.0.0.1:{free_port()}"
    bot = await BotProcess(tmp_path, sqlite_env(tmp_path, unreachable)).start()
    try:
        await bot.wait_log("Không kết nối được Telegram Bot API")
        await bot.wait_log("Thử lại sau 2 giây")
    finally:
        status = await bot.stop()
    assert status == 0
    assert "Traceback" not in bot.log
    assert SECRET not in bot.log


async def test_a_refused_token_exits_2_with_a_clear_message(
    fake: FakeBotAPI, tmp_path: Path
) -> None:
    env = sqlite_env(tmp_path, fake.base_url, TELEGRAM_BOT_TOKEN="999:WRONG-SECRET")
    bot = await BotProcess(tmp_path, env).start()
    assert await bot.wait() == 2
    assert "Bot API từ chối TELEGRAM_BOT_TOKEN" in bot.log
    assert "WRONG-SECRET" not in bot.log and "Traceback" not in bot.log


def test_what_start_up_loaded_is_left_out_of_full_garbage_collections() -> None:
    """`danvan run` freezes what it loaded once it takes updates: a full collection then walks
    only what came after, instead of stopping the bot for the whole heap."""
    before = gc.get_freeze_count()
    try:
        leave_loaded_objects_to_refcounting()
        assert gc.get_freeze_count() > before
    finally:
        gc.unfreeze()  # this test process goes on
