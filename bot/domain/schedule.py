"""When reminders and digests are due: inheritance of schedules, quiet hours, catch-up after
downtime, PTB's day numbering, and the times people type for them. Pure code, free of Telegram
and the database.

Weekdays count from Monday = 0 (Python's date.weekday()). Times are local to the configured
time zone; every datetime here is time-zone aware.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from bot.domain.outgoing import SendKind
from bot.domain.periods import month_key, week_key, week_start
from bot.domain.textnorm import fold

# The root's defaults: coordinators on Friday 16:00, officials' follow-up Saturday 09:00,
# weekly digest Monday 07:30, monthly digest on the 1st at 07:30.
DEFAULT_TIMES: dict[str, object] = {
    "reminder_weekday": 4,
    "reminder_time": time(16, 0),
    "followup_weekday": 5,
    "followup_time": time(9, 0),
    "weekly_digest_weekday": 0,
    "weekly_digest_time": time(7, 30),
    "monthly_digest_day": 1,
    "monthly_digest_time": time(7, 30),
}
FIELDS = tuple(DEFAULT_TIMES)
DIGEST_GRACE = timedelta(hours=24)  # a digest missed for less than this is still sent
REMINDER_GRACE = timedelta(hours=6)  # a reminder later than this is skipped
SNOOZE = timedelta(hours=2)


@dataclass(frozen=True)
class QuietHours:
    """Nothing is sent from `start` to `end` (crossing midnight when start > end)."""

    start: time = time(21, 0)
    end: time = time(7, 0)

    def contains(self, moment: time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end

    def release(self, when: datetime) -> datetime:
        """`when`, or the end of the quiet hours it falls in."""
        local = when.time()
        if not self.contains(local):
            return when
        day = when.date()
        if self.start > self.end and local >= self.start:
            day += timedelta(days=1)
        return datetime.combine(day, self.end, tzinfo=when.tzinfo)


@dataclass(frozen=True)
class Slot:
    """A recurring moment: weekly (weekday) or monthly (day of month), at a local time."""

    kind: SendKind
    at: time
    weekday: int | None = None
    day: int | None = None

    def occurrence_on(self, day: date, tz: tzinfo) -> datetime | None:
        if self.weekday is not None and day.weekday() != self.weekday:
            return None
        if self.day is not None and day.day != self.day:
            return None
        return datetime.combine(day, self.at, tzinfo=tz)

    def last_due(self, now: datetime, tz: tzinfo) -> datetime:
        """The latest occurrence at or before `now` (looks back up to 31 days)."""
        local = now.astimezone(tz)
        for back in range(32):
            moment = self.occurrence_on(local.date() - timedelta(days=back), tz)
            if moment is not None and moment <= local:
                return moment
        raise ValueError(f"{self} never occurs")

    def next_due(self, now: datetime, tz: tzinfo) -> datetime:
        """The first occurrence strictly after `now`."""
        local = now.astimezone(tz)
        for ahead in range(32):
            moment = self.occurrence_on(local.date() + timedelta(days=ahead), tz)
            if moment is not None and moment > local:
                return moment
        raise ValueError(f"{self} never occurs")


def effective(chain: Sequence[Mapping[str, object] | None]) -> dict[str, object]:
    """A unit's times: for each field, the first value set along `chain` (the unit's own
    schedule first, then its parent's, up to the root), else the default."""
    result: dict[str, object] = {}
    for name in FIELDS:
        value = next(
            (row[name] for row in chain if row is not None and row.get(name) is not None),
            DEFAULT_TIMES[name],
        )
        result[name] = value
    return result


def slots_of(times: Mapping[str, object]) -> dict[SendKind, Slot]:
    """The four recurring slots of an effective schedule."""

    def weekly(kind: SendKind, prefix: str) -> Slot:
        at, weekday = times[f"{prefix}_time"], times[f"{prefix}_weekday"]
        assert isinstance(at, time) and isinstance(weekday, int)
        return Slot(kind, at, weekday=weekday)

    at, day = times["monthly_digest_time"], times["monthly_digest_day"]
    assert isinstance(at, time) and isinstance(day, int)
    return {
        SendKind.REMINDER: weekly(SendKind.REMINDER, "reminder"),
        SendKind.FOLLOWUP: weekly(SendKind.FOLLOWUP, "followup"),
        SendKind.WEEKLY_DIGEST: weekly(SendKind.WEEKLY_DIGEST, "weekly_digest"),
        SendKind.MONTHLY_DIGEST: Slot(SendKind.MONTHLY_DIGEST, at, day=day),
    }


def ptb_days(weekday: int) -> tuple[int]:
    """PTB's run_daily counts 0–6 from Sunday; ours count from Monday."""
    return ((weekday + 1) % 7,)


def period_key(kind: SendKind, due: datetime, tz: tzinfo) -> str:
    """What a send is about: reminders and follow-ups the week they fall in, the weekly digest
    the week before, the monthly digest and the pledge nudge the month before; by the local
    date in ``tz`` (Monday 06:00 local is still Sunday in UTC)."""
    day = due.astimezone(tz).date()
    if kind is SendKind.WEEKLY_DIGEST:
        return week_key(week_start(day) - timedelta(days=7))
    if kind in (SendKind.MONTHLY_DIGEST, SendKind.STALE_PLEDGES):
        return month_key(day.replace(day=1) - timedelta(days=1))
    return week_key(day)


class CatchUp(enum.StrEnum):
    SEND = "send"
    SKIP = "skip"  # too late: record the skip, send nothing
    WAIT = "wait"  # in quiet hours: send when they end


def catch_up(
    kind: SendKind, due: datetime, now: datetime, quiet: QuietHours, tz: tzinfo
) -> CatchUp:
    """What to do with a send that fell due at `due`, seen at `now`."""
    late = now - due
    grace = DIGEST_GRACE if kind.is_digest else REMINDER_GRACE
    if kind in (SendKind.FOLLOWUP, SendKind.STALE_PLEDGES):
        grace = DIGEST_GRACE
    if late > grace:
        return CatchUp.SKIP
    if quiet.contains(now.astimezone(tz).time()):
        return CatchUp.WAIT
    return CatchUp.SEND


# "16:00", "7h30", "16h", "16 giờ 30": hours, a separator, maybe minutes. Not "7.30", which
# reads as a number (0.5 workdays) as much as a time.
_TIME_TEXT = re.compile(r"(\d{1,2})\s*(?::|h|g|gio)\s*(\d{1,2})?\s*(?:phut|p)?")
MAX_TIME_TEXT = 40  # no time is written longer; spare folding a pasted page


def looks_like_time(text: str) -> bool:
    """Whether `text` is written as a time of day, possible or not ("25:00" is)."""
    return len(text) <= MAX_TIME_TEXT and _TIME_TEXT.fullmatch(fold(text)) is not None


def parse_time(text: str) -> time | None:
    """The time typed, or None when it is not one (also "25:00" or "7:75")."""
    if len(text) > MAX_TIME_TEXT:
        return None
    match = _TIME_TEXT.fullmatch(fold(text))
    if match is None:
        return None
    hour, minute = int(match[1]), int(match[2] or 0)
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


def hhmm(value: time) -> str:
    return value.strftime("%H:%M")
