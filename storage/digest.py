"""The digest's numbers for one unit's subtree, computed in SQL on SQLite and PostgreSQL.

Every figure is read from one "facts" union (see `_facts`): one row per live record, land
hand-over or nil report, with the figures it adds. Aggregate queries over it give one unit's
totals of several date ranges at once (`figures`: conditional sums) and its breakdown by child
unit (`children`: per-unit sums rolled up by path prefix); a `Snapshot` holds the sums of a
whole subtree per unit and slice of dates, from which the digests of many units are made
(totals, children, groups, largest pledges, the weekly series). Nothing loops over records in
Python.

Definitions, shared by the text digest, the chart and the XLSX file:
- a *record* is a live (not deleted) activity, land pledge (whatever its stage, cancelled ones
  included: the group did report) or workday entry, dated by its `on_date`;
- *land pledged* is the area of live pledges whose `on_date` falls in the range and whose stage
  is not cancelled; *land handed over* is the area of live, not cancelled pledges whose
  `handed_over_on` falls in the range; *workdays* sum `total_days`; *nil reports* count live
  NilReport rows whose `week_start` falls in the range;
- a *group* is an active unit with no active child unit (the level where teams live).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Numeric,
    Subquery,
    case,
    cast,
    func,
    literal_column,
    or_,
    union_all,
)
from sqlalchemy import select as core_select
from sqlalchemy.orm import aliased
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import Select

from bot.domain.digest import (
    ChildRow,
    Figures,
    GroupRef,
    GroupRow,
    PledgeRow,
    UnreachableMember,
    WeekPoint,
)
from bot.domain.records import PledgeStage
from storage.models import Activity, LandPledge, Member, NilReport, Unit, Workday

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
FIGURES = tuple(f.name for f in fields(Figures))  # the order the queries sum them in
DECIMAL_FIGURES = frozenset({"land_m2", "handed_over_m2", "workdays"})


def _decimal(value: object) -> Decimal:
    """A sum as Decimal with two places (SQLite hands NUMERIC sums back as floats)."""
    if value is None:
        return ZERO
    if type(value) is Decimal:  # PostgreSQL's, as it is: the common case, kept quick
        return value.quantize(CENT)
    return Decimal(str(value)).quantize(CENT)


def _int(value: object) -> int:
    if type(value) is int:
        return value
    return int(Decimal(str(value))) if value is not None else 0


def _date(value: object) -> date:
    """Dates selected through expressions may come back as ISO strings on SQLite."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def figures_from(values: Sequence[object]) -> Figures:
    """From sums in the order of FIGURES, which is the order of the fields."""
    # Positional: a digest batch makes some 8.000 of these.
    converted: list[Any] = [convert(v) for convert, v in zip(_CONVERTERS, values, strict=True)]
    return Figures(*converted)


NOTHING = Figures()  # of a range without facts
_CONVERTERS = tuple(_decimal if name in DECIMAL_FIGURES else _int for name in FIGURES)


# --- the facts union ------------------------------------------------------------------------------


def in_subtree(unit_id_column: Any, path: str) -> ColumnElement[bool]:
    """The unit of the row lies in the subtree whose root has `path` (itself included)."""
    return col(unit_id_column).in_(core_select(col(Unit.id)).where(col(Unit.path).startswith(path)))


