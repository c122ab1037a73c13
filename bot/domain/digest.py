"""The weekly and monthly digest of an official's subtree as plain data, and its text: HTML with
every user-supplied string escaped, in lines that bot/domain/formatting.py splits to fit
Telegram's 4096 characters (a <pre> table is never split; if it would not fit in one message,
the children are listed one per line instead). The figures are gathered by
bot/services/digests.py (SQL in storage/digest.py).

Choices made here:
- the most active groups are ranked by their number of records in the period (activities,
  land pledges and workday entries), ties going to more m² pledged, then more participants,
  then more workdays; only groups with at least one record are ranked;
- a weekly digest counts a group as silent when it has neither a record nor a nil report in
  the week; a monthly one when it has no record in the month (nil reports do not excuse a
  whole month without activity);
- with `mask_donors`, a donor's name is reduced to initials ("Hộ ông N.V.A.") except for the
  pledges of the official's own unit, so an official whose unit is the group itself sees full
  names. The XLSX file follows the same rule: it goes to the same official and is as easily
  forwarded to a Zalo group as the message is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import date, datetime, tzinfo
from decimal import Decimal
from zoneinfo import ZoneInfo

from bot.domain.access import role_label
from bot.domain.formatting import (
    MESSAGE_LIMIT,
    escape_html,
    format_area,
    format_date,
    format_number,
    utf16_length,
)
from bot.domain.i18n import Translator
from bot.domain.outgoing import SendKind
from bot.domain.periods import Period
from bot.domain.textnorm import fold, nfc

ZERO = Decimal("0.00")
LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
TABLE_MAX_CHILDREN = 15  # more children than this are listed one per line
TABLE_NAME_WIDTH = 16
LIST_LIMIT = 30  # silent groups and unreachable members shown; the rest are counted
CHART_WEEKS = 12
TOP_GROUPS = 3
LARGEST_PLEDGES = 5


@dataclass(frozen=True)
class Figures:
    """The digest's figures for one range of dates."""

    records: int = 0
    activities: int = 0
    participants: int = 0
    land_m2: Decimal = ZERO
    handed_over_m2: Decimal = ZERO
    workdays: Decimal = ZERO
    nil_reports: int = 0

    def __sub__(self, other: Figures) -> Figures:
        return Figures(
            **{f.name: getattr(self, f.name) - getattr(other, f.name) for f in fields(self)}
        )

    def is_zero(self) -> bool:
        return all(not getattr(self, f.name) for f in fields(self))


@dataclass(frozen=True)
class ChildRow:
    """A direct child of the digest's unit, with the figures of its whole subtree."""

    unit_id: int
    code: str
    name: str
    level: str
    active: bool
    figures: Figures


@dataclass(frozen=True)
class GroupRow:
    """A group (leaf unit) and its figures in the period."""

    unit_id: int
    name: str
    parent_id: int | None
    parent_name: str | None
    figures: Figures


@dataclass(frozen=True)
class GroupRef:
    unit_id: int
    name: str
    parent_id: int | None
    parent_name: str | None


@dataclass(frozen=True)
class PledgeRow:
    pledge_id: int
    unit_id: int
    unit_name: str
    donor: str
    area_m2: Decimal
    stage: str
    on_date: date


@dataclass(frozen=True)
class UnreachableMember:
    member_id: int
    full_name: str
    role: str
    unit_name: str
    since: datetime


@dataclass(frozen=True)
class WeekPoint:
    """One bar of the chart: the week starting on Monday `start`."""

    start: date
    records: int
    land_m2: Decimal


# --- donors ---------------------------------------------------------------------------------------

# Kept in front of the initials; longest first. Single words must carry their diacritics, so
# that the surname Hồ is not taken for hộ (household).
_DONOR_PREFIXES = (
    ("gia", "đình", "ông"),
    ("gia", "đình", "bà"),
    ("hộ", "ông"),
    ("hộ", "bà"),
    ("gia", "đình"),
    ("hộ",),
    ("ông",),
    ("bà",),
)


_PLAIN_DONOR_PREFIXES = tuple(tuple(map(fold, prefix)) for prefix in _DONOR_PREFIXES)
_LONGEST_DONOR_PREFIX = max(map(len, _DONOR_PREFIXES))


def _prefix_length(words: list[str]) -> int:
    head = words[:_LONGEST_DONOR_PREFIX]
    lowered = [word.lower() for word in head]
    plain = [fold(word) for word in head]
    for prefix, plain_prefix in zip(_DONOR_PREFIXES, _PLAIN_DONOR_PREFIXES, strict=True):
        size = len(prefix)
        if tuple(lowered[:size]) == prefix:
            return size
        # Typed without diacritics ("ho ong Nguyen Van An"): only a prefix of several words
        # is unambiguous enough.
        typed_plain = plain[:size] == lowered[:size]
        if size > 1 and typed_plain and tuple(plain[:size]) == plain_prefix:
            return size
    return 0


