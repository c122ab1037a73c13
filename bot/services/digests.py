"""Digests built from the database: the figures of many units read in one aggregate query
(storage/digest.py), their charts and XLSX files, and the Sends of a scheduled batch. What a
digest says, and its rules, are in bot/domain/digest.py."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import replace
from datetime import date, datetime, tzinfo
from functools import partial
from typing import Literal

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.access import DIGEST_ROLES
from bot.domain.digest import (
    CHART_WEEKS,
    LARGEST_PLEDGES,
    LOCAL_TZ,
    TOP_GROUPS,
    Digest,
    DigestUnit,
    Totals,
    digest_lines,
    period_for,
    shown_donor,
)
from bot.domain.formatting import (
    MESSAGE_LIMIT,
    split_lines,
)
from bot.domain.i18n import Translator, translator
from bot.domain.outgoing import (
    Attachment,
    Drawn,
    LedgerState,
    OutMessage,
    Send,
    SendKind,
    Shared,
)
from bot.domain.periods import Period, week_start
from bot.domain.send_report import PastSend
from bot.services.charts import weekly_chart
from bot.services.workbook import build_xlsx, digest_workbook
from storage import digest as queries
from storage import ledger
from storage.engine import Database, begin_reading
from storage.models import Unit, pk
from storage.reminders import Recipient, area_members

PeriodKind = Literal["week", "month", "year"]


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
                    recipient_name=person.full_name,
                )
            )
    return sends


async def past_sends(db: Database, sends: Sequence[Send]) -> dict[int, PastSend]:
    """What the ledger has of these sends (one kind and period), by recipient."""
    if not sends:
        return {}
    kind, key = sends[0].kind.value, sends[0].period_key
    async with db.session() as session:
        await begin_reading(session, one_statement=True)
        rows = await ledger.rows_for(session, kind, [send.chat_id for send in sends], key)
    return {
        recipient: PastSend(LedgerState(row.state), row.done_at, row.due_at)
        for recipient, row in rows.items()
    }


def _subtree_workbook(
    digest: Digest, records: Shared[list[queries.PeriodRecord]], subtree: Collection[int]
) -> bytes:
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
    digest = await build_digest(session, unit_id, period, mask_donors=mask_donors)
    workbook = await build_xlsx(session, digest)
    return render_digest(t, digest, xlsx=workbook, tz=tz)
