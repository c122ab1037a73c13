"""Schedule decisions: inheritance, quiet hours, slots, period keys, catch-up; typed times."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from bot.domain.forms.schedule import SETTINGS, typed_day
from bot.domain.outgoing import SendKind
from bot.domain.schedule import (
    CatchUp,
    QuietHours,
    Slot,
    catch_up,
    effective,
    looks_like_time,
    parse_time,
    period_key,
    ptb_days,
    slots_of,
)

HANOI = ZoneInfo("Asia/Ho_Chi_Minh")
QUIET = QuietHours()


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=HANOI)


def test_a_unit_inherits_each_field_from_the_nearest_ancestor_then_the_defaults() -> None:
    own = {"reminder_time": time(17, 0)}
    commune = {"reminder_weekday": 3, "reminder_time": time(8, 0), "monthly_digest_day": 5}
    times = effective([own, None, commune])
    assert (times["reminder_weekday"], times["reminder_time"]) == (3, time(17, 0))
    assert times["monthly_digest_day"] == 5
    assert (times["weekly_digest_weekday"], times["weekly_digest_time"]) == (0, time(7, 30))
    defaults = slots_of(effective([]))
    assert defaults[SendKind.REMINDER] == Slot(SendKind.REMINDER, time(16, 0), weekday=4)
    assert defaults[SendKind.FOLLOWUP] == Slot(SendKind.FOLLOWUP, time(9, 0), weekday=5)
    assert defaults[SendKind.MONTHLY_DIGEST] == Slot(SendKind.MONTHLY_DIGEST, time(7, 30), day=1)


def test_ptb_days_count_from_sunday() -> None:
    assert ptb_days(0) == (1,)  # Monday
    assert ptb_days(4) == (5,)  # Friday
    assert ptb_days(6) == (0,)  # Sunday


def test_a_monday_0730_slot_is_0030_utc() -> None:
    slot = Slot(SendKind.WEEKLY_DIGEST, time(7, 30), weekday=0)
    due = slot.next_due(local("2026-11-25T12:00"), HANOI)
    assert due == local("2026-11-30T07:30")
    assert due.astimezone(UTC) == datetime(2026, 11, 30, 0, 30, tzinfo=UTC)
    assert slot.last_due(local("2026-11-30T07:30"), HANOI) == due
    assert slot.last_due(local("2026-11-30T07:29"), HANOI) == local("2026-11-23T07:30")


def test_monthly_slots() -> None:
    slot = Slot(SendKind.MONTHLY_DIGEST, time(7, 30), day=1)
    assert slot.next_due(local("2026-12-15T00:00"), HANOI) == local("2027-01-01T07:30")
    assert slot.last_due(local("2026-12-15T00:00"), HANOI) == local("2026-12-01T07:30")


def test_quiet_hours_hold_sends_until_they_end() -> None:
    assert QUIET.release(local("2026-11-25T22:15")) == local("2026-11-26T07:00")
    assert QUIET.release(local("2026-11-26T03:00")) == local("2026-11-26T07:00")
    assert QUIET.release(local("2026-11-26T07:00")) == local("2026-11-26T07:00")
    assert QUIET.release(local("2026-11-26T20:59")) == local("2026-11-26T20:59")
    daytime = QuietHours(time(12, 0), time(13, 30))
    assert daytime.release(local("2026-11-26T12:10")) == local("2026-11-26T13:30")


@given(st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2030, 1, 1)))
def test_released_times_are_never_quiet_and_never_earlier(moment: datetime) -> None:
    when = moment.replace(tzinfo=HANOI)
    released = QUIET.release(when)
    assert released >= when and not QUIET.contains(released.time())
    assert released - when <= timedelta(hours=10)


def test_period_keys() -> None:
    monday = local("2026-11-30T07:30")
    assert period_key(SendKind.WEEKLY_DIGEST, monday, HANOI) == "2026-W48"  # the week before
    assert period_key(SendKind.REMINDER, local("2026-11-27T16:00"), HANOI) == "2026-W48"
    assert period_key(SendKind.MONTHLY_DIGEST, local("2026-12-01T07:30"), HANOI) == "2026-11"
    assert period_key(SendKind.MONTHLY_DIGEST, local("2027-01-01T07:30"), HANOI) == "2026-12"
    assert period_key(SendKind.WEEKLY_DIGEST, local("2026-01-05T07:30"), HANOI) == "2026-W01"
    assert period_key(SendKind.REMINDER, local("2027-01-01T16:00"), HANOI) == "2026-W53"


def test_period_keys_follow_the_local_date_whatever_the_time_zone_given() -> None:
    """Monday 06:00 in Hà Nội is Sunday 23:00 UTC: still the digest of the week just ended."""
    early_monday = local("2026-11-30T06:00").astimezone(UTC)
    assert early_monday.date() == date(2026, 11, 29)
    assert period_key(SendKind.WEEKLY_DIGEST, early_monday, HANOI) == "2026-W48"
    first_of_month = local("2026-12-01T05:00").astimezone(UTC)
    assert period_key(SendKind.MONTHLY_DIGEST, first_of_month, HANOI) == "2026-11"


def test_catch_up_after_downtime() -> None:
    due = local("2026-11-30T07:30")
    assert (
        catch_up(SendKind.WEEKLY_DIGEST, due, local("2026-11-30T18:00"), QUIET, HANOI)
        is CatchUp.SEND
    )
    assert (
        catch_up(SendKind.WEEKLY_DIGEST, due, local("2026-12-01T07:29"), QUIET, HANOI)
        is CatchUp.SEND
    )
    assert (
        catch_up(SendKind.WEEKLY_DIGEST, due, local("2026-12-01T07:31"), QUIET, HANOI)
        is CatchUp.SKIP
    )
    assert (
        catch_up(SendKind.WEEKLY_DIGEST, due, local("2026-11-30T22:00"), QUIET, HANOI)
        is CatchUp.WAIT
    )
    friday = local("2026-11-27T16:00")
    assert (
        catch_up(SendKind.REMINDER, friday, local("2026-11-27T21:59"), QUIET, HANOI) is CatchUp.WAIT
    )
    assert (
        catch_up(SendKind.REMINDER, friday, local("2026-11-27T20:00"), QUIET, HANOI) is CatchUp.SEND
    )
    assert (
        catch_up(SendKind.REMINDER, friday, local("2026-11-27T22:01"), QUIET, HANOI) is CatchUp.SKIP
    )
    assert date(2026, 11, 27).weekday() == 4


def test_typed_times() -> None:
    assert parse_time("16:00") == time(16, 0) and parse_time(" 7h30 ") == time(7, 30)
    assert parse_time("16 giờ") == time(16, 0) and parse_time("16 GIO 5 phút") == time(16, 5)
    assert parse_time("16h") == time(16, 0) and parse_time("0:00") == time(0, 0)
    for text in ("25:00", "7:75", "16", "0.5", "7.30", "16:00 mai", "giờ", "1" * 5000):
        assert parse_time(text) is None, text
    # Written as a time, possible or not: told apart from text that is no time at all.
    assert looks_like_time("25:00") and looks_like_time("7h75") and looks_like_time("8:15")
    for text in ("xin chào", "0.5", "16", "7.30", "16:00 " + "x" * 100):
        assert not looks_like_time(text), text


def test_typed_days() -> None:
    weekly, monthly = SETTINGS["r"], SETTINGS["m"]
    for text, day in [
        ("Thứ Năm", 3),
        ("thu nam", 3),
        ("thứ 5", 3),
        ("T2", 0),
        ("Thursday", 3),
        ("chủ nhật", 6),
        ("CN", 6),
    ]:
        assert typed_day(weekly, text) == day, text
    for text in ("thu", "5", "hôm nay", "x" * 5000):  # several weekdays, or none
        assert typed_day(weekly, text) is None, text
    for text, day in [("5", 5), ("ngày 5", 5), ("mùng 1", 1), ("28", 28)]:
        assert typed_day(monthly, text) == day, text
    for text in ("29", "0", "thứ 5", "5 6", "ngày"):
        assert typed_day(monthly, text) is None, text
