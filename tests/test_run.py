"""`danvan run` as a real process: polls the Bot API it is pointed at, answers, stops on
SIGTERM, waits out an unreachable API with backoff, refuses a wrong token, never logs it."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakebot import FakeBotAPI
from tests.harness import TOKEN

SECRET = TOKEN.split(":", 1)[1]


async def start_bot(tmp_path: Path, api_url: str, token: str = TOKEN) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CI")}
    env.update(
        TELEGRAM_BOT_TOKEN=token,
        TELEGRAM_API_URL=api_url,
        DATABASE_URL=f"sqlite:///{tmp_path / 'danvan.db'}",
        DEFAULT_LANGUAGE="vi",
        PTB_TIMEDELTA="true",
    )
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "run",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def stop_bot(
    process: asyncio.subprocess.Process, *, terminate: bool = True
) -> tuple[int, str]:
    """Stop the bot with SIGTERM (or let it end by itself); returns its status and log."""
    if terminate and process.returncode is None:
        process.send_signal(signal.SIGTERM)
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode is not None
    return process.returncode, stderr.decode()


async def read_until(process: asyncio.subprocess.Process, needle: str) -> str:
    assert process.stderr is not None
    seen = ""
    while needle not in seen:
        line = await asyncio.wait_for(process.stderr.readline(), timeout=30)
        assert line, f"the bot exited before saying {needle!r}: {seen}"
        seen += line.decode()
    return seen


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI(TOKEN) as server:
        yield server


async def test_run_polls_the_configured_api_answers_and_stops_cleanly(
    fake: FakeBotAPI, tmp_path: Path
) -> None:
    process = await start_bot(tmp_path, fake.base_url)
    try:
        await fake.wait_for(lambda: fake.calls("getUpdates"), timeout=60, what="polling")
        answer = await fake.user(9001).ask("/start", timeout=30)
        assert "link mời" in answer.body
    finally:
        status, log = await stop_bot(process)
    assert status == 0, log
    assert "Traceback" not in log
    assert SECRET not in log
    assert (tmp_path / "danvan.db").exists()


async def test_an_unreachable_api_is_reported_and_retried(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = await start_bot(tmp_path, f"http://127.0.0.1:{port}")
    try:
        said = await read_until(process, "Không kết nối được Telegram Bot API")
        said += await read_until(process, "Thử lại sau 2 giây")
    finally:
        status, log = await stop_bot(process)
    assert status == 0
    assert "Traceback" not in said + log
    assert SECRET not in said + log


async def test_a_refused_token_exits_2_with_a_clear_message(
    fake: FakeBotAPI, tmp_path: Path
) -> None:
    process = await start_bot(tmp_path, fake.base_url, token="999:WRONG-SECRET")
    status, log = await stop_bot(process, terminate=False)
    assert status == 2
    assert "Bot API từ chối TELEGRAM_BOT_TOKEN" in log
    assert "WRONG-SECRET" not in log and "Traceback" not in log
