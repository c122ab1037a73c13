"""Business dates and the periods made of them: weeks (Monday to Sunday), months, years; the
weekday names; the ranges offered as buttons and the ranges people type. Dates are local
business dates in the configured time zone (settings.TIMEZONE)."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from bot.domain.formatting import format_date
from bot.domain.i18n import N_, Translator
from bot.domain.parsing import ErrorCode, ParseError, parse_date
from bot.domain.refusals import explain
from bot.domain.textnorm import nfc

PeriodKind = Literal["week", "month", "year"]
MAX_RANGE_TEXT = 200
WEEKDAYS = [  # Monday = 0, as date.weekday() and the Schedule table count
    N_("Monday"),
    N_("Tuesday"),
    N_("Wednesday"),
    N_("Thursday"),
    N_("Friday"),
    N_("Saturday"),
    N_("Sunday"),
]


def weekday_name(t: Translator, weekday: int) -> str:
    return t._(WEEKDAYS[weekday])


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def week_key(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def month_key(day: date) -> str:
    return f"{day.year}-{day.month:02d}"


# --- weeks, months and years ----------------------------------------------------------------------


def month_end(day: date) -> date:
    first_of_next = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return first_of_next - timedelta(days=1)


@dataclass(frozen=True)
class Period:
    """A week (Monday to Sunday) or a calendar month of local business dates, inclusive; the
    end may be earlier than the natural end for a period "so far"."""

    kind: PeriodKind
    start: date
    end: date

    @property
    def key(self) -> str:
        """ "2026-W48" (the ISO week) or "2026-11", as the send ledger keys them."""
        if self.kind == "week":
            return week_key(self.start)
        if self.kind == "year":
            return f"{self.start.year}"
        return month_key(self.start)

    @property
    def ytd_start(self) -> date:
        """1 January of the year the period ends in."""
        return date(self.end.year, 1, 1)

    @property
    def is_complete(self) -> bool:
        if self.kind == "year":
            return self.end == date(self.start.year, 12, 31)
        natural_end = self.start + timedelta(days=6) if self.kind == "week" else None
        return self.end == (natural_end or month_end(self.start))

    def previous(self) -> Period:
        """The week or month before, cut to the same length when this one is "so far"."""
        if self.kind == "week":
            return Period("week", self.start - timedelta(weeks=1), self.end - timedelta(weeks=1))
        if self.kind == "year":
            year = self.start.year - 1
            end = self.end.replace(year=year) if _valid(year, self.end) else date(year, 2, 28)
            return Period("year", date(year, 1, 1), end)
        last = self.start - timedelta(days=1)
        first = last.replace(day=1)
        if self.is_complete:
            return Period("month", first, last)
        return Period("month", first, min(first + (self.end - self.start), last))

    @staticmethod
    def week_of(day: date) -> Period:
        monday = week_start(day)
        return Period("week", monday, monday + timedelta(days=6))

    @staticmethod
    def month_of(day: date) -> Period:
        return Period("month", day.replace(day=1), month_end(day))

    @staticmethod
    def last_week(today: date) -> Period:
        """The Monday-to-Sunday week before the one `today` is in."""
        return Period.week_of(today - timedelta(weeks=1))

    @staticmethod
    def last_month(today: date) -> Period:
        """The calendar month before the one `today` is in."""
        return Period.month_of(today.replace(day=1) - timedelta(days=1))

    @staticmethod
    def this_week_so_far(today: date) -> Period:
        return Period("week", week_start(today), today)

    @staticmethod
    def this_month_so_far(today: date) -> Period:
        return Period("month", today.replace(day=1), today)

    @staticmethod
    def this_year_so_far(today: date) -> Period:
        return Period("year", date(today.year, 1, 1), today)


def _valid(year: int, day: date) -> bool:
    """Whether `day`'s month and day exist in `year` (29 February does not always)."""
    try:
        day.replace(year=year)
    except ValueError:
        return False
    return True


# --- ranges of dates ------------------------------------------------------------------------------


class PeriodChoice(enum.StrEnum):
    """The ranges offered as buttons; all end today at the latest."""

    THIS_WEEK = "tw"
    LAST_WEEK = "lw"
    THIS_MONTH = "tm"
    LAST_MONTH = "lm"
    THIS_YEAR = "ty"