def _facts(path: str, lo: date, hi: date) -> Subquery:
    """Every live fact of the subtree dated `lo`..`hi`, one row each, as
    (unit_id, day, records, activities, participants, land_m2, handed_over_m2, workdays,
    nil_reports)."""
    one: Any = literal_column("1")
    zero: Any = literal_column("0")
    no_area = cast(literal_column("0"), Numeric(14, 2))

    def row(unit_id: Any, day: Any, **values: Any) -> Any:
        columns: list[Any] = [col(unit_id).label("unit_id"), col(day).label("day")]
        for name in FIGURES:
            default = no_area if name in DECIMAL_FIGURES else zero
            columns.append(values.get(name, default).label(name))
        return core_select(*columns)

    activities = row(
        Activity.unit_id,
        Activity.on_date,
        records=one,
        activities=one,
        participants=col(Activity.participants),
    ).where(
        col(Activity.deleted_at).is_(None),
        in_subtree(Activity.unit_id, path),
        col(Activity.on_date).between(lo, hi),
    )
    pledged = row(
        LandPledge.unit_id,
        LandPledge.on_date,
        records=one,
        land_m2=case(
            (col(LandPledge.stage) != PledgeStage.CANCELLED.value, col(LandPledge.area_m2)),
            else_=no_area,
        ),
    ).where(
        col(LandPledge.deleted_at).is_(None),
        in_subtree(LandPledge.unit_id, path),
        col(LandPledge.on_date).between(lo, hi),
    )
    handed_over = row(
        LandPledge.unit_id,
        LandPledge.handed_over_on,
        handed_over_m2=col(LandPledge.area_m2),
    ).where(
        col(LandPledge.deleted_at).is_(None),
        col(LandPledge.stage) != PledgeStage.CANCELLED.value,  # cancelled after hand-over
        in_subtree(LandPledge.unit_id, path),
        col(LandPledge.handed_over_on).between(lo, hi),
    )
    workdays = row(
        Workday.unit_id,
        Workday.on_date,
        records=one,
        workdays=col(Workday.total_days),
    ).where(
        col(Workday.deleted_at).is_(None),
        in_subtree(Workday.unit_id, path),
        col(Workday.on_date).between(lo, hi),
    )
    nil_reports = row(NilReport.unit_id, NilReport.week_start, nil_reports=one).where(
        col(NilReport.deleted_at).is_(None),
        in_subtree(NilReport.unit_id, path),
        col(NilReport.week_start).between(lo, hi),
    )
    return union_all(activities, pledged, handed_over, workdays, nil_reports).subquery("facts")


def _sum_if(condition: ColumnElement[bool], column: Any) -> Any:
    return func.coalesce(func.sum(case((condition, column), else_=literal_column("0"))), 0)


def _per_unit(path: str, start: date, end: date) -> Subquery:
    """The facts of `start`..`end` summed per unit."""
    facts = _facts(path, start, end)
    return (
        core_select(facts.c.unit_id, *[func.sum(facts.c[name]).label(name) for name in FIGURES])
        .group_by(facts.c.unit_id)
        .subquery("per_unit")
    )


# --- queries --------------------------------------------------------------------------------------


async def figures(
    session: AsyncSession, unit: Unit, ranges: Sequence[tuple[date, date]]
) -> list[Figures]:
    """The figures of `unit`'s subtree for each (start, end) range, inclusive, in one query."""
    facts = _facts(unit.path, min(start for start, _ in ranges), max(end for _, end in ranges))
    columns = [
        _sum_if(facts.c.day.between(start, end), facts.c[name])
        for start, end in ranges
        for name in FIGURES
    ]
    query: Select[*tuple[Any, ...]] = Select(*columns).select_from(facts)
    values = list((await session.exec(query)).one())
    width = len(FIGURES)
    return [
        figures_from(values[index * width : (index + 1) * width]) for index in range(len(ranges))
    ]


async def children(session: AsyncSession, unit: Unit, start: date, end: date) -> list[ChildRow]:
    """The direct children of `unit`, each with the figures of its own subtree, in the order
    they were created (the order of the imported list). Inactive children are left out unless
    they have figures in the period."""
    child = aliased(Unit, name="child")
    record_unit = aliased(Unit, name="record_unit")
    per_unit = _per_unit(unit.path, start, end)
    rolled = (
        core_select(per_unit, col(record_unit.path).label("path"))
        .join(record_unit, col(record_unit.id) == per_unit.c.unit_id)
        .subquery("rolled")
    )
    query: Select[*tuple[Any, ...]] = (
        Select(
            col(child.id),
            col(child.code),
            col(child.name),
            col(child.level),
            col(child.active),
            *[func.coalesce(func.sum(rolled.c[name]), 0) for name in FIGURES],
        )
        .select_from(child)
        .outerjoin(rolled, rolled.c.path.startswith(col(child.path)))
        .where(col(child.parent_id) == unit.id)
        .group_by(
            col(child.id), col(child.code), col(child.name), col(child.level), col(child.active)
        )
        .order_by(col(child.id))
    )
    rows = []
    for unit_id, code, name, level, active, *sums in (await session.exec(query)).all():
        row = ChildRow(int(unit_id), code, name, level, bool(active), figures_from(sums))
        if row.active or not row.figures.is_zero():
            rows.append(row)
    return rows


