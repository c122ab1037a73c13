"""2. Digests: every official's weekly digest, each over their own subtree, against the floor.

The floor is the one SQL GROUP BY any digest batch needs at least: every live fact the figures
come from (from 1 January, or twelve weeks back for the chart, to the end of the week), summed
per unit. Everything else (subtree totals, children, groups) can be derived from it.

Two figures per backend, each the median of a few runs:
- "data": the Digest of every official's unit (bot.digest.build_digests, what digest_sends
  builds from), against the floor: target at most 3× the floor;
- "batch": what the scheduler does for the weekly digest before the first one goes out
  (bot.digest.digest_sends: the digests and their texts rendered per language): target under
  5 s on SQLite.

The charts (one PNG per unit and language) and the XLSX files (one per unit) are made as each
digest is sent (bot.outbox.Drawn), while delivery waits on Telegram's 30 messages a second
anyway; the period's records the XLSX files list are read then too, once for all of them.
"charts" and "xlsx" (that read included) are the time making all of them takes, one after
another, reported
beside the batch, and "with_files" the three together: a batch of 200 officials is about 800
messages, at least 27 s of sending. bench/test_delivery.py sends real digests, their files made
on the way, and holds its rate.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from sqlalchemy import Date, bindparam, text

from bench.conftest import REPEAT, median
from bench.results import report
from bench.seed import TZ, Dataset
from bot.domain.formatting import _format_number
from bot.domain.outgoing import Attachment, Drawn, Send, SendKind
from bot.domain.periods import Period
from bot.services.digests import build_digests, digest_sends
from storage.engine import Database

FLOOR_SQL = """
SELECT unit_id, count(*) AS facts, sum(records), sum(activities), sum(participants),
       sum(land_m2), sum(handed_over_m2), sum(workdays), sum(nil_reports)
FROM (
    SELECT unit_id, 1 AS records, 1 AS activities, participants, 0 AS land_m2,
           0 AS handed_over_m2, 0 AS workdays, 0 AS nil_reports
    FROM activity WHERE deleted_at IS NULL AND on_date BETWEEN :lo AND :hi
    UNION ALL
    SELECT unit_id, 1, 0, 0, CASE WHEN stage <> 'huy' THEN area_m2 ELSE 0 END, 0, 0, 0
    FROM land_pledge WHERE deleted_at IS NULL AND on_date BETWEEN :lo AND :hi
    UNION ALL
    SELECT unit_id, 0, 0, 0, 0, area_m2, 0, 0
    FROM land_pledge
    WHERE deleted_at IS NULL AND stage <> 'huy' AND handed_over_on BETWEEN :lo AND :hi
    UNION ALL
    SELECT unit_id, 1, 0, 0, 0, 0, total_days, 0
    FROM workday WHERE deleted_at IS NULL AND on_date BETWEEN :lo AND :hi
    UNION ALL
    SELECT unit_id, 0, 0, 0, 0, 0, 0, 1
    FROM nil_report WHERE deleted_at IS NULL AND week_start BETWEEN :lo AND :hi
) AS facts
GROUP BY unit_id
"""


def the_week(data: Dataset) -> Period:
    """Last week, as a digest sent the day after the seeded records end sees it."""
    return Period.last_week(data.end + timedelta(days=1))


async def floor_seconds(db: Database, period: Period) -> float:
    lo = min(period.ytd_start, period.start - timedelta(weeks=11))
    query = text(FLOOR_SQL).bindparams(bindparam("lo", type_=Date), bindparam("hi", type_=Date))
    async with db.session() as session:
        started = time.perf_counter()
        result = await session.exec(query, params={"lo": lo, "hi": period.end})  # type: ignore[call-overload]
        rows = result.all()
        seconds = time.perf_counter() - started
    assert rows
    return seconds


def official_units(data: Dataset) -> list[int]:
    return sorted({person.unit_id for person in data.officials})


async def test_weekly_digests_of_every_official(dataset: Dataset) -> None:
    db = Database(dataset.url)
    period = the_week(dataset)
    units = official_units(dataset)
    due = datetime.combine(dataset.end + timedelta(days=1), datetime.min.time(), TZ)
    floors, builds, batches, charts, workbooks = [], [], [], [], []
    drawn = written = 0
    sends: list[Send] = []
    try:
        for _ in range(REPEAT):
            floors.append(await floor_seconds(db, period))
            started = time.perf_counter()
            digests = await build_digests(db, units, period, mask_donors=True)
            builds.append(time.perf_counter() - started)
            assert len(digests) == len(units)
            _format_number.cache_clear()  # each round as the first batch of a new process
            started = time.perf_counter()
            sends = list(await digest_sends(db, SendKind.WEEKLY_DIGEST, units, period.key, due, TZ))
            batches.append(time.perf_counter() - started)
            started = time.perf_counter()
            drawn = await make_all(made_on_the_way(sends, photos=True), b"\x89PNG")
            charts.append(time.perf_counter() - started)
            started = time.perf_counter()
            written = await make_all(made_on_the_way(sends, photos=False), b"PK")
            workbooks.append(time.perf_counter() - started)
    finally:
        await db.dispose()
    assert len(sends) == len(dataset.officials)
    backend = dataset.backend
    floor, build, batch = median(floors), median(builds), median(batches)
    print(
        f"\n[bench] {backend}: {len(units)} units, {len(sends)} officials, {drawn} charts, "
        f"{written} XLSX files; floor {floors}, data {builds}, batch {batches}, "
        f"charts {charts}, XLSX {workbooks}"
    )
    report(f"digests.{backend}.floor", floor, "s", "(the floor)", True)
    report(f"digests.{backend}.data", build, "s", "<= 3x floor", build <= 3 * floor)
    report(f"digests.{backend}.data_vs_floor", build / floor, "x", "<= 3", build <= 3 * floor)
    target = 5.0
    report(f"digests.{backend}.batch", batch, "s", f"< {target:g} s", batch < target)
    report(f"digests.{backend}.batch_vs_floor", batch / floor, "x", "<= 3", batch <= 3 * floor)
    report(f"digests.{backend}.charts", median(charts), "s", "info: drawn while sending", True)
    report(f"digests.{backend}.chart_each", median(charts) / drawn * 1000, "ms", "info", True)
    report(f"digests.{backend}.xlsx", median(workbooks), "s", "info: written while sending", True)
    report(
        f"digests.{backend}.with_files",
        batch + median(charts) + median(workbooks),
        "s",
        "info: batch, charts and XLSX one after another",
        True,
    )


def made_on_the_way(sends: list[Send], *, photos: bool) -> list[Attachment]:
    """The batch's files made as they are sent (Drawn), each once: its charts (photos) or its
    XLSX files."""
    files = {
        id(attachment.content): attachment
        for send in sends
        for message in send.messages
        for attachment in message.attachments
        if isinstance(attachment.content, Drawn) and attachment.as_photo == photos
    }
    return list(files.values())


async def make_all(files: list[Attachment], signature: bytes) -> int:
    """Make every file once, one after another, as delivery would (reading what they need
    first); returns how many."""
    for attachment in files:
        await attachment.prepare()
        assert attachment.data().startswith(signature)
    return len(files)