def mask_donor(name: str) -> str:
    """ "Hộ ông Nguyễn Văn An" → "Hộ ông N.V.A."; "Trần Thị Bình" → "T.T.B." """
    words = nfc(name, multiline=False).split()
    keep = _prefix_length(words)
    initials = "".join(
        next(ch for ch in word if ch.isalnum()).upper() + "."
        for word in words[keep:]
        if any(ch.isalnum() for ch in word)
    )
    return " ".join([*words[:keep], initials] if initials else words[:keep])


# --- the digest as data ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DigestUnit:
    id: int
    code: str
    name: str
    level: str
    is_group: bool  # no active child: the official's unit is itself a group


@dataclass(frozen=True)
class Totals:
    current: Figures
    previous: Figures
    ytd: Figures

    @property
    def change(self) -> Figures:
        return self.current - self.previous


@dataclass(frozen=True)
class Digest:
    unit: DigestUnit
    period: Period
    totals: Totals
    children: list[ChildRow]
    top_groups: list[GroupRow]
    largest_pledges: list[PledgeRow]  # donors already masked where the rule says so
    silent_groups: list[GroupRef]
    unreachable: list[UnreachableMember]
    weekly_series: list[WeekPoint]
    mask_donors: bool

    def donor(self, name: str, unit_id: int) -> str:
        """A donor's name as this digest may show it (see the module docstring)."""
        return shown_donor(name, unit_id, self.unit.id, mask=self.mask_donors)


def shown_donor(name: str, unit_id: int, own_unit_id: int, *, mask: bool) -> str:
    """Initials when masking, except for the pledges of the official's own unit."""
    return mask_donor(name) if mask and unit_id != own_unit_id else name


# --- rendering ------------------------------------------------------------------------------------


def _signed(value: Decimal | int, shown: str) -> str:
    if value > 0:
        return f"+{shown}"
    if value < 0:
        return f"−{shown}"
    return f"±{shown}"


def _figure_line(
    label: str, value: Decimal | int, change: Decimal | int, ytd: Decimal | int, *, area: bool
) -> str:
    show: Callable[[Decimal | int], str] = format_area if area else format_number
    size = -change if change < 0 else change
    return f"• {label}: <b>{show(value)}</b> ({_signed(change, show(size))}; {show(ytd)})"


def _header(t: Translator, digest: Digest) -> list[str]:
    period = digest.period
    unit = escape_html(digest.unit.name)
    start, end = format_date(period.start), format_date(period.end)
    if period.kind == "week":
        year, week, _ = period.start.isocalendar()
        title = t._("📊 <b>Weekly digest: {unit}</b>", unit=unit)
        when = t._(
            "Week {week}/{year}: {start} – {end}", week=week, year=year, start=start, end=end
        )
        legend = t._(
            "<b>Totals</b> (in brackets: change from the previous week; total since 1 January)"
        )
    elif period.kind == "year":
        title = t._("📊 <b>Figures for the year: {unit}</b>", unit=unit)
        when = t._("Year {year}: {start} – {end}", year=period.start.year, start=start, end=end)
        legend = t._("<b>Totals</b> (in brackets: change from the same days of the previous year)")
    else:
        title = t._("📊 <b>Monthly digest: {unit}</b>", unit=unit)
        when = t._(
            "Month {month}/{year}: {start} – {end}",
            month=period.start.month,
            year=period.start.year,
            start=start,
            end=end,
        )
        legend = t._(
            "<b>Totals</b> (in brackets: change from the previous month; total since 1 January)"
        )
    return [title, when, "", legend]


def _totals(t: Translator, totals: Totals) -> list[str]:
    now, change, ytd = totals.current, totals.change, totals.ytd
    activities = t._("Activities")
    participants = t._("Participants")
    pledged = t._("Land pledged")
    handed_over = t._("Land handed over")
    workdays = t._("Workdays")
    nil_reports = t._("Nil reports")
    return [
        _figure_line(activities, now.activities, change.activities, ytd.activities, area=False),
        _figure_line(
            participants, now.participants, change.participants, ytd.participants, area=False
        ),
        _figure_line(pledged, now.land_m2, change.land_m2, ytd.land_m2, area=True),
        _figure_line(
            handed_over, now.handed_over_m2, change.handed_over_m2, ytd.handed_over_m2, area=True
        ),
        _figure_line(workdays, now.workdays, change.workdays, ytd.workdays, area=False),
        _figure_line(nil_reports, now.nil_reports, change.nil_reports, ytd.nil_reports, area=False),
    ]


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def children_table(t: Translator, children: list[ChildRow]) -> str:
    """The children as one monospace <pre> block (names clipped to keep it narrow)."""
    header = [t._("Unit"), t._("Act."), t._("Land m²"), t._("Workd.")]
    rows = [
        [
            _clip(child.name, TABLE_NAME_WIDTH),
            format_number(child.figures.activities),
            format_number(child.figures.land_m2),
            format_number(child.figures.workdays),
        ]
        for child in children
    ]
    widths = [max(len(row[index]) for row in [header, *rows]) for index in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(widths[index]) if index == 0 else cell.rjust(widths[index])
            for index, cell in enumerate(row)
        ).rstrip()
        for row in [header, *rows]
    ]
    return "<pre>" + escape_html("\n".join(lines)) + "</pre>"


