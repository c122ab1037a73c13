"""`danvan run` as production runs it, each test with real processes: webhook mode with its
secret and /healthz, `danvan health`, graceful shutdown on SIGTERM, an active and a standby
process with `kill -9`, a database outage, and secrets kept out of the logs."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.settings import SettingsError, load_settings
from storage.engine import Database
from storage.migrate import upgrade
from tests.bot_process import WEBHOOK_SECRET, BotProcess, bot_env, danvan, free_port, poll
from tests.fakebot import FakeBotAPI, FakeMessage, FakeUser
from tests.harness import TOKEN, Clock, Harness
from tests.tcp_proxy import TcpProxy

TOKEN_SECRET = TOKEN.split(":", 1)[1]
COORDINATOR = 501
WEBHOOK_URL = "https://danvan.example.vn/tg/hook"
TRY_AGAIN = "Có lỗi xảy ra. Vui lòng thử lại sau giây lát."


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI(TOKEN) as server:
        yield server


async def seed(fake: FakeBotAPI, database_url: str) -> None:
    """Units and one coordinator, in a database the bot process will use."""
    await upgrade(database_url)
    harness = Harness(fake, database_url, Clock(datetime.now(UTC)))
    try:
        await harness.seed_units()
        await harness.add_member(COORDINATOR)
    finally:
        await harness.db.dispose()


async def handled(database_url: str, update_id: int) -> None:
    """Wait until the bot process has finished with an update (its inbox says so)."""
    db = Database(database_url)

    async def done() -> bool:
        async with db.session() as session:
            row = await session.exec(  # type: ignore[call-overload]
                text("SELECT handled_at FROM update_inbox WHERE update_id = :id"),
                params={"id": update_id},
            )
            found = row.first()
            return found is not None and found[0] is not None

    try:
        await poll(done, what=f"update {update_id} to be handled")
    finally:
        await db.dispose()


async def count_rows(database_url: str, table: str) -> int:
    db = Database(database_url)
    try:
        async with db.session() as session:
            result = await session.exec(text(f"SELECT count(*) FROM {table}"))  # type: ignore[call-overload]
            return int(result.one()[0])
    finally:
        await db.dispose()


async def say(user: FakeUser, database_url: str, words: str) -> list[FakeMessage]:
    """Send `words`; once handled, the answers it was owed (sent after its commit)."""
    seen = len(user.messages(include_deleted=True))
    await handled(database_url, await user.send(words))
    await user.fake.wait_for(
        lambda: len(user.messages(include_deleted=True)) > seen, timeout=20, what="an answer"
    )
    return user.messages(include_deleted=True)[seen:]


async def tap(user: FakeUser, database_url: str, label: str) -> None:
    target = next(
        m for m in reversed(user.messages()) if any(t == label for row in m.buttons for t, _ in row)
    )
    await user.press(target, text=label)
    await handled(database_url, user.fake.last_update_id)


async def log_workdays_until_save(user: FakeUser, database_url: str) -> None:
    """The workday flow up to its confirmation card."""
    await say(user, database_url, "/ngaycong")
    await say(user, database_url, "Bê tông hóa đường thôn")
    await tap(user, database_url, "Hôm nay")
    await say(user, database_url, "12")
    await tap(user, database_url, "0,5")


def assert_clean(log: str) -> None:
    assert "Traceback" not in log, log
    assert TOKEN_SECRET not in log
    assert WEBHOOK_SECRET not in log


# --- webhook mode and health ----------------------------------------------------------------------


async def test_webhook_mode_takes_updates_checks_the_secret_and_reports_health(
    fake: FakeBotAPI, tmp_path: Path
) -> None:
    database_url = f"sqlite:///{tmp_path / 'danvan.db'}"
    port = free_port()
    env = bot_env(
        fake.base_url,
        database_url,
        WEBHOOK_URL=WEBHOOK_URL,
        WEBHOOK_SECRET=WEBHOOK_SECRET,
        LISTEN_HOST="127.0.0.1",
        LISTEN_PORT=str(port),
        LOG_LEVEL="DEBUG",  # the most the log ever says
    )
    fake.route_webhook(f"http://127.0.0.1:{port}")
    bot = await BotProcess(tmp_path, env, "--webhook").start()
    try:
        await fake.wait_for(lambda: fake.webhook_url, timeout=60, what="setWebhook")
        assert fake.webhook_url == WEBHOOK_URL
        assert fake.webhook_secret == WEBHOOK_SECRET
        answer = await fake.user(9001).ask("/start", timeout=30)
        assert "link mời" in answer.body
        assert not fake.calls("getUpdates"), "webhook mode must not poll"

        hook = f"http://127.0.0.1:{port}/tg/hook"
        update = {
            "update_id": 777000,
            "message": {
                "message_id": 1,
                "date": 1764000000,
                "chat": {"id": 9002, "type": "private", "first_name": "Kẻ"},
                "from": {"id": 9002, "is_bot": False, "first_name": "Kẻ"},
                "text": "/start",
            },
        }
        async with aiohttp.ClientSession() as client:
            for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
                async with client.post(hook, json=update, headers=headers) as reply:
                    assert reply.status == 403
            async with client.post(
                hook, data="{not json", headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
            ) as reply:
                assert reply.status == 400

            async def healthy() -> dict[str, Any] | None:
                async with client.get(f"http://127.0.0.1:{port}/healthz") as reply:
                    body: dict[str, Any] = await reply.json()
                    return (
                        body if reply.status == 200 and body["last_update"]["update_id"] else None
                    )

            health = await poll(healthy, what="/healthz to report the first update")
        assert health["database"]["ok"] and health["bot_api"]["ok"]
        assert health["bot_api"]["username"] == fake.username
        assert health["scheduler"]["mode"] == "webhook" and health["scheduler"]["jobs"] > 0
        assert health["last_update"]["update_id"] == fake.last_update_id
        assert not fake.user(9002).messages(), "an update without the secret was handled"

        status, out, err = await danvan(tmp_path, env, "health", "--json")
        assert status == 0, out + err
        report = json.loads(out)
        assert report["ok"] and report["scheduler"]["pid"] == bot.pid
        assert_clean(out + err)
    finally:
        status = await bot.stop()
    assert status == 0, bot.log
    assert "Đang dừng" in bot.log
    assert_clean(bot.log)


async def test_health_fails_when_no_bot_is_running(fake: FakeBotAPI, tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'danvan.db'}"
    await upgrade(database_url)
    status, out, err = await danvan(tmp_path, bot_env(fake.base_url, database_url), "health")
    assert status == 1, out + err
    assert "Cơ sở dữ liệu: tốt" in out
    assert "Không có tiến trình danvan nào đang chạy chính" in out
    assert_clean(out + err)


async def test_health_names_an_unreachable_bot_api_without_the_token(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'danvan.db'}"
    await upgrade(database_url)
    env = bot_env(f"http://127.0.0.1:{free_port()}", database_url)
    status, out, err = await danvan(tmp_path, env, "health", "--json")
    assert status == 1
    report = json.loads(out)
    assert report["database"]["ok"] and not report["bot_api"]["ok"]
    assert_clean(out + err)


def test_webhook_settings_are_checked_without_echoing_the_secret() -> None:
    with pytest.raises(SettingsError) as error:
        load_settings(_env_file=None, webhook_secret="has spaces & the-secret")
    assert str(error.value).startswith("WEBHOOK_SECRET:")
    assert "the-secret" not in str(error.value)
    with pytest.raises(SettingsError, match="WEBHOOK_URL"):
        load_settings(_env_file=None, webhook_url="http://plain.example.vn/hook")
    settings = load_settings(_env_file=None, webhook_url=WEBHOOK_URL, webhook_secret="abc_-1")
    assert settings.webhook_path == "/tg/hook"


async def test_webhook_mode_without_its_settings_exits_2(fake: FakeBotAPI, tmp_path: Path) -> None:
    env = bot_env(fake.base_url, f"sqlite:///{tmp_path / 'danvan.db'}")
    bot = await BotProcess(tmp_path, env, "--webhook").start()
    assert await bot.wait() == 2
    assert "WEBHOOK_URL" in bot.log and "WEBHOOK_SECRET" in bot.log
    assert not fake.requests


# --- graceful shutdown ----------------------------------------------------------------------------


async def test_sigterm_finishes_the_update_in_flight_then_exits_0(
    fake: FakeBotAPI, tmp_path: Path
) -> None:
    database_url = f"sqlite:///{tmp_path / 'danvan.db'}"
    await seed(fake, database_url)
    bot = await BotProcess(tmp_path, bot_env(fake.base_url, database_url)).start()
    user = fake.user(COORDINATOR)
    try:
        await fake.wait_for(lambda: fake.calls("getUpdates"), timeout=60, what="polling")
        await log_workdays_until_save(user, database_url)
        # The answer to ✅ Lưu is slow to reach Telegram; SIGTERM arrives meanwhile.
        fake.inject_delay("*", 1.0, chat_id=COORDINATOR)
        sent_before = len(fake.requests)
        await user.press(next(m for m in reversed(user.messages()) if m.buttons), text="✅ Lưu")
        await fake.wait_for(
            lambda: any(
                c.params.get("chat_id") == COORDINATOR for c in fake.requests[sent_before:]
            ),
            timeout=20,
            what="the answer to be on its way",
        )
        bot.signal(signal.SIGTERM)
        status = await bot.wait()
    finally:
        await bot.kill()
    assert status == 0, bot.log
    assert await count_rows(database_url, "workday") == 1
    assert any("Đã lưu" in said for said in user.texts[-2:]), user.texts[-3:]
    assert await count_rows(database_url, "update_inbox WHERE handled_at IS NULL") == 0
    assert_clean(bot.log)


async def test_sigterm_while_a_send_is_stuck_exits_at_once_and_the_next_process_sends_it(
    fake: FakeBotAPI, tmp_path: Path
) -> None:
    """Telegram holds the "Đã lưu" unanswered: SIGTERM still stops the bot within 10 s, the
    workday is saved once, and the next process sends what the first one owed."""
    database_url = f"sqlite:///{tmp_path / 'danvan.db'}"
    await seed(fake, database_url)
    env = bot_env(fake.base_url, database_url)
    bot = await BotProcess(tmp_path, env).start()
    user = fake.user(COORDINATOR)
    try:
        await fake.wait_for(lambda: fake.calls("getUpdates"), timeout=60, what="polling")
        await log_workdays_until_save(user, database_url)
        fake.hold("sendMessage", chat_id=COORDINATOR, times=10**6)
        await tap(user, database_url, "✅ Lưu")
        await fake.wait_for(lambda: fake.held, timeout=20, what="the answer to be held")
        started = asyncio.get_running_loop().time()
        bot.signal(signal.SIGTERM)
        status = await bot.wait(timeout=15)
        stopped_in = asyncio.get_running_loop().time() - started
    finally:
        await bot.kill()
    assert status == 0, bot.log
    assert stopped_in < 10, f"took {stopped_in:.1f} s"
    assert not any("Đã lưu" in said for said in user.texts)
    fake.release_held()
    bot = await BotProcess(tmp_path, env).start()
    try:
        await fake.wait_for(
            lambda: any("Đã lưu" in said for said in user.texts), timeout=60, what="the answer"
        )
        assert await bot.stop() == 0
    finally:
        await bot.kill()
    assert sum("Đã lưu" in said for said in user.texts) == 1
    assert await count_rows(database_url, "workday") == 1


# --- active and standby ---------------------------------------------------------------------------


async def test_a_standby_takes_over_within_10_seconds_of_kill_9_and_loses_no_update(
    fake: FakeBotAPI, tmp_path: Path, postgres_schema_url: str
) -> None:
    database_url = postgres_schema_url
    await seed(fake, database_url)
    env = bot_env(fake.base_url, database_url)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    active = await BotProcess(tmp_path / "a", env).start()
    standby = BotProcess(tmp_path / "b", env)
    user = fake.user(COORDINATOR)
    try:
        await active.wait_log("Đang nhận tin nhắn", timeout=60)
        await standby.start()
        await standby.wait_log("chờ dự phòng", timeout=60)
        await say(user, database_url, "/ngaycong")
        await say(user, database_url, "Bê tông hóa đường thôn")

        # The active process takes the next update into its inbox, and dies while its
        # answer is still on the way (the held call never reaches the chat).
        fake.hold("*", chat_id=COORDINATOR)
        step = await user.send("/ngaycong")
        await fake.wait_for(lambda: fake.held, timeout=20, what="the answer to be held")
        await fake.wait_acked(step, timeout=20)
        killed_at = asyncio.get_running_loop().time()
        await active.kill()
        fake.release_held()

        seen = len(user.messages())
        await standby.wait_log("tiếp quản", timeout=10)
        await handled(database_url, step)
        await fake.wait_for(
            lambda: len(user.messages()) > seen, timeout=10, what="the answer it was owed"
        )
        took_over = asyncio.get_running_loop().time() - killed_at
        assert took_over < 10, f"took {took_over:.1f} s"
        replies = user.messages()[seen:]
        # The held answer never arrived; the standby sent what the committed update owed.
        assert len(replies) == 1, replies

        # Service goes on with the new active process.
        await log_workdays_until_save(user, database_url)
        await tap(user, database_url, "✅ Lưu")
        assert await count_rows(database_url, "workday") == 1
        status = await standby.stop()
    finally:
        await active.kill()
        await standby.kill()
    assert status == 0, standby.log
    assert_clean(active.log + standby.log)


async def test_a_second_process_on_one_sqlite_file_waits_as_standby(
    fake: FakeBotAPI, tmp_path: Path
) -> None:
    database_url = f"sqlite:///{tmp_path / 'danvan.db'}"
    await seed(fake, database_url)
    env = bot_env(fake.base_url, database_url)
    first = await BotProcess(tmp_path, env).start()
    second = BotProcess(tmp_path, env)
    try:
        await first.wait_log("Đang nhận tin nhắn", timeout=60)
        await second.start()
        await second.wait_log("chờ dự phòng", timeout=60)
        assert await first.stop() == 0
        await second.wait_log("tiếp quản", timeout=10)
        await second.wait_log("Đang nhận tin nhắn", timeout=30)
        answer = await fake.user(9001).ask("/start", timeout=30)
        assert "link mời" in answer.body
        assert await second.stop() == 0
    finally:
        await first.kill()
        await second.kill()


# --- database outage ------------------------------------------------------------------------------


async def test_a_database_outage_is_survived_and_people_are_told_to_try_again(
    fake: FakeBotAPI, tmp_path: Path, postgres_schema_url: str
) -> None:
    await seed(fake, postgres_schema_url)
    url = make_url(postgres_schema_url)
    async with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(False)
        bot = await BotProcess(tmp_path, bot_env(fake.base_url, proxied)).start()
        user = fake.user(COORDINATOR)
        try:
            await bot.wait_log("Đang nhận tin nhắn", timeout=60)
            await say(user, postgres_schema_url, "/ngaycong")
            await say(user, postgres_schema_url, "Bê tông hóa đường thôn")

            proxy.cut()  # PostgreSQL restarts: connections drop, new ones are refused
            seen = len(user.messages())
            await user.send("Hôm nay")
            reply = await fake.wait_for(
                lambda: user.messages()[seen:], timeout=30, what="a reply during the outage"
            )
            assert reply[0].body == TRY_AGAIN
            await bot.wait_log("Mất kết nối cơ sở dữ liệu", timeout=20)

            proxy.restore()
            await bot.wait_log("Đã giữ lại khóa chạy chính", timeout=30)
            answer = await say(user, postgres_schema_url, "/ngaycong")
            assert answer and answer[-1].body != TRY_AGAIN
            status = await bot.stop()
        finally:
            await bot.kill()
    assert status == 0, bot.log
    assert_clean(bot.log)


# --- secrets ------------------------------------------------------------------------------------


async def test_secrets_never_reach_the_log_even_at_debug_when_things_fail(
    fake: FakeBotAPI, tmp_path: Path
) -> None:
    database_url = f"sqlite:///{tmp_path / 'danvan.db'}"
    await seed(fake, database_url)
    env = bot_env(fake.base_url, database_url, LOG_LEVEL="DEBUG", WEBHOOK_SECRET=WEBHOOK_SECRET)
    bot = await BotProcess(tmp_path, env).start()
    user = fake.user(COORDINATOR)
    try:
        await bot.wait_log("Đang nhận tin nhắn", timeout=60)
        # Failures that end in the error handler's traceback, and in PTB's retry logs.
        fake.inject_error("sendMessage", 500, chat_id=COORDINATOR, times=3)
        fake.inject_error("getUpdates", 502, times=2)
        fake.inject_error("sendMessage", 400, "Bad Request: chat not found", times=1)
        for words in ("/ngaycong", "/trogiup", "/start"):  # some answers are lost: not awaited
            await handled(database_url, await user.send(words))

        async def consumed() -> bool:  # the outbox retries the 500s with its backoff
            return not fake.unused_faults()

        await poll(consumed, what="every fault met", timeout=60)
        await poll(
            lambda: asyncio.sleep(0, "Gave up sendMessage" in bot.log),
            what="the 400 given up",
            timeout=30,
        )
        status = await bot.stop()
    finally:
        await bot.kill()
    assert status == 0
    assert TOKEN_SECRET not in bot.log
    assert WEBHOOK_SECRET not in bot.log