def _live_pledges(where: ColumnElement[bool], start: date, end: date) -> Select[*tuple[Any, ...]]:
    """Live, not cancelled pledges dated `start`..`end` that match `where`, as PledgeRow
    columns."""
    return (
        Select(
            col(LandPledge.id),
            col(LandPledge.unit_id),
            col(Unit.name),
            col(LandPledge.donor),
            col(LandPledge.area_m2),
            col(LandPledge.stage),
            col(LandPledge.on_date),
        )
        .join(Unit, col(Unit.id) == col(LandPledge.unit_id))
        .where(
            col(LandPledge.deleted_at).is_(None),
            col(LandPledge.stage) != PledgeStage.CANCELLED.value,
            where,
            col(LandPledge.on_date).between(start, end),
        )
    )


async def _pledge_rows(session: AsyncSession, query: Select[*tuple[Any, ...]]) -> list[PledgeRow]:
    return [
        PledgeRow(int(pid), int(uid), uname, donor, _decimal(area), stage, _date(on))
        for pid, uid, uname, donor, area, stage, on in (await session.exec(query)).all()
    ]


async def _unreachable_under(
    session: AsyncSession, path: str
) -> list[tuple[str, UnreachableMember]]:
    """Active members under `path` the bot cannot reach (they blocked it), longest first,
    each with their unit's path."""
    query: Select[*tuple[Any, ...]] = (
        Select(
            col(Unit.path),
            col(Member.id),
            col(Member.full_name),
            col(Member.role),
            col(Unit.name),
            col(Member.unreachable_at),
        )
        .join(Unit, col(Unit.id) == col(Member.unit_id))
        .where(
            col(Unit.path).startswith(path),
            col(Member.active).is_(True),
            col(Member.unreachable_at).is_not(None),
        )
        .order_by(col(Member.unreachable_at), col(Member.id))
    )
    return [
        (unit_path, UnreachableMember(int(member_id), name, role, unit_name, since))
        for unit_path, member_id, name, role, unit_name, since in (await session.exec(query)).all()
    ]


# --- many digests at once: one aggregate query, the rest in Python --------------------------------


@dataclass(frozen=True)
class TreeUnit:
    id: int
    code: str
    name: str
    level: str
    parent_id: int | None
    path: str
    active: bool


def _slices(ranges: Sequence[tuple[date, date]]) -> list[date]:
    """The boundaries (first days) of the elementary slices the ranges are unions of; the
    last boundary is the day after the last range ends."""
    return sorted({day for start, end in ranges for day in (start, end + timedelta(days=1))})