def children_lines(t: Translator, children: list[ChildRow]) -> list[str]:
    return [
        t._(
            "• <b>{unit}</b>: {activities} · {land} pledged · {workdays} workdays",
            unit=escape_html(child.name),
            activities=t.ngettext(
                "{count} activity", "{count} activities", child.figures.activities
            ),
            land=format_area(child.figures.land_m2),
            workdays=format_number(child.figures.workdays),
        )
        for child in children
    ]


def _children(t: Translator, digest: Digest, limit: int) -> list[str]:
    if not digest.children:
        return []
    heading = t._("<b>By unit</b>")
    if len(digest.children) <= TABLE_MAX_CHILDREN:
        # One element, so the table is never split and its heading travels with it.
        table = heading + "\n" + children_table(t, digest.children)
        if utf16_length(table) <= limit:
            return ["", table]
    return ["", heading, *children_lines(t, digest.children)]


def _place(digest: Digest, parent_id: int | None, parent_name: str | None) -> str:
    """ " (xã Một)" after a group's name, unless its parent is the digest's own unit."""
    if parent_name is None or parent_id == digest.unit.id:
        return ""
    return f" ({escape_html(parent_name)})"


def _top_groups(t: Translator, digest: Digest) -> list[str]:
    lines = ["", t._("<b>🏆 Most active groups</b> (by number of records)")]
    if not digest.top_groups:
        return [*lines, t._("No group logged anything.")]
    for rank, group in enumerate(digest.top_groups, start=1):
        lines.append(
            t._(
                "{rank}. <b>{group}</b>{place}: {records} · {land} pledged",
                rank=rank,
                group=escape_html(group.name),
                place=_place(digest, group.parent_id, group.parent_name),
                records=t.ngettext("{count} record", "{count} records", group.figures.records),
                land=format_area(group.figures.land_m2),
            )
        )
    return lines


def _largest_pledges(t: Translator, digest: Digest) -> list[str]:
    lines = ["", t._("<b>🏡 Largest land pledges</b>")]
    if not digest.largest_pledges:
        return [*lines, t._("No land was pledged in this period.")]
    for rank, pledge in enumerate(digest.largest_pledges, start=1):
        donor, unit = escape_html(pledge.donor), escape_html(pledge.unit_name)
        area, day = format_area(pledge.area_m2), format_date(pledge.on_date)
        lines.append(f"{rank}. {donor}: <b>{area}</b> · {unit} · {day}")
    return lines


def _more(t: Translator, total: int) -> list[str]:
    if total <= LIST_LIMIT:
        return []
    return [t._("… and {count} more", count=format_number(total - LIST_LIMIT))]


def _silent_groups(t: Translator, digest: Digest) -> list[str]:
    groups = digest.silent_groups
    count = format_number(len(groups))
    if digest.period.kind == "week":
        heading = t._("<b>🔕 Groups with no report this week</b> ({count})", count=count)
    elif digest.period.kind == "year":
        heading = t._("<b>🔕 Groups with no record this year</b> ({count})", count=count)
    else:
        heading = t._("<b>🔕 Groups with no record this month</b> ({count})", count=count)
    if not groups:
        return ["", heading, t._("Every group reported.")]
    lines = [
        f"• {escape_html(group.name)}{_place(digest, group.parent_id, group.parent_name)}"
        for group in groups[:LIST_LIMIT]
    ]
    return ["", heading, *lines, *_more(t, len(groups))]


def _unreachable(t: Translator, digest: Digest, tz: tzinfo) -> list[str]:
    people = digest.unreachable
    if not people:
        return []
    lines = [
        "",
        t._(
            "<b>📵 Members the bot cannot reach</b> ({count})",
            count=format_number(len(people)),
        ),
        t._("They have blocked the bot; please contact them directly."),
    ]
    for person in people[:LIST_LIMIT]:
        lines.append(
            t._(
                "• {name} ({role}, {unit}), since {date}",
                name=escape_html(person.full_name),
                role=role_label(t, person.role),
                unit=escape_html(person.unit_name),
                date=format_date(person.since.astimezone(tz).date()),
            )
        )
    return [*lines, *_more(t, len(people))]


def digest_lines(
    t: Translator, digest: Digest, *, tz: tzinfo = LOCAL_TZ, limit: int = MESSAGE_LIMIT
) -> list[str]:
    """The digest as lines of HTML; a <pre> table is one element (it is never split)."""
    lines = [*_header(t, digest), *_totals(t, digest.totals), *_children(t, digest, limit)]
    if not digest.unit.is_group:
        lines += _top_groups(t, digest)
    lines += _largest_pledges(t, digest)
    if not digest.unit.is_group:
        lines += _silent_groups(t, digest)
    return [*lines, *_unreachable(t, digest, tz)]


def period_for(kind: SendKind, due: datetime, tz: tzinfo) -> Period:
    """The period a digest due at `due` reports on: the week or month before."""
    today = due.astimezone(tz).date()
    if kind is SendKind.WEEKLY_DIGEST:
        return Period.last_week(today)
    if kind is SendKind.MONTHLY_DIGEST:
        return Period.last_month(today)
    raise ValueError(f"{kind} is not a digest")
