"""The digest's attachments: the PNG chart and the XLSX workbook of the period's records."""

from __future__ import annotations

import asyncio
import io
import struct
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from bot.domain.access import Role
from bot.domain.digest import WeekPoint
from bot.domain.i18n import Translator
from bot.domain.outgoing import Attachment, Drawn, Shared
from bot.domain.periods import Period
from bot.domain.records import RecordKind
from bot.domain.unit_csv import parse_unit_csv
from bot.services.charts import weekly_chart
from bot.services.digests import build_digest, render_digest
from bot.services.workbook import build_xlsx
from storage import records, units
from storage.digest import period_records
from storage.engine import Database
from storage.models import Activity, Member, pk

VI = Translator("vi")
EN = Translator("en")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NOW = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
W48 = Period("week", date(2026, 11, 23), date(2026, 11, 29))
UNITS = """code,name,level,parent_code
X,xã Một,xã,
G1,Thôn 1,thôn,X
G2,Thôn 2,thôn,X
""".encode()


def png_size(data: bytes) -> tuple[int, int]:
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_weekly_chart_is_a_png() -> None:
    points = [
        WeekPoint(date(2026, 9, 7) + timedelta(weeks=n), n, Decimal(n * 125) + Decimal("0.5"))
        for n in range(12)
    ]
    data = weekly_chart(VI, points, title="Thôn $a^$ <b> & 100%: 12 tuần")  # no mathtext
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) > 10_000
    assert png_size(data) == (800, 450)


def test_a_chart_does_not_depend_on_the_charts_drawn_before_it() -> None:
    """Each thread keeps its figure between charts: what the last chart left in it (bars,
    scale, title, language) must not show in the next one."""
    weeks = [date(2026, 9, 7) + timedelta(weeks=n) for n in range(12)]
    small = [WeekPoint(day, n % 3, Decimal(n)) for n, day in enumerate(weeks)]
    large = [WeekPoint(day, 900 - n, Decimal(250_000 + n)) for n, day in enumerate(weeks)]
    title = "Xã Tân Dĩnh: 12 tuần qua"
    weekly_chart(VI, large, title="Phường Bắc Giang, một tên rất dài: 12 tuần qua")
    weekly_chart(EN, small, title=title)
    drawn_after_others = weekly_chart(VI, small, title=title)
    with ThreadPoolExecutor(1) as fresh_thread:  # a thread that has drawn nothing yet
        drawn_first = fresh_thread.submit(weekly_chart, VI, small, title=title).result()
    assert drawn_after_others == drawn_first
    assert weekly_chart(VI, large, title=title) != drawn_first


def test_a_drawn_attachment_is_drawn_once_when_first_needed() -> None:
    calls: list[int] = []

    def draw() -> bytes:
        calls.append(1)
        return PNG_SIGNATURE

    attachment = Attachment("chart.png", Drawn(draw), as_photo=True)
    assert calls == []  # building the digest draws nothing
    assert attachment.data() == attachment.data() == PNG_SIGNATURE
    assert calls == [1]


async def test_files_of_a_batch_share_one_read_made_when_the_first_is_drawn() -> None:
    """The XLSX files of a digest batch need the period's records: read once, as the first
    file goes out; those asking meanwhile wait for that read; a failed read is tried again."""
    reads: list[int] = []

    async def read() -> list[str]:
        reads.append(1)
        await asyncio.sleep(0.01)
        if len(reads) == 1:
            raise ConnectionError("database down")
        return ["record"]

    records = Shared(read)
    files = [
        Attachment(f"{n}.xlsx", Drawn(lambda: str(records.value).encode(), prepare=records.load))
        for n in range(3)
    ]
    assert reads == []  # building the digests reads nothing
    with pytest.raises(ConnectionError):
        await files[0].prepare()
    await asyncio.gather(*(file.prepare() for file in files))
    assert reads == [1, 1]  # the failed read, then one for all three
    assert [file.data() for file in files] == [b"['record']"] * 3


def test_an_empty_chart_still_draws() -> None:
    points = [WeekPoint(date(2026, 9, 7), 0, Decimal(0))] * 12
    assert weekly_chart(VI, points, title="—").startswith(PNG_SIGNATURE)


async def seed(db: Database) -> dict[str, int]:
    rows, errors = parse_unit_csv(UNITS)
    assert errors == []
    ids: dict[str, int] = {}
    async with db.session() as session:
        await units.apply_import(session, await units.plan_import(session, rows), actor_label="t")
        people = {}
        for number, code in enumerate(["G1", "G2"]):
            unit = await units.by_code(session, code)
            assert unit is not None
            ids[code] = pk(unit)
            member = Member(
                telegram_id=900 + number,
                full_name=f"Điều phối {code}",
                role=Role.COORDINATOR,
                unit_id=pk(unit),
            )
            session.add(member)
            await session.flush()
            people[code] = member
        x = await units.by_code(session, "X")
        assert x is not None
        ids["X"] = pk(x)
        ids["H1"] = await records.save(
            session,
            RecordKind.ACTIVITY,
            people["G1"],
            {
                "on_date": "2026-11-24",
                "kind": "hop_dan",
                "participants": 35,
                "description": '=HYPERLINK("http://x")\x0b',
            },
            NOW,
        )
        ids["H-old"] = await records.save(
            session,
            RecordKind.ACTIVITY,
            people["G1"],
            {"on_date": "2026-11-10", "kind": "hop_dan", "participants": 5},
            NOW,
        )
        ids["H-deleted"] = await records.save(
            session,
            RecordKind.ACTIVITY,
            people["G2"],
            {"on_date": "2026-11-25", "kind": "ve_sinh", "participants": 9},
            NOW,
        )
        deleted = await session.get(Activity, ids["H-deleted"])
        assert deleted is not None
        deleted.deleted_at = NOW
        land = {"land_kind": "nong_nghiep", "purpose": "duong"}
        ids["L1"] = await records.save(
            session,
            RecordKind.LAND,
            people["G2"],
            {
                **land,
                "on_date": "2026-11-26",
                "stage": "cam_ket",
                "donor": "Hộ ông Nguyễn Văn An",
                "area_m2": "720",
                "value_vnd": "15000000",
            },
            NOW,
        )
        ids["L2"] = await records.save(
            session,
            RecordKind.LAND,
            people["G1"],
            {
                **land,
                "on_date": "2026-11-27",
                "stage": "ban_giao",
                "donor": "Hộ bà Trần Thị Bình",
                "area_m2": "250.5",
            },
            NOW,
        )
        ids["N1"] = await records.save(
            session,
            RecordKind.WORKDAY,
            people["G2"],
            {
                "on_date": "2026-11-28",
                "work": "Bê tông hóa đường",
                "people": 12,
                "days_each": "0.5",
            },
            NOW,
        )
    return ids