class Snapshot:
    """The figures of a subtree per unit and per slice of dates, read in one aggregate query,
    with the subtree's units, the largest pledges and the unreachable members of a detail
    range (the digests' period): every digest of the digest units it was loaded for is
    derived from it in Python, with the definitions above (tests/digest_oracle.py queries
    them unit by unit, to check it).
    The ranges asked of it must be among those it was loaded for (or unions of their slices).
    Within the detail range it knows every unit's figures; outside it, only the digest units'
    own (the other units' sums are handed to their parents, see `snapshot`)."""

    def __init__(
        self,
        units: list[TreeUnit],
        boundaries: list[date],
        sums: list[tuple[int, int, list[Any]]],
        pledges: list[PledgeRow],
        unreachable: list[tuple[str, UnreachableMember]],
        *,
        path: str,
        detail: tuple[date, date],
        digest_units: Collection[int],
    ) -> None:
        self.path = path  # the subtree it covers
        self.units = {unit.id: unit for unit in units}
        self.boundaries = boundaries
        self._detail = self._range(*detail)  # the slices of the period itself
        self._digest_units = frozenset(digest_units)
        # Largest first, with their units' paths: a digest takes the first few of its subtree.
        self._pledges = [
            (self.units[pledge.unit_id].path, pledge)
            for pledge in sorted(pledges, key=_largest_first)
        ]
        self._unreachable = unreachable
        self._children: dict[int, list[TreeUnit]] = {}
        for unit in sorted(units, key=lambda u: u.id):
            if unit.parent_id is not None:
                self._children.setdefault(unit.parent_id, []).append(unit)
        # Own sums per unit and slice, and the same rolled up to every ancestor in the tree.
        # Sums are added as the backend returned them (SQLite: int and float, as its own SUM
        # would; PostgreSQL: int and Decimal); Figures.from_values rounds them at the end.
        width = len(boundaries) - 1
        self._own: dict[int, list[list[Any] | None]] = {}
        for unit_id, slice_index, values in sums:
            row = self._own.get(unit_id)
            if row is None:
                row = self._own[unit_id] = [None] * width
            row[slice_index] = values  # one row per unit and slice from the GROUP BY
        self._rolled = self._roll_up(width)
        # Digests of a unit and of its parent ask for the same groups' figures.
        self._figures: dict[tuple[bool, int, int, int], Figures] = {}

    def _roll_up(self, width: int) -> dict[int, list[list[Any] | None]]:
        """Each unit's own sums plus its children's rolled-up sums, deepest units first."""
        rolled: dict[int, list[list[Any] | None]] = {}
        for unit in sorted(self.units.values(), key=lambda u: -u.path.count("/")):
            parts = [self._own.get(unit.id)]
            parts += [rolled.get(child.id) for child in self._children.get(unit.id, [])]
            rows = [row for row in parts if row is not None]
            if len(rows) == 1:
                rolled[unit.id] = rows[0]  # shared: rows are never changed once built
            elif rows:
                total: list[list[Any] | None] = [None] * width
                for row in rows:
                    for index, cell in enumerate(row):
                        if cell is not None:
                            before = total[index]
                            total[index] = (
                                cell
                                if before is None
                                else [a + b for a, b in zip(before, cell, strict=True)]
                            )
                rolled[unit.id] = total
        return rolled

    def _range(self, start: date, end: date) -> range:
        try:
            first = self.boundaries.index(start)
            stop = self.boundaries.index(end + timedelta(days=1))
        except ValueError:
            raise ValueError(f"{start}..{end} is not a range this snapshot has") from None
        return range(first, stop)

    def _sum(self, rolled: bool, unit_id: int, slices: range) -> Figures:
        """The figures of the unit (with its subtree when `rolled`) over `slices`."""
        key = (rolled, unit_id, slices.start, slices.stop)
        found = self._figures.get(key)
        if found is not None:
            return found
        in_detail = self._detail.start <= slices.start and slices.stop <= self._detail.stop
        if not in_detail and not (rolled and unit_id in self._digest_units):
            raise ValueError("outside the period, only the digest units' figures are known")
        totals: list[Any] | None = None
        row = (self._rolled if rolled else self._own).get(unit_id)
        if row is not None:
            for index in slices:
                cell = row[index]
                if cell is not None:
                    totals = (
                        cell
                        if totals is None
                        else [a + b for a, b in zip(totals, cell, strict=True)]
                    )
        found = self._figures[key] = NOTHING if totals is None else figures_from(totals)
        return found

    def _subtree(self, unit: TreeUnit | Unit) -> list[TreeUnit]:
        """The unit and everything under it (as far as the snapshot reaches)."""
        root = self.units.get(pk_of(unit))
        found: list[TreeUnit] = [] if root is None else [root]
        for current in found:  # grows as it goes: a breadth-first walk
            found.extend(self._children.get(current.id, []))
        return found

    def _is_group(self, unit: TreeUnit) -> bool:
        return unit.active and not any(c.active for c in self._children.get(unit.id, []))

    def figures(self, unit: Unit, ranges: Sequence[tuple[date, date]]) -> list[Figures]:
        return [self._sum(True, pk_of(unit), self._range(start, end)) for start, end in ranges]

    def children(self, unit: Unit, start: date, end: date) -> list[ChildRow]:
        slices = self._range(start, end)
        rows = []
        for child in self._children.get(pk_of(unit), []):
            figures = self._sum(True, child.id, slices)
            if child.active or not figures.is_zero():
                rows.append(
                    ChildRow(child.id, child.code, child.name, child.level, child.active, figures)
                )
        return rows

    def _parent_name(self, group: TreeUnit) -> str | None:
        parent = self.units.get(group.parent_id) if group.parent_id is not None else None
        return parent.name if parent is not None else None

    def top_groups(self, unit: Unit, start: date, end: date, limit: int = 3) -> list[GroupRow]:
        slices = self._range(start, end)
        ranked = []
        for group in self._subtree(unit):
            if not self._is_group(group) or group.id not in self._own:
                continue
            figures = self._sum(False, group.id, slices)
            if figures.records > 0:
                ranked.append((group, figures))
        ranked.sort(
            key=lambda item: (
                -item[1].records,
                -item[1].land_m2,
                -item[1].participants,
                -item[1].workdays,
                item[0].id,
            )
        )
        return [
            GroupRow(group.id, group.name, group.parent_id, self._parent_name(group), figures)
            for group, figures in ranked[:limit]
        ]

    def silent_groups(
        self, unit: Unit, start: date, end: date, *, nil_reports_count: bool
    ) -> list[GroupRef]:
        slices = self._range(start, end)
        silent = []
        for group in self._subtree(unit):
            if not self._is_group(group):
                continue
            figures = self._sum(False, group.id, slices)
            if figures.records or (nil_reports_count and figures.nil_reports):
                continue
            silent.append(group)
        silent.sort(key=lambda group: (group.parent_id is not None, group.parent_id, group.id))
        return [
            GroupRef(group.id, group.name, group.parent_id, self._parent_name(group))
            for group in silent
        ]

    def largest_pledges(
        self, unit: Unit, start: date, end: date, limit: int = 5
    ) -> list[PledgeRow]:
        """From the pledges of the detail range (which must cover `start`..`end`)."""
        path = unit.path
        found: list[PledgeRow] = []
        for pledge_path, pledge in self._pledges:
            if len(found) == limit:
                break
            if pledge_path.startswith(path) and start <= pledge.on_date <= end:
                found.append(pledge)
        return found

    def unreachable_members(self, unit: Unit) -> list[UnreachableMember]:
        under = unit.path
        return [member for path, member in self._unreachable if path.startswith(under)]

    def weekly_series(
        self, unit: Unit, last_week: date, end: date, weeks: int = 12
    ) -> list[WeekPoint]:
        points = []
        for start, stop in series_ranges(last_week, end, weeks):
            figures = self._sum(True, pk_of(unit), self._range(start, stop))
            points.append(WeekPoint(start, figures.records, figures.land_m2))
        return points

    def subtree_ids(self, unit_id: int) -> set[int]:
        return {u.id for u in self._subtree(self.units[unit_id])}


