"""`danvan stats` and `danvan broadcast`, in-process, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.cli.main import main
from bot.domain.access import Role
from bot.domain.records import RecordKind
from storage import members, records, units
from storage.engine import Database
from storage.migrate import upgrade
from storage.models import Member, pk
from tests.fakebot import FakeBotAPI
from tests.harness import TOKEN, UNITS_CSV


@pytest.fixture
async def seeded(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DEFAULT_LANGUAGE", "en")
    (tmp_path / "units.csv").write_bytes(UNITS_CSV)
    await upgrade(database_url)
    assert await asyncio.to_thread(main, ["units", "import", str(tmp_path / "units.csv")]) == 0
    db = Database(database_url)
    try:
        async with db.session() as session:
            for telegram_id, code, role in (
                (9101, "CN1", Role.COORDINATOR),
                (9102, "CN2", Role.COORDINATOR),
                (9103, "THOXUONG", Role.OFFICIAL),
            ):
                unit = await units.by_code(session, code)
                assert unit is not None
                session.add(
                    Member(
                        telegram_id=telegram_id,
                        full_name=f"P{telegram_id}",
                        role=role,
                        unit_id=pk(unit),
                    )
                )
            await session.flush()
            member = await members.by_telegram_id(session, 9101)
            assert member is not None
            today = datetime.now(UTC) + timedelta(hours=7)
            answers: dict[str, Any] = {
                "work": "Làm đường",
                "on_date": today.date().isoformat(),
                "people": 6,
                "days_each": "0.5",
            }
            await records.save(session, RecordKind.WORKDAY, member, answers, datetime.now(UTC))
    finally:
        await db.dispose()
    return database_url


async def test_stats_prints_a_units_figures(
    seeded: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        await asyncio.to_thread(main, ["stats", "THOXUONG", "--period", "this-week", "--json"]) == 0
    )
    figures = json.loads(capsys.readouterr().out)
    assert figures["unit"] == "THOXUONG"
    assert figures["current"]["workdays"] == "3.00" or float(figures["current"]["workdays"]) == 3
    assert await asyncio.to_thread(main, ["stats", "THOXUONG", "--period", "this-week"]) == 0
    assert "Workdays: 3" in capsys.readouterr().out
    assert await asyncio.to_thread(main, ["stats", "NOPE"]) == 1
    assert "no unit with code NOPE" in capsys.readouterr().err


async def test_broadcast_reaches_the_subtree_and_counts(
    seeded: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async with FakeBotAPI(TOKEN) as fake:
        for telegram_id in (9101, 9102, 9103):
            fake.user(telegram_id)
        fake.block(9102)
        monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
        monkeypatch.setenv("TELEGRAM_API_URL", fake.base_url)
        status = await asyncio.to_thread(
            main, ["broadcast", "THOXUONG", "--text", "Họp <tổ> lúc 19h", "--json"]
        )
        assert status == 0
        assert json.loads(capsys.readouterr().out) == {
            "ok": True,
            "unit": "THOXUONG",
            "sent": 2,
            "blocked": 1,
            "failed": 0,
            "already": 0,
            "resumed": False,
        }
        received = fake.user(9101).last
        assert "Họp <tổ> lúc 19h" in received.body and "&lt;tổ&gt;" in (received.html or "")
        # The first run finished, so the same command again is a new announcement.
        again = ["broadcast", "THOXUONG", "--text", "Họp <tổ> lúc 19h", "--json"]
        assert await asyncio.to_thread(main, again) == 0
        report = json.loads(capsys.readouterr().out)
        assert (report["resumed"], report["sent"]) == (False, 2)
        assert await asyncio.to_thread(main, ["broadcast", "THOXUONG", "--text", "  "]) == 1
        assert "empty" in capsys.readouterr().err
