"""The weekly and monthly digest of an official's subtree: plain data, then HTML messages.

`build_digest` gathers the numbers (SQL in storage/digest.py) into a `Digest`, which knows
nothing of Telegram, so a /thongke command and the exports can reuse it. `render_digest` turns
it into outbox messages: HTML with every user-supplied string escaped, split at line boundaries
to fit Telegram's 4096 characters (a <pre> table is never split; if it would not fit in one
message, the children are listed one per line instead), the last message carrying the chart
and the XLSX file. `digest_sends` is what the scheduler calls.

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

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, tzinfo
from decimal import Decimal
from functools import partial
from typing import Literal
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.access import Role
from bot.domain.formatting import (
    MESSAGE_LIMIT,
    escape_html,
    format_area,
    format_date,
    format_number,
    split_lines,
    utf16_length,
)
from bot.domain.forms import label_of
from bot.domain.i18n import N_, Translator, translator
from bot.domain.outgoing import Attachment, Drawn, OutMessage, Send, SendKind, Shared
from bot.domain.periods import Period, week_start
from bot.domain.textnorm import fold, nfc
from bot.services.charts import weekly_chart
from storage import digest as queries
from storage.digest import (
    ChildRow,
    Figures,
    GroupRef,
    GroupRow,
    PledgeRow,
    UnreachableMember,
    WeekPoint,
)
from storage.engine import Database, begin_reading
from storage.models import Unit, pk
from storage.reminders import Recipient, area_members

PeriodKind = Literal["week", "month", "year"]
LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
TABLE_MAX_CHILDREN = 15  # more children than this are listed one per line
TABLE_NAME_WIDTH = 16
LIST_LIMIT = 30  # silent groups and unreachable members shown; the rest are counted
CHART_WEEKS = 12
TOP_GROUPS = 3
LARGEST_PLEDGES = 5
DIGEST_ROLES = (Role.OFFICIAL, Role.ADMIN)

ROLES: dict[str, str] = {
    Role.COORDINATOR: N_("coordinator"),
    Role.OFFICIAL: N_("official"),
    Role.ADMIN: N_("admin"),
}


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


def digest_ranges(period: Period) -> list[tuple[date, date]]:
    """Every range of dates a digest of `period` reads: the period, the previous one, the year
    to date and the chart's weeks."""
    previous = period.previous()
    return [
        (period.start, period.end),
        (previous.start, previous.end),
        (period.ytd_start, period.end),
        *queries.series_ranges(week_start(period.end), period.end, CHART_WEEKS),
    ]


async def load_snapshot(
    session: AsyncSession, units: Iterable[Unit], period: Period
) -> queries.Snapshot:
    """The figures the digests of `units` for `period` are made of, in one aggregate query
    over the smallest subtree holding them all."""
    units = list(units)
    path = queries.common_path([unit.path for unit in units])
    return await queries.snapshot(
        session,
        path,
        digest_ranges(period),
        (period.start, period.end),
        [pk(unit) for unit in units],
    )


def digest_of(
    snapshot: queries.Snapshot, unit: Unit, period: Period, *, mask_donors: bool
) -> Digest:
    """The digest of `unit`'s subtree for `period`, from a snapshot holding it."""
    if unit.id is None:
        raise LookupError("unit without id")
    start, end, previous = period.start, period.end, period.previous()
    current, before, ytd = snapshot.figures(
        unit,
        [(start, end), (previous.start, previous.end), (period.ytd_start, end)],
    )
    children = snapshot.children(unit, start, end)
    pledges = snapshot.largest_pledges(unit, start, end, LARGEST_PLEDGES)
    return Digest(
        unit=DigestUnit(
            unit.id, unit.code, unit.name, unit.level, not any(child.active for child in children)
        ),
        period=period,
        totals=Totals(current, before, ytd),
        children=children,
        top_groups=snapshot.top_groups(unit, start, end, TOP_GROUPS),
        largest_pledges=[
            replace(
                pledge,
                donor=shown_donor(pledge.donor, pledge.unit_id, unit.id, mask=mask_donors),
            )
            for pledge in pledges
        ],
        silent_groups=snapshot.silent_groups(
            unit, start, end, nil_reports_count=period.kind == "week"
        ),
        unreachable=snapshot.unreachable_members(unit),
        weekly_series=snapshot.weekly_series(unit, week_start(end), end, CHART_WEEKS),
        mask_donors=mask_donors,
    )


async def build_digest(
    session: AsyncSession, unit_id: int, period: Period, *, mask_donors: bool
) -> Digest:
    """The digest of `unit_id`'s subtree for `period`: a few aggregate queries."""
    unit = await session.get(Unit, unit_id)
    if unit is None or unit.id is None:
        raise LookupError(f"no unit {unit_id}")
    snapshot = await load_snapshot(session, [unit], period)
    return digest_of(snapshot, unit, period, mask_donors=mask_donors)


async def build_digests(
    db: Database, unit_ids: Iterable[int], period: Period, *, mask_donors: bool
) -> dict[int, Digest]:
    """The digests of many units for one period at once: the figures of all of them are read
    in one aggregate query (see storage.digest.Snapshot) rather than unit by unit."""
    _, digests = await _build_all(db, unit_ids, period, mask_donors=mask_donors)
    return digests


async def _build_all(
    db: Database, unit_ids: Iterable[int], period: Period, *, mask_donors: bool
) -> tuple[queries.Snapshot | None, dict[int, Digest]]:
    async with db.session() as session:
        await begin_reading(session)  # on SQLite, writers (people saving forms) need not wait
        units = await _units(session, unit_ids)
        if not units:
            return None, {}
        snapshot = await load_snapshot(session, units, period)
    digests = {pk(u): digest_of(snapshot, u, period, mask_donors=mask_donors) for u in units}
    return snapshot, digests