def _largest_first(pledge: PledgeRow) -> tuple[Decimal, date, int]:
    return (-pledge.area_m2, pledge.on_date, pledge.pledge_id)


def pk_of(unit: Unit | TreeUnit) -> int:
    if unit.id is None:
        raise ValueError("unit without id")
    return unit.id


def series_ranges(last_week: date, end: date, weeks: int = 12) -> list[tuple[date, date]]:
    """The chart's weeks as ranges, as weekly_series counts them (nothing after `end`)."""
    first = last_week - timedelta(weeks=weeks - 1)
    hi = min(end, last_week + timedelta(days=6))
    starts = [first + timedelta(weeks=index) for index in range(weeks)]
    return [(start, min(start + timedelta(days=6), hi)) for start in starts if start <= hi]


def common_path(paths: Sequence[str]) -> str:
    """The deepest path every one of `paths` lies under ("/" when they share no unit)."""
    parts = [path.strip("/").split("/") for path in paths]
    shared: list[str] = []
    for level in zip(*parts, strict=False):
        if len(set(level)) != 1:
            break
        shared.append(level[0])
    return "/" + "".join(f"{part}/" for part in shared)


async def snapshot(
    session: AsyncSession,
    path: str,
    ranges: Sequence[tuple[date, date]],
    detail: tuple[date, date],
    digest_units: Collection[int],
) -> Snapshot:
    """Everything the digests of `digest_units` (all under `path`) need for `ranges` (every
    range any of them will ask for) and the `detail` range (the period itself: its children,
    groups and largest pledges): four queries in all."""
    boundaries = _slices(ranges)
    start, end = detail
    units_query: Select[*tuple[Any, ...]] = Select(
        col(Unit.id),
        col(Unit.code),
        col(Unit.name),
        col(Unit.level),
        col(Unit.parent_id),
        col(Unit.path),
        col(Unit.active),
    ).where(col(Unit.path).startswith(path))
    # Through the connection: plain rows, without the ORM's loading of each one.
    connection = await session.connection()
    units = [TreeUnit(*row) for row in (await connection.execute(units_query)).all()]

    facts = _facts(path, boundaries[0], boundaries[-1] - timedelta(days=1))
    # Outside the detail range only the digest units' own figures are asked for, rolled up:
    # there a unit that is not one of them hands its facts to its parent, which lies in the
    # same digest units' subtrees. Most facts are groups': this folds them into far fewer rows.
    # The key and the slice of each fact are computed in a subquery: PostgreSQL would not match
    # a CASE with bound parameters in GROUP BY to the same CASE in the select list.
    keyed = (
        core_select(
            case(
                (facts.c.day.between(start, end), facts.c.unit_id),
                (facts.c.unit_id.in_(sorted(digest_units)), facts.c.unit_id),
                else_=Unit.parent_id,
            ).label("unit_id"),
            case(
                *[
                    (facts.c.day < day, literal_column(str(n - 1)))
                    for n, day in enumerate(boundaries)
                ][1:],
                else_=literal_column(str(len(boundaries) - 1)),
            ).label("slice"),
            *[facts.c[name] for name in FIGURES],
        )
        .join_from(facts, Unit, col(Unit.id) == facts.c.unit_id)
        .subquery("keyed")
    )
    sums_query: Select[*tuple[Any, ...]] = Select(
        keyed.c.unit_id, keyed.c.slice, *[func.sum(keyed.c[n]) for n in FIGURES]
    ).group_by(keyed.c.unit_id, keyed.c.slice)
    sums = []
    for unit_id, slice_index, *values in (await connection.execute(sums_query)).all():
        index = int(slice_index)
        if unit_id is not None and 0 <= index < len(boundaries) - 1:
            sums.append((int(unit_id), index, values))

    pledges = await _pledge_rows(
        session, _live_pledges(col(Unit.path).startswith(path), start, end)
    )

    unreachable = await _unreachable_under(session, path)
    return Snapshot(
        units,
        boundaries,
        sums,
        pledges,
        unreachable,
        path=path,
        detail=detail,
        digest_units=digest_units,
    )