def period_range(choice: PeriodChoice, today: date) -> tuple[date, date]:
    """The first and last day of `choice` as seen on `today`."""
    if choice is PeriodChoice.THIS_WEEK:
        period = Period.this_week_so_far(today)
    elif choice is PeriodChoice.LAST_WEEK:
        period = Period.last_week(today)
    elif choice is PeriodChoice.THIS_MONTH:
        period = Period.this_month_so_far(today)
    elif choice is PeriodChoice.LAST_MONTH:
        period = Period.last_month(today)
    else:
        return today.replace(month=1, day=1), today
    return period.start, period.end


class RangeProblem(enum.StrEnum):
    NOT_TWO_DATES = "not_two_dates"
    BAD_START = "bad_start"  # `error` says why
    BAD_END = "bad_end"
    START_AFTER_END = "start_after_end"


class RangeError(ValueError):
    def __init__(
        self,
        problem: RangeProblem,
        error: ParseError | None = None,
        *,
        start: date | None = None,
        end: date | None = None,
    ) -> None:
        super().__init__(problem.value)
        self.problem = problem
        self.error = error
        self.start = start
        self.end = end


_SEPARATORS = re.compile(
    r"\s*(?:–|—|\n|,|;|\bđến\b|\bden\b|\btới\b|\btoi\b|\bto\b)\s*|\s+-\s+", re.IGNORECASE
)
_LEAD_WORD = re.compile(r"^(?:từ|tu|from)\s+", re.IGNORECASE)
_DASHED_PAIR = re.compile(r"(\d{1,2}[/.]\d{1,2}[/.]\d{2,4})-(\d{1,2}[/.]\d{1,2}[/.]\d{2,4})")


def _two_parts(text: str) -> list[str]:
    text = _LEAD_WORD.sub("", text)
    parts = [part for part in _SEPARATORS.split(text) if part.strip()]
    if len(parts) == 2:
        return parts
    pair = _DASHED_PAIR.fullmatch(text)
    if pair:
        return [pair[1], pair[2]]
    words = text.split()
    if len(words) == 2:
        return words
    raise RangeError(RangeProblem.NOT_TWO_DATES)


def parse_range(text: str, today: date) -> tuple[date, date]:
    """The first and last day typed as "01/11/2026 - 25/11/2026" (also "từ … đến …", ISO dates,
    and whatever else `parse_date` reads). The last day may be in the future; the first may
    not. Raises RangeError."""
    cleaned = nfc(text)
    if not cleaned or len(cleaned) > MAX_RANGE_TEXT:
        raise RangeError(RangeProblem.NOT_TWO_DATES)
    first, last = _two_parts(cleaned)
    try:
        start = parse_date(first, today).value
    except ParseError as error:
        raise RangeError(RangeProblem.BAD_START, error) from None
    try:
        end = parse_date(last, today).value
    except ParseError as error:
        future = error.details.get("date")
        if error.code is not ErrorCode.FUTURE_DATE or not isinstance(future, date):
            raise RangeError(RangeProblem.BAD_END, error) from None
        end = future
    if start > end:
        raise RangeError(RangeProblem.START_AFTER_END, start=start, end=end)
    return start, end


def describe_range_error(t: Translator, error: RangeError) -> str:
    """Why the typed dates were refused, in one sentence (no HTML)."""
    if error.problem is RangeProblem.START_AFTER_END and error.start and error.end:
        return t._(
            "The first day ({start}) is after the last day ({end}).",
            start=format_date(error.start),
            end=format_date(error.end),
        )
    if error.problem is RangeProblem.BAD_START and error.error is not None:
        return t._("The first day: {problem}", problem=explain(t, error.error))
    if error.problem is RangeProblem.BAD_END and error.error is not None:
        return t._("The last day: {problem}", problem=explain(t, error.error))
    return t._("Please type two dates: the first and the last day.")


def parse_cli_date(text: str) -> date:
    """A date given on the command line: 25/11/2026 or 2026-11-25."""
    value = text.strip()
    try:
        return date.fromisoformat(value)
    except ValueError:
        pass
    return datetime.strptime(value, "%d/%m/%Y").date()
