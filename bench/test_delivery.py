"""3. Delivery: 1.000 digests through a fake Bot API that answers 429 above 30 messages a second
(and above 1 a second in one chat), along the real path: Delivery with its SendLimiter over an
ExtBot with PTB's AIORateLimiter, as the Application has them, and the SendLedger on SQLite.

The digests are real ones (the seeded province's weekly digests of every official: text, chart
and XLSX file), sent to 1.000 distinct chats. Target: at least 25 messages a second, no 429."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from telegram.ext import AIORateLimiter, ExtBot

from bench.results import report
from bench.seed import TZ, Dataset
from bot.domain.outgoing import Send, SendKind
from bot.domain.periods import Period
from bot.services.digests import digest_sends
from bot.telegram.delivery import Delivery
from storage.engine import Database
from storage.migrate import upgrade
from tests.fakebot import FakeBotAPI
from tests.harness import TOKEN

DIGESTS = 1_000
FIRST_CHAT = 800_000_000


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeBotAPI]:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    async with FakeBotAPI(TOKEN) as server:
        yield server


async def real_digests(data: Dataset) -> list[Send]:
    db = Database(data.url)
    try:
        due = datetime.combine(data.end + timedelta(days=1), datetime.min.time(), TZ)
        period = Period.last_week(due.date())
        units = sorted({person.unit_id for person in data.officials})
        return await digest_sends(db, SendKind.WEEKLY_DIGEST, units, period.key, due, TZ)
    finally:
        await db.dispose()


async def test_a_thousand_digests_within_telegrams_limits(
    sqlite_data: Dataset, fake: FakeBotAPI, tmp_path: Path
) -> None:
    samples = await real_digests(sqlite_data)
    # The province's own digest carries the whole province's records; officials of communes
    # are most of the recipients, so most samples are theirs, as in the real batch.
    batch = []
    for n in range(DIGESTS):
        sample = samples[n % len(samples)]
        chat = FIRST_CHAT + n
        fake.user(chat)
        batch.append(Send(SendKind.WEEKLY_DIGEST, chat, "bench", sample.messages))
    messages = sum(
        (1 if message.text.strip() else 0) + len(message.attachments)
        for send in batch
        for message in send.messages
    )
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    await upgrade(url)
    db = Database(url)
    fake.enforce_rate_limits(global_per_second=30, per_chat_per_second=1)
    bot: ExtBot[Any] = ExtBot(
        TOKEN,
        base_url=f"{fake.base_url}/bot",
        base_file_url=f"{fake.base_url}/file/bot",
        rate_limiter=AIORateLimiter(max_retries=3),
    )
    try:
        async with bot:
            delivery = Delivery(bot, db, clock=lambda: datetime.now(UTC))
            started = time.perf_counter()
            result = await delivery.deliver(batch)
            elapsed = time.perf_counter() - started
    finally:
        await db.dispose()
    assert result.sent == DIGESTS, result
    rate = messages / elapsed
    print(
        f"\n[bench] {DIGESTS} digests, {messages} messages in {elapsed:.1f} s; "
        f"429s: {fake.count_429}"
    )
    report("delivery.messages_per_second", rate, "msg/s", ">= 25 msg/s", rate >= 25)
    report("delivery.429s", fake.count_429, "429s", "0", fake.count_429 == 0)