def sheet_rows(sheet: object) -> list[tuple[object, ...]]:
    return list(sheet.iter_rows(values_only=True))  # type: ignore[attr-defined]


async def test_period_records_streams_the_live_records_of_the_period(db: Database) -> None:
    ids = await seed(db)
    async with db.session() as session:
        found = [
            (type(r).__name__, r.id)
            async for r in period_records(session, ids["X"], W48.start, W48.end)
        ]
    assert found == [
        ("ActivityRecord", ids["H1"]),
        ("LandRecord", ids["L1"]),
        ("LandRecord", ids["L2"]),
        ("WorkdayRecord", ids["N1"]),
    ]


async def test_workbook_has_the_period_records_with_real_dates_and_numbers(db: Database) -> None:
    ids = await seed(db)
    async with db.session() as session:
        digest = await build_digest(session, ids["X"], W48, mask_donors=True)
        data = await build_xlsx(session, digest)
    book = load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["Hoạt động", "Hiến đất", "Ngày công", "Tổng hợp"]

    activities = sheet_rows(book["Hoạt động"])
    assert activities[0] == (
        "Mã",
        "Ngày",
        "Đơn vị",
        "Loại hoạt động",
        "Số người tham gia",
        "Mô tả",
        "Người báo cáo",
    )
    assert len(activities) == 2  # the one of 10/11 and the deleted one are left out
    code, day, unit, kind, participants, description, reporter = activities[1]
    assert (code, unit, participants, description, reporter) == (
        f"#H-{ids['H1']}",
        "Thôn 1",
        35,
        '=HYPERLINK("http://x")',  # text, not a formula; the control character is dropped
        "Điều phối G1",
    )
    assert book["Hoạt động"]["F2"].data_type == "s"
    assert isinstance(day, datetime) and day.date() == date(2026, 11, 24)
    assert kind == VI._("Residents' meeting") == "Họp dân"

    land = sheet_rows(book["Hiến đất"])
    assert land[0][:5] == ("Mã", "Ngày", "Đơn vị", "Hộ hiến đất", "Diện tích (m²)")
    assert land[0][8:10] == ("Ngày bàn giao", "Giá trị (đồng)")
    first, second = land[1], land[2]
    assert first[0] == f"#L-{ids['L1']}" and first[3] == "Hộ ông N.V.A."  # masked as in the digest
    assert first[4] == 720 and isinstance(first[4], int | float)
    assert first[9] == 15_000_000 and first[8] is None
    assert second[3] == "Hộ bà T.T.B." and second[4] == 250.5
    assert isinstance(second[8], datetime) and second[8].date() == date(2026, 11, 27)
    assert isinstance(second[1], datetime) and second[1].date() == date(2026, 11, 27)

    workdays = sheet_rows(book["Ngày công"])
    assert workdays[0][4:7] == ("Số người", "Số ngày mỗi người", "Tổng ngày công")
    assert workdays[1][3:7] == ("Bê tông hóa đường", 12, 0.5, 6)

    summary = sheet_rows(book["Tổng hợp"])
    by_label = {row[0]: row[1:5] for row in summary if row[0]}
    assert by_label["Đơn vị"][0] == "xã Một"
    assert isinstance(by_label["Từ ngày"][0], datetime)
    assert by_label["Chỉ tiêu"] == ("Kỳ này", "Kỳ trước", "Thay đổi", "Lũy kế năm")
    assert by_label["Số hoạt động"] == (1, 0, 1, 2)
    assert by_label["Lượt người tham gia"] == (35, 0, 35, 40)
    assert by_label["Đất cam kết hiến (m²)"] == (970.5, 0, 970.5, 970.5)
    assert by_label["Đất đã bàn giao (m²)"] == (250.5, 0, 250.5, 250.5)
    assert by_label["Ngày công"] == (6, 0, 6, 6)
    assert by_label["Thôn 1"] == (1, 35, 250.5, 250.5)
    assert by_label["Thôn 2"] == (0, 0, 720, 0)


async def test_the_last_message_carries_the_chart_and_the_workbook(db: Database) -> None:
    ids = await seed(db)
    async with db.session() as session:
        digest = await build_digest(session, ids["X"], W48, mask_donors=True)
        data = await build_xlsx(session, digest)
    messages = render_digest(VI, digest, xlsx=data)
    chart, workbook = messages[-1].attachments
    assert (chart.filename, chart.as_photo) == ("danvan-X-2026-W48.png", True)
    assert chart.data().startswith(PNG_SIGNATURE)
    assert (workbook.filename, workbook.as_photo, workbook.content) == (
        "danvan-X-2026-W48.xlsx",
        False,
        data,
    )