# --- the period's records, for exports ------------------------------------------------------------


@dataclass(frozen=True)
class ActivityRecord:
    id: int
    on_date: date
    unit_id: int
    unit_name: str
    kind: str
    participants: int
    description: str | None
    reporter: str


@dataclass(frozen=True)
class LandRecord:
    id: int
    on_date: date
    unit_id: int
    unit_name: str
    donor: str
    area_m2: Decimal
    land_kind: str
    purpose: str
    purpose_note: str | None
    stage: str
    handed_over_on: date | None
    value_vnd: Decimal | None
    reporter: str


@dataclass(frozen=True)
class WorkdayRecord:
    id: int
    on_date: date
    unit_id: int
    unit_name: str
    work: str
    people: int
    days_each: Decimal
    total_days: Decimal
    reporter: str


PeriodRecord = ActivityRecord | LandRecord | WorkdayRecord
STREAM_BATCH = 500


async def period_records(
    session: AsyncSession, unit_id: int, start: date, end: date
) -> AsyncIterator[PeriodRecord]:
    """The live records of the unit's subtree in `start`..`end`, streamed: activities, then land
    pledges (logged in the period, or handed over in it), then workdays, each by date and id.
    Only the columns an export needs are read."""
    unit = await session.get(Unit, unit_id)
    if unit is None:
        raise LookupError(f"no unit {unit_id}")
    async for record in records_under(session, unit.path, start, end):
        yield record