async def _period_records(db: Database, path: str, period: Period) -> list[queries.PeriodRecord]:
    async with db.session() as session:
        await begin_reading(session)
        return [
            record
            async for record in queries.records_under(session, path, period.start, period.end)
        ]


async def _units(session: AsyncSession, unit_ids: Iterable[int]) -> list[Unit]:
    wanted = sorted(set(unit_ids))
    if not wanted:
        return []
    found = await session.exec(select(Unit).where(col(Unit.id).in_(wanted)))
    return sorted(found.all(), key=pk)


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
                role=label_of(t, ROLES, person.role),
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


def chart_attachment(t: Translator, digest: Digest) -> Attachment:
    title = t._("{unit}: the last 12 weeks", unit=digest.unit.name)
    return Attachment(
        filename=f"danvan-{digest.unit.code}-{digest.period.key}.png",
        content=Drawn(partial(weekly_chart, t, digest.weekly_series, title=title)),
        as_photo=True,
        caption=t._("Records and land pledged per week"),
    )


def xlsx_attachment(t: Translator, digest: Digest, content: bytes | Drawn) -> Attachment:
    return Attachment(
        filename=f"danvan-{digest.unit.code}-{digest.period.key}.xlsx",
        content=content,
        caption=t._("The period's records, for Excel"),
    )


def render_digest(
    t: Translator,
    digest: Digest,
    *,
    xlsx: bytes | Drawn | None = None,
    chart: bool = True,
    tz: tzinfo = LOCAL_TZ,
    limit: int = MESSAGE_LIMIT,
) -> list[OutMessage]:
    """The digest as messages of at most `limit` characters, split between lines; the last one
    carries the chart (unless `chart` is false; drawn when it is sent) and the XLSX file (when
    given)."""
    texts = [
        text.strip("\n") for text in split_lines(digest_lines(t, digest, tz=tz, limit=limit), limit)
    ]
    messages = [OutMessage(text) for text in texts if text]
    attachments = []
    if chart:
        attachments.append(chart_attachment(t, digest))
    if xlsx is not None:
        attachments.append(xlsx_attachment(t, digest, xlsx))
    messages[-1] = replace(messages[-1], attachments=attachments)
    return messages


# --- delivery -------------------------------------------------------------------------------------


def period_for(kind: SendKind, due: datetime, tz: tzinfo) -> Period:
    """The period a digest due at `due` reports on: the week or month before."""
    today = due.astimezone(tz).date()
    if kind is SendKind.WEEKLY_DIGEST:
        return Period.last_week(today)
    if kind is SendKind.MONTHLY_DIGEST:
        return Period.last_month(today)
    raise ValueError(f"{kind} is not a digest")


async def digest_sends(
    db: Database,
    kind: SendKind,
    unit_ids: Iterable[int],
    key: str,
    due: datetime,
    tz: tzinfo,
) -> list[Send]:
    """One digest per active, reachable official or admin whose unit is in `unit_ids`, for
    their own unit's subtree; built once per unit and rendered once per language. The figures
    of all the units come from one aggregate query. Each unit's chart and XLSX file are made
    when its digest first goes out (Drawn), while delivery waits on Telegram's pace anyway;
    the period's records, for the XLSX files, are read then too, once for all of them."""
    period = period_for(kind, due, tz)
    async with db.session() as session:
        await begin_reading(session)
        people = await area_members(session, unit_ids, DIGEST_ROLES)
    by_unit: dict[int, list[Recipient]] = {}
    for person in people:
        by_unit.setdefault(person.unit_id, []).append(person)
    if not by_unit:
        return []
    snapshot, digests = await _build_all(db, by_unit, period, mask_donors=True)
    assert snapshot is not None
    # Read for the first file written, for all of them.
    records = Shared(partial(_period_records, db, snapshot.path, period))
    sends = []
    for unit_id, recipients in by_unit.items():
        digest = digests[unit_id]
        # The file is written, like the chart is drawn, when the digest first goes out.
        workbook = Drawn(
            partial(_subtree_workbook, digest, records, snapshot.subtree_ids(unit_id)),
            prepare=records.load,
        )
        rendered: dict[str, list[OutMessage]] = {}
        for person in recipients:
            if person.language not in rendered:
                rendered[person.language] = render_digest(
                    translator(person.language), digest, xlsx=workbook, tz=tz
                )
            sends.append(
                Send(
                    kind,
                    person.telegram_id,
                    key,
                    rendered[person.language],
                    member_id=person.member_id,
                    due_at=due,
                )
            )
    return sends


def _subtree_workbook(
    digest: Digest, records: Shared[list[queries.PeriodRecord]], subtree: Collection[int]
) -> bytes:
    from bot.services.workbook import digest_workbook

    rows = [record for record in records.value if record.unit_id in subtree]
    return digest_workbook(digest, rows)


async def digest_messages(
    session: AsyncSession,
    t: Translator,
    unit_id: int,
    period: Period,
    *,
    mask_donors: bool = True,
    tz: tzinfo = LOCAL_TZ,
) -> list[OutMessage]:
    """Build and render in one go (for a command such as /thongke)."""
    from bot.services.workbook import build_xlsx

    digest = await build_digest(session, unit_id, period, mask_donors=mask_donors)
    workbook = await build_xlsx(session, digest)
    return render_digest(t, digest, xlsx=workbook, tz=tz)
