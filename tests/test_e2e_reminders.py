"""Reminders and follow-ups on the controllable clock, through the fake Bot API: who gets
them, quiet hours, catch-up, skips, snooze, schedule changes, exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from sqlmodel import col, select

from bot.domain.access import Role
from bot.domain.outgoing import SendKind
from bot.domain.records import RecordKind
from bot.domain.schedule import Slot
from bot.telegram.jobs import Scheduler, scheduler
from storage import members, records, schedules, units
from storage.models import SendLedger, pk
from tests.harness import Harness, Person

HANOI_FRIDAY_1600 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)  # 16:00 in Hà Nội
REMINDER = Slot(SendKind.REMINDER, time(16, 0), weekday=4)
FOLLOWUP = Slot(SendKind.FOLLOWUP, time(9, 0), weekday=5)


async def setup(harness: Harness) -> dict[str, Person]:
    """CN1 has logged this week, CN2 is silent; an official watches the ward."""
    harness.clock.now = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
    for telegram_id, unit in ((8001, "CN1"), (8002, "CN2"), (8003, "CN2")):
        await harness.add_member(telegram_id, unit, full_name=f"Tổ trưởng {telegram_id}")
    await harness.add_member(8009, "THOXUONG", Role.OFFICIAL, full_name="Cán bộ phường")
    people = {str(i): harness.person(i) for i in (8001, 8002, 8003, 8009)}
    logger = people["8001"]
    await logger.say("/ngaycong")
    await logger.say("Làm đường")
    await logger.tap("Hôm nay")
    await logger.say("4")
    await logger.tap("1")
    await logger.tap("✅ Lưu")
    harness.clock.now = HANOI_FRIDAY_1600
    return people


def jobs(harness: Harness) -> Scheduler:
    return scheduler(harness.app)


async def ledger_rows(harness: Harness) -> list[Any]:
    async def load(session: Any) -> list[Any]:
        return list((await session.exec(select(SendLedger).order_by(col(SendLedger.id)))).all())

    result: list[Any] = await harness.query(load)
    return result


async def test_reminders_reach_exactly_the_silent_groups_once(harness: Harness) -> None:
    people = await setup(harness)
    sent_before = len(harness.fake.calls("sendMessage"))
    await jobs(harness).run(REMINDER, HANOI_FRIDAY_1600, harness.clock())
    for silent in ("8002", "8003"):
        message = people[silent].last
        assert "chưa báo cáo" in message.body and "23/11/2026 – 29/11/2026" in message.body
        assert message.button_texts == [
            "📝 Ghi ngay",
            "🈳 Tuần này không có hoạt động",
            "⏰ Nhắc lại sau 2 giờ",
        ]
    assert "chưa báo cáo" not in people["8001"].last.body
    assert len(harness.fake.calls("sendMessage")) == sent_before + 2
    await jobs(harness).run(REMINDER, HANOI_FRIDAY_1600, harness.clock())
    assert len(harness.fake.calls("sendMessage")) == sent_before + 2
    assert {(row.recipient, row.state) for row in await ledger_rows(harness)} == {
        (8002, "sent"),
        (8003, "sent"),
    }


async def test_the_reminder_buttons(harness: Harness) -> None:
    people = await setup(harness)
    await jobs(harness).run(REMINDER, HANOI_FRIDAY_1600, harness.clock())
    person = people["8002"]
    (menu,) = await person.tap("📝 Ghi ngay")
    assert menu.keyboard[0] == ["📝 Ghi hoạt động", "🏡 Hiến đất"]
    await person.tap("🈳 Tuần này không có hoạt động")
    assert "không có hoạt động" in person.last.body and "23/11/2026" in person.last.body
    # The group has now reported: the other coordinator's snooze finds nothing to send.
    other = people["8003"]
    reminder_card = other.last
    await other.tap("⏰ Nhắc lại sau 2 giờ")
    assert other.user.answers[-1].text == "Tôi sẽ nhắc lại lúc 18:00."
    assert "⏰ Nhắc lại sau 2 giờ" not in other.user.message(reminder_card.message_id).button_texts
    sent = len(harness.fake.calls("sendMessage"))
    await jobs(harness).send_snoozed(8003)
    assert len(harness.fake.calls("sendMessage")) == sent


async def test_a_snooze_reminds_once_more_and_survives_a_restart(harness: Harness) -> None:
    people = await setup(harness)
    await jobs(harness).run(REMINDER, HANOI_FRIDAY_1600, harness.clock())
    person = people["8002"]
    await person.tap("⏰ Nhắc lại sau 2 giờ")
    await harness.restart()
    harness.clock.advance(hours=2)
    await jobs(harness).restore_snoozes()
    again = person.last
    assert "chưa báo cáo" in again.body and "⏰ Nhắc lại sau 2 giờ" not in again.button_texts
    sent = len(harness.fake.calls("sendMessage"))
    await jobs(harness).restore_snoozes()
    assert len(harness.fake.calls("sendMessage")) == sent


async def test_officials_get_the_silent_groups_of_their_area(harness: Harness) -> None:
    people = await setup(harness)
    saturday = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)  # 09:00 in Hà Nội
    harness.clock.now = saturday
    await jobs(harness).run(FOLLOWUP, saturday, saturday)
    text = people["8009"].last.body
    assert "phường Thọ Xương" in text and "Cung Nhượng 2" in text and "Cung Nhượng 1" not in text
    assert "Tổ trưởng 8002, lần báo cáo cuối: chưa có" in text


async def test_catch_up_after_downtime_and_the_skip_of_stale_reminders(harness: Harness) -> None:
    people = await setup(harness)
    # The bot was down at 16:00 and is back at 20:00: four hours late, still sent.
    harness.clock.now = datetime(2026, 11, 27, 13, 0, tzinfo=UTC)
    await jobs(harness).catch_up()
    assert "chưa báo cáo" in people["8002"].last.body
    rows = {row.kind for row in await ledger_rows(harness)}
    assert SendKind.REMINDER in rows


async def test_a_reminder_more_than_six_hours_late_is_skipped_and_recorded(
    harness: Harness,
) -> None:
    people = await setup(harness)
    sent = len(harness.fake.calls("sendMessage"))
    harness.clock.now = datetime(2026, 11, 28, 1, 30, tzinfo=UTC)  # Saturday 08:30 local
    await jobs(harness).run(REMINDER, HANOI_FRIDAY_1600, harness.clock())
    assert len(harness.fake.calls("sendMessage")) == sent
    assert {(row.recipient, row.state) for row in await ledger_rows(harness)} == {
        (8002, "skipped"),
        (8003, "skipped"),
    }
    assert people["8002"].user.messages() == []


async def test_quiet_hours_hold_a_send_until_morning(harness: Harness) -> None:
    await setup(harness)
    async with harness.db.session() as session:
        cn2 = await units.by_code(session, "CN2")
        assert cn2 is not None
        await schedules.set_times(session, pk(cn2), {"reminder_time": time(22, 30)}, actor_id=None)
    late = Slot(SendKind.REMINDER, time(22, 30), weekday=4)
    at, weekday, day = jobs(harness).fire_time(late)
    assert (at.hour, at.minute, weekday, day) == (7, 0, 5, None)
    friday_2230 = datetime(2026, 11, 27, 15, 30, tzinfo=UTC)
    harness.clock.now = friday_2230
    sent = len(harness.fake.calls("sendMessage"))
    await jobs(harness).run(late, friday_2230, friday_2230)
    assert len(harness.fake.calls("sendMessage")) == sent
    queue = harness.app.job_queue
    assert queue is not None
    (waiting,) = [job for job in queue.jobs() if job.name and job.name.startswith("wait:")]
    assert waiting.next_t is not None
    assert waiting.next_t.astimezone(UTC) == datetime(2026, 11, 28, 0, 0, tzinfo=UTC)


async def test_a_monthly_send_held_past_the_28th_still_runs_in_february(
    harness: Harness,
) -> None:
    """28th at 21:30 is held until 07:00 the next day, which February may not have: the job
    runs on the 28th and waits out the quiet hours itself."""
    await setup(harness)
    late = Slot(SendKind.MONTHLY_DIGEST, time(21, 30), day=28)
    at, weekday, day = jobs(harness).fire_time(late)
    assert (at.hour, at.minute, weekday, day) == (21, 30, None, 28)
    early = Slot(SendKind.MONTHLY_DIGEST, time(22, 0), day=5)
    at, weekday, day = jobs(harness).fire_time(early)
    assert (at.hour, at.minute, weekday, day) == (7, 0, None, 6)
    harness.clock.now = datetime(2027, 2, 28, 14, 30, tzinfo=UTC)  # 21:30 in Hà Nội
    await jobs(harness).run(late, harness.clock(), harness.clock())
    queue = harness.app.job_queue
    assert queue is not None
    (waiting,) = [job for job in queue.jobs() if job.name and job.name.startswith("wait:")]
    assert waiting.next_t is not None
    assert waiting.next_t.astimezone(UTC) == datetime(2027, 3, 1, 0, 0, tzinfo=UTC)


async def test_jobs_follow_the_schedules_without_a_restart(harness: Harness) -> None:
    await setup(harness)
    made = await jobs(harness).rebuild()
    names = sorted(job.name or "" for job in made)
    assert names == [
        "slot:followup:5:None:09:00:00",
        "slot:monthly_digest:None:1:07:30:00",
        "slot:reminder:4:None:16:00:00",
        "slot:weekly_digest:0:None:07:30:00",
    ]
    weekly = next(job for job in made if job.name and "weekly_digest" in job.name)
    assert weekly.next_t is not None
    next_utc = weekly.next_t.astimezone(UTC)
    assert (next_utc.hour, next_utc.minute, next_utc.weekday()) == (0, 30, 0)  # 07:30 local
    async with harness.db.session() as session:
        ward = await units.by_code(session, "THOXUONG")
        assert ward is not None
        await schedules.set_times(
            session, pk(ward), {"reminder_weekday": 3, "reminder_time": time(17, 0)}, actor_id=None
        )
    made = await jobs(harness).rebuild()
    queue = harness.app.job_queue
    assert queue is not None
    live = sorted(job.name or "" for job in queue.jobs() if not job.removed)
    assert "slot:reminder:3:None:17:00:00" in live
    assert "slot:reminder:4:None:16:00:00" in live  # the province root keeps Friday
    reminder_job = next(job for job in made if job.name == "slot:reminder:3:None:17:00:00")
    assert reminder_job.next_t is not None
    local = reminder_job.next_t.astimezone(harness.settings.tz)
    assert (local.weekday(), local.hour) == (3, 17)


async def stuck_pledge(harness: Harness, telegram_id: int) -> int:
    """A pledge of `telegram_id`'s, at cam kết since 01/10/2026."""
    async with harness.db.session() as session:
        member = await members.by_telegram_id(session, telegram_id)
        assert member is not None
        answers: dict[str, Any] = {
            "donor": "Hộ bà Lê Thị Hoa",
            "area_m2": "360",
            "area_echo": "1 sào = 360 m²",
            "land_kind": "dat_o",
            "purpose": "duong",
            "stage": "cam_ket",
            "on_date": "2026-10-01",
            "assets": None,
            "value_vnd": None,
            "photos": [],
        }
        return await records.save(session, RecordKind.LAND, member, answers, harness.clock())