async def records_under(
    session: AsyncSession, path: str, start: date, end: date
) -> AsyncIterator[PeriodRecord]:
    """period_records of the subtree under `path` (several digests' files read it once)."""
    activities: Select[*tuple[Any, ...]] = (
        Select(
            col(Activity.id),
            col(Activity.on_date),
            col(Activity.unit_id),
            col(Unit.name),
            col(Activity.kind),
            col(Activity.participants),
            col(Activity.description),
            col(Member.full_name),
        )
        .join(Unit, col(Unit.id) == col(Activity.unit_id))
        .join(Member, col(Member.id) == col(Activity.reporter_id))
        .where(
            col(Activity.deleted_at).is_(None),
            in_subtree(Activity.unit_id, path),
            col(Activity.on_date).between(start, end),
        )
        .order_by(col(Activity.on_date), col(Activity.id))
    )
    async for row in _stream(session, activities):
        yield ActivityRecord(*row)
    land: Select[*tuple[Any, ...]] = (
        Select(
            col(LandPledge.id),
            col(LandPledge.on_date),
            col(LandPledge.unit_id),
            col(Unit.name),
            col(LandPledge.donor),
            col(LandPledge.area_m2),
            col(LandPledge.land_kind),
            col(LandPledge.purpose),
            col(LandPledge.purpose_note),
            col(LandPledge.stage),
            col(LandPledge.handed_over_on),
            col(LandPledge.value_vnd),
            col(Member.full_name),
        )
        .join(Unit, col(Unit.id) == col(LandPledge.unit_id))
        .join(Member, col(Member.id) == col(LandPledge.reporter_id))
        .where(
            col(LandPledge.deleted_at).is_(None),
            in_subtree(LandPledge.unit_id, path),
            or_(
                col(LandPledge.on_date).between(start, end),
                col(LandPledge.handed_over_on).between(start, end),
            ),
        )
        .order_by(col(LandPledge.on_date), col(LandPledge.id))
    )
    async for row in _stream(session, land):
        yield LandRecord(*row)
    workdays: Select[*tuple[Any, ...]] = (
        Select(
            col(Workday.id),
            col(Workday.on_date),
            col(Workday.unit_id),
            col(Unit.name),
            col(Workday.work),
            col(Workday.people),
            col(Workday.days_each),
            col(Workday.total_days),
            col(Member.full_name),
        )
        .join(Unit, col(Unit.id) == col(Workday.unit_id))
        .join(Member, col(Member.id) == col(Workday.reporter_id))
        .where(
            col(Workday.deleted_at).is_(None),
            in_subtree(Workday.unit_id, path),
            col(Workday.on_date).between(start, end),
        )
        .order_by(col(Workday.on_date), col(Workday.id))
    )
    async for row in _stream(session, workdays):
        yield WorkdayRecord(*row)


async def _stream(session: AsyncSession, query: Any) -> AsyncIterator[tuple[Any, ...]]:
    """Rows in batches (a server-side cursor on PostgreSQL), closed even when left early;
    plain rows through the connection, without the ORM's handling of each."""
    connection = await session.connection()
    result = await connection.stream(query.execution_options(yield_per=STREAM_BATCH))
    try:
        # A batch at a time: iterating row by row awaits the driver for every row.
        async for partition in result.partitions():
            for row in partition:
                yield tuple(row)
    finally:
        await result.close()
