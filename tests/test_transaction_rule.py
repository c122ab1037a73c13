"""The rule "no Bot API call while a database transaction is open" is checked, not hoped for:
the bot refuses such a call (strict, as in tests) or logs it (production)."""

from __future__ import annotations

import logging

import pytest
from sqlmodel import select

from storage.engine import STRICT_ENV, NetworkInTransaction, holding_transaction
from storage.models import Unit
from tests.harness import Harness


async def test_a_bot_api_call_inside_an_open_transaction_is_refused(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(STRICT_ENV, "1")
    user = harness.fake.user(7001)
    bot = harness.app.bot
    async with harness.db.session() as session:
        await session.exec(select(Unit))  # the transaction is open now
        assert holding_transaction()
        with pytest.raises(NetworkInTransaction, match="sendMessage"):
            await bot.send_message(user.id, "held")
        await session.commit()
        assert not holding_transaction()
        await bot.send_message(user.id, "free")  # after the commit: allowed
    assert [m.body for m in user.messages()] == ["free"]


async def test_outside_tests_the_broken_rule_is_logged_and_the_call_goes_out(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv(STRICT_ENV, raising=False)
    user = harness.fake.user(7001)
    async with harness.db.session() as session:
        await session.exec(select(Unit))
        with caplog.at_level(logging.WARNING, logger="storage.engine"):
            await harness.app.bot.send_message(user.id, "held")
    assert "sendMessage was called inside an open database transaction" in caplog.text
    assert [m.body for m in user.messages()] == ["held"]