async def test_pledges_stuck_for_a_month_get_one_monthly_nudge(harness: Harness) -> None:
    people = await setup(harness)
    pledge_id = await stuck_pledge(harness, 8001)
    december = datetime(2026, 12, 1, 0, 30, tzinfo=UTC)  # 07:30 local on the 1st
    harness.clock.now = december
    monthly = Slot(SendKind.MONTHLY_DIGEST, time(7, 30), day=1)
    await jobs(harness).run(monthly, december, december)
    nudge = people["8001"].last.body
    assert (
        "hơn 30 ngày" in nudge
        and f"#L-{pledge_id} Hộ bà Lê Thị Hoa, 360 m²: Cam kết từ 01/10/2026" in nudge
    )
    assert any("Bản tin tháng" in m.body for m in people["8009"].user.messages())
    count = len(harness.fake.bot_messages())
    await jobs(harness).run(monthly, december, december)
    assert len(harness.fake.bot_messages()) == count


async def test_a_monthly_send_found_too_late_records_its_digests_and_nudges_as_skipped(
    harness: Harness,
) -> None:
    await setup(harness)
    await stuck_pledge(harness, 8001)
    december = datetime(2026, 12, 1, 0, 30, tzinfo=UTC)  # 07:30 local: not in quiet hours
    harness.clock.now = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)  # the bot was down 26½ hours
    sent = len(harness.fake.bot_messages())
    monthly = Slot(SendKind.MONTHLY_DIGEST, time(7, 30), day=1)
    await jobs(harness).run(monthly, december, harness.clock())
    assert len(harness.fake.bot_messages()) == sent
    assert {(row.kind, row.recipient, row.state) for row in await ledger_rows(harness)} == {
        (SendKind.MONTHLY_DIGEST, 8009, "skipped"),
        (SendKind.STALE_PLEDGES, 8001, "skipped"),
    }
