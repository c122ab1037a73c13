"""Exports without Telegram: the typed range of dates, the XLSX and CSV files, `danvan export`."""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import os
import tempfile
import tracemalloc
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook

import bot.services.exports
from bot.cli.common import CliError
from bot.cli.export import register
from bot.domain.access import Role
from bot.domain.i18n import Translator
from bot.domain.periods import (
    PeriodChoice,
    RangeError,
    RangeProblem,
    describe_range_error,
    parse_cli_date,
    parse_range,
    period_range,
)
from bot.domain.records import RecordKind
from bot.domain.unit_csv import parse_unit_csv
from bot.services.exports import CSV_FILES, ExportFormat, csv_cell, export_filename, write_export
from bot.services.workbook import ACTIVITY_COLUMNS, WORKDAY_COLUMNS, RecordsWorkbook
from bot.settings import Settings
from storage import records, units
from storage.digest import ActivityRecord, LandRecord
from storage.engine import Database
from storage.migrate import upgrade
from storage.models import Activity, Member, pk

EN = Translator("en")
TODAY = date(2026, 11, 25)  # a Wednesday
NOW = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)
UNITS = """code,name,level,parent_code
X,xã Một,xã,
G1,Thôn 1,thôn,X
G2,Thôn 2,thôn,X
Y,xã Hai,xã,
Y1,Thôn Hai Một,thôn,Y
""".encode()
SHEETS = ["Hoạt động", "Hiến đất", "Ngày công", "Tổng hợp"]
ACTIVITY_HEADERS = tuple(label for label, _, _ in ACTIVITY_COLUMNS)
WORKDAY_HEADERS = tuple(label for label, _, _ in WORKDAY_COLUMNS)


# --- the range of dates ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "01/11/2026 - 25/11/2026",
        "1/11/2026 – 25/11/2026",
        "từ 01/11/2026 đến 25/11/2026",
        "tu 01/11/2026 den 25/11/2026",
        "2026-11-01 to 2026-11-25",
        "01/11/2026-25/11/2026",
        "01-11-2026 - 25-11-2026",
        "01/11/2026 25/11/2026",
        "01/11/2026\n25/11/2026",
    ],
)
def test_a_typed_range_reads_in_many_ways(text: str) -> None:
    assert parse_range(text, TODAY) == (date(2026, 11, 1), date(2026, 11, 25))


def test_the_last_day_may_be_in_the_future() -> None:
    assert parse_range("01/11/2026 - 31/12/2026", TODAY) == (date(2026, 11, 1), date(2026, 12, 31))


@pytest.mark.parametrize(
    ("text", "problem", "wording"),
    [
        ("", RangeProblem.NOT_TWO_DATES, "Please type two dates"),
        ("hello", RangeProblem.NOT_TWO_DATES, "Please type two dates"),
        ("01/11/2026", RangeProblem.NOT_TWO_DATES, "Please type two dates"),
        ("1/11/2026 - 2/11/2026 - 3/11/2026", RangeProblem.NOT_TWO_DATES, "two dates"),
        ("32/11/2026 - 25/11/2026", RangeProblem.BAD_START, "The first day: There is no such"),
        ("01/11/2026 - 31/02/2027", RangeProblem.BAD_END, "The last day: There is no such"),
        ("01/12/2026 - 31/12/2026", RangeProblem.BAD_START, "01/12/2026 is in the future"),
        ("01/11/2026 - abc", RangeProblem.BAD_END, "The last day: I could not read"),
        ("25/11/2026 - 01/11/2026", RangeProblem.START_AFTER_END, "(25/11/2026) is after"),
        ("1" * 500, RangeProblem.NOT_TWO_DATES, "two dates"),
    ],
)
def test_a_bad_range_says_why(text: str, problem: RangeProblem, wording: str) -> None:
    with pytest.raises(RangeError) as caught:
        parse_range(text, TODAY)
    assert caught.value.problem is problem
    assert wording in describe_range_error(EN, caught.value)


@pytest.mark.parametrize(
    ("choice", "start", "end"),
    [
        (PeriodChoice.THIS_WEEK, date(2026, 11, 23), TODAY),
        (PeriodChoice.LAST_WEEK, date(2026, 11, 16), date(2026, 11, 22)),
        (PeriodChoice.THIS_MONTH, date(2026, 11, 1), TODAY),
        (PeriodChoice.LAST_MONTH, date(2026, 10, 1), date(2026, 10, 31)),
        (PeriodChoice.THIS_YEAR, date(2026, 1, 1), TODAY),
    ],
)
def test_the_period_buttons(choice: PeriodChoice, start: date, end: date) -> None:
    assert period_range(choice, TODAY) == (start, end)


def test_command_line_dates_and_file_names() -> None:
    assert parse_cli_date("25/11/2026") == parse_cli_date("2026-11-25") == TODAY
    with pytest.raises(ValueError):
        parse_cli_date("25.11.26")
    assert export_filename("X", date(2026, 11, 1), TODAY, ExportFormat.XLSX) == (
        "danvan-X-20261101-20261125.xlsx"
    )
    assert export_filename("X", date(2026, 11, 1), TODAY, ExportFormat.CSV).endswith(".zip")


def test_csv_cells() -> None:
    assert csv_cell(None) == ""
    assert csv_cell(TODAY) == "2026-11-25"
    assert csv_cell(Decimal("1250.50")) == "1250.50"
    assert csv_cell(Decimal("15000000")) == "15000000"
    assert csv_cell(35) == "35"
    assert csv_cell("Họp dân") == "Họp dân"
    assert csv_cell('=HYPERLINK("x")') == '\'=HYPERLINK("x")'
    assert csv_cell("-5") == "'-5" and csv_cell("@a") == "'@a" and csv_cell("+1") == "'+1"


# --- the files ------------------------------------------------------------------------------------


async def seed(db: Database) -> dict[str, int]:
    """xã Một (X) with Thôn 1 and 2, and xã Hai (Y) whose records must never show up in X's."""
    rows, errors = parse_unit_csv(UNITS)
    assert errors == []
    ids: dict[str, int] = {}
    async with db.session() as session:
        await units.apply_import(session, await units.plan_import(session, rows), actor_label="t")
        people = {}
        for number, code in enumerate(["G1", "G2", "Y1"]):
            unit = await units.by_code(session, code)
            assert unit is not None
            member = Member(
                telegram_id=900 + number,
                full_name=f"Điều phối {code}",
                role=Role.COORDINATOR,
                unit_id=pk(unit),
            )
            session.add(member)
            await session.flush()
            people[code] = member
        for code in ("X", "Y"):
            unit = await units.by_code(session, code)
            assert unit is not None
            ids[code] = pk(unit)
        ids["H1"] = await records.save(
            session,
            RecordKind.ACTIVITY,
            people["G1"],
            {
                "on_date": "2026-11-24",
                "kind": "hop_dan",
                "participants": 35,
                "description": "=1+1, Thọ Xương",
            },
            NOW,
        )
        ids["H-old"] = await records.save(
            session,
            RecordKind.ACTIVITY,
            people["G1"],
            {"on_date": "2026-10-10", "kind": "hop_dan", "participants": 5},
            NOW,
        )
        ids["H-deleted"] = await records.save(
            session,
            RecordKind.ACTIVITY,
            people["G2"],
            {"on_date": "2026-11-20", "kind": "ve_sinh", "participants": 9},
            NOW,
        )
        deleted = await session.get(Activity, ids["H-deleted"])
        assert deleted is not None
        deleted.deleted_at = NOW
        ids["H-Y"] = await records.save(
            session,
            RecordKind.ACTIVITY,
            people["Y1"],
            {"on_date": "2026-11-24", "kind": "hop_dan", "participants": 7},
            NOW,
        )
        ids["L1"] = await records.save(
            session,
            RecordKind.LAND,
            people["G2"],
            {
                "land_kind": "nong_nghiep",
                "purpose": "duong",
                "on_date": "2026-11-12",
                "stage": "cam_ket",
                "donor": "Hộ ông Nguyễn Văn An",
                "area_m2": "720",
                "value_vnd": "15000000",
            },
            NOW,
        )
        ids["N1"] = await records.save(
            session,
            RecordKind.WORKDAY,
            people["G2"],
            {
                "on_date": "2026-11-03",
                "work": "Bê tông hóa đường",
                "people": 12,
                "days_each": "0.5",
            },
            NOW,
        )
    return ids


async def export(db: Database, code: str, fmt: ExportFormat) -> tuple[bytes, object]:
    async with db.session() as session:
        unit = await units.by_code(session, code)
        assert unit is not None
        buffer = io.BytesIO()
        counts = await write_export(
            session, unit, date(2026, 11, 1), date(2026, 11, 30), fmt, buffer, today=TODAY
        )
    return buffer.getvalue(), counts


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The system's temporary directory, for this test alone: where XlsxWriter's files go."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def rows_of(sheet: object) -> list[tuple[object, ...]]:
    return list(sheet.iter_rows(values_only=True))  # type: ignore[attr-defined]


async def test_the_xlsx_export_has_typed_cells_and_only_the_unit_s_records(db: Database) -> None:
    ids = await seed(db)
    data, counts = await export(db, "X", ExportFormat.XLSX)
    assert (counts.activities, counts.land, counts.workdays) == (1, 1, 1)  # type: ignore[attr-defined]
    book = load_workbook(io.BytesIO(data))
    assert book.sheetnames == SHEETS
    activities = rows_of(book["Hoạt động"])
    assert activities[0][:5] == ("Mã", "Ngày", "Đơn vị", "Loại hoạt động", "Số người tham gia")
    assert len(activities) == 2  # not October's, not the deleted one, not xã Hai's
    code, day, unit, kind, participants, description, reporter = activities[1]
    assert (code, unit, kind, participants, reporter) == (
        f"#H-{ids['H1']}",
        "Thôn 1",
        "Họp dân",
        35,
        "Điều phối G1",
    )
    assert isinstance(day, datetime) and day.date() == date(2026, 11, 24)
    assert description == "=1+1, Thọ Xương" and book["Hoạt động"]["F2"].data_type == "s"
    land = rows_of(book["Hiến đất"])
    assert land[1][3] == "Hộ ông Nguyễn Văn An"  # in full, unlike the digest
    assert land[1][4] == 720 and land[1][9] == 15_000_000
    workdays = rows_of(book["Ngày công"])
    assert workdays[1][3:7] == ("Bê tông hóa đường", 12, 0.5, 6)
    summary = {row[0]: row[1:] for row in rows_of(book["Tổng hợp"]) if row[0]}
    assert summary["Đơn vị"][0] == "xã Một" and summary["Mã đơn vị"][0] == "X"
    assert summary["Từ ngày"][0] == datetime(2026, 11, 1)
    assert summary["Đến ngày"][0] == datetime(2026, 11, 30)
    assert summary["Số hoạt động"][0] == 1
    assert summary["Lượt người tham gia"][0] == 35
    assert summary["Đất cam kết hiến (m²)"][0] == 720
    assert summary["Ngày công"][0] == 6
    assert summary["Thôn 1"][:2] == (1, 35)
    assert summary["Thôn 2"][2] == 720


async def test_the_csv_export_is_a_zip_of_one_utf8_file_per_sheet(db: Database) -> None:
    ids = await seed(db)
    data, _ = await export(db, "X", ExportFormat.CSV)
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.namelist() == [CSV_FILES[title] for title in SHEETS]
    for name in archive.namelist():
        assert archive.read(name).startswith(b"\xef\xbb\xbf")  # the BOM Excel looks for

    def table(name: str) -> list[list[str]]:
        return list(csv.reader(io.StringIO(archive.read(name).decode("utf-8-sig"))))

    activities = table("hoat-dong.csv")
    assert activities[0][:3] == ["Mã", "Ngày", "Đơn vị"]
    assert activities[1] == [
        f"#H-{ids['H1']}",
        "2026-11-24",
        "Thôn 1",
        "Họp dân",
        "35",
        "'=1+1, Thọ Xương",
        "Điều phối G1",
    ]
    land = table("hien-dat.csv")
    assert land[1][3:5] == ["Hộ ông Nguyễn Văn An", "720.00"] and land[1][9] == "15000000"
    assert land[1][8] == ""  # not handed over
    assert table("ngay-cong.csv")[1][4:7] == ["12", "0.50", "6.00"]
    summary = {row[0]: row[1:] for row in table("tong-hop.csv") if row}
    assert summary["Đơn vị"] == ["xã Một"] and summary["Từ ngày"] == ["2026-11-01"]
    assert summary["Số hoạt động"] == ["1"] and summary["Ngày công"] == ["6.00"]


async def test_an_empty_export_still_has_every_sheet(db: Database) -> None:
    await seed(db)
    async with db.session() as session:
        unit = await units.by_code(session, "G1")
        assert unit is not None
        buffer = io.BytesIO()
        counts = await write_export(
            session,
            unit,
            date(2025, 1, 1),
            date(2025, 1, 31),
            ExportFormat.CSV,
            buffer,
            today=TODAY,
        )
    assert counts.records == 0
    archive = zipfile.ZipFile(buffer)
    assert len(archive.namelist()) == 4
    assert archive.read("hien-dat.csv").decode("utf-8-sig").startswith("Mã,Ngày,Đơn vị,Hộ hiến đất")


@pytest.mark.parametrize("fmt", list(ExportFormat))
async def test_a_failing_export_closes_its_file(
    db: Database, fmt: ExportFormat, monkeypatch: pytest.MonkeyPatch, scratch: Path
) -> None:
    await seed(db)

    async def broken(*_args: object) -> AsyncIterator[ActivityRecord]:
        yield ActivityRecord(1, TODAY, 1, "Thôn 1", "hop_dan", 3, None, "Lan")
        raise OSError("disk gone")

    monkeypatch.setattr(bot.services.exports, "period_records", broken)
    buffer = io.BytesIO()
    async with db.session() as session:
        unit = await units.by_code(session, "X")
        assert unit is not None
        with pytest.raises(OSError, match="disk gone"):
            await write_export(session, unit, date(2026, 11, 1), TODAY, fmt, buffer, today=TODAY)
    assert zipfile.ZipFile(buffer).testzip() is None  # closed: a readable, if partial, zip
    assert os.listdir(scratch) == []  # no temporary file left behind


# --- danvan export --------------------------------------------------------------------------------


@pytest.fixture
def export_cli(database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """`danvan export ARGS` in-process, through register() on a parser of its own; returns
    (status, stdout)."""

    async def prepare() -> None:
        await upgrade(database_url)
        db = Database(database_url)
        try:
            await seed(db)
        finally:
            await db.dispose()

    asyncio.run(prepare())
    settings = Settings(database_url=database_url, _env_file=None)
    parser = argparse.ArgumentParser(prog="danvan")
    register(parser.add_subparsers(dest="command", required=True))

    def run(*args: str) -> tuple[int, str]:
        parsed = parser.parse_args(["export", *args])
        status: int = parsed.handler(settings, EN, parsed)
        return status, capsys.readouterr().out

    return run


def test_the_cli_exports_xlsx_and_prints_json(export_cli, tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / "nov.xlsx"
    status, printed = export_cli(
        "--from", "01/11/2026", "--to", "2026-11-30", "--unit", "x", "--out", str(out), "--json"
    )
    assert status == 0
    assert json.loads(printed) == {
        "path": str(out),
        "format": "xlsx",
        "unit": "X",
        "from": "2026-11-01",
        "to": "2026-11-30",
        "records": 3,
        "sheets": {"Hoạt động": 1, "Hiến đất": 1, "Ngày công": 1, "Tổng hợp": 17},
    }
    book = load_workbook(out)
    assert book.sheetnames == SHEETS
    assert [path.name for path in folder.iterdir()] == ["nov.xlsx"]  # no .part left


def test_the_cli_exports_csv_by_the_file_name(export_cli, tmp_path: Path) -> None:
    out = tmp_path / "nov.zip"
    status, printed = export_cli(
        "--from", "01/11/2026", "--to", "30/11/2026", "--unit", "Y", "--out", str(out)
    )
    assert status == 0
    assert "Exported xã Hai, 01/11/2026 – 30/11/2026, to" in printed
    assert "Records: 1 (activities: 1, land pledges: 0, workday entries: 0)." in printed
    with zipfile.ZipFile(out) as archive:
        rows = list(csv.reader(io.StringIO(archive.read("hoat-dong.csv").decode("utf-8-sig"))))
    assert [row[2] for row in rows[1:]] == ["Thôn Hai Một"]


def test_the_cli_refuses_bad_requests(export_cli, tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    out = str(folder / "x.xlsx")
    with pytest.raises(CliError, match="is after --to"):
        export_cli("--from", "30/11/2026", "--to", "01/11/2026", "--unit", "X", "--out", out)
    with pytest.raises(CliError, match="no unit with code NOWHERE"):
        export_cli("--from", "01/11/2026", "--to", "30/11/2026", "--unit", "NOWHERE", "--out", out)
    with pytest.raises(CliError, match="several top-level units"):
        export_cli("--from", "01/11/2026", "--to", "30/11/2026", "--out", out)
    with pytest.raises(CliError, match=r"name the --out file \.zip"):
        export_cli(
            "--from", "01/11/2026", "--to", "30/11/2026", "--format", "csv", "--out", "a.csv"
        )
    with pytest.raises(CliError, match="Cannot write"):
        export_cli(
            "--from", "01/11/2026", "--to", "30/11/2026", "--out", str(folder / "no" / "x.xlsx")
        )
    with pytest.raises(SystemExit):
        export_cli("--from", "31/02/2026", "--to", "30/11/2026", "--out", out)
    assert list(folder.iterdir()) == []


# --- the XLSX writer ------------------------------------------------------------------------------


def activity(number: int, description: str | None = None) -> ActivityRecord:
    return ActivityRecord(
        number, date(2026, 11, 24), 1, "Thôn 1", "hop_dan", 35, description, "Lan"
    )


def test_the_workbook_opens_with_typed_cells_and_bold_frozen_headers(tmp_path: Path) -> None:
    path = tmp_path / "w.xlsx"
    workbook = RecordsWorkbook(path)
    workbook.add(activity(7, "  =SUM(A1) <&>\x00\x0b\ufffe "))
    workbook.add(activity(8, "<r><t>bị chèn</t></r>"))  # shaped like XlsxWriter's rich text
    workbook.add(activity(9, "x" * 40_000))
    workbook.add(
        LandRecord(
            3,
            date(2026, 11, 12),
            1,
            "Thôn 1",
            "Hộ ông An",
            Decimal("250.50"),
            "nong_nghiep",
            "duong",
            "nối thôn",
            "ban_giao",
            date(2026, 11, 27),
            Decimal("15000000"),
            "Lan",
        )
    )
    lines = workbook.write_summary(
        [
            (True, ("Đơn vị", "xã Một")),
            (False, ("Từ ngày", date(2026, 11, 1))),
            (False, ()),
            (True, ("Chỉ tiêu", "Giá trị")),
            (False, ("Số hoạt động", 3)),
            (False, ("Ngày công", Decimal("6.5"))),
            (False, ("Xong", True)),
        ]
    )
    workbook.close()
    assert lines == 7 and workbook.counts == {"Hoạt động": 3, "Hiến đất": 1, "Ngày công": 0}

    book = load_workbook(path)
    assert book.sheetnames == SHEETS
    assert book.active.title == "Tổng hợp"
    activities = book["Hoạt động"]
    for sheet in book:
        assert sheet.freeze_panes == "A2"
        assert sheet["A1"].font.b
    assert 48 <= activities.column_dimensions["F"].width < 49  # "Mô tả"
    rows = rows_of(activities)
    assert rows[0] == ACTIVITY_HEADERS
    assert rows[1] == (
        "#H-7",
        datetime(2026, 11, 24),
        "Thôn 1",
        "Họp dân",
        35,
        "  =SUM(A1) <&> ",  # what XML cannot hold is left out
        "Lan",
    )
    assert activities["F2"].data_type == "s"  # text, never a formula
    assert activities["B2"].number_format == "dd/mm/yyyy"
    assert activities["E2"].number_format == "#,##0"
    assert rows[2][5] == "<r><t>bị chèn</t></r>"
    assert rows[3][5] == "x" * 32767  # Excel's most in one cell
    land = book["Hiến đất"]
    assert rows_of(land)[1][3:10] == (
        "Hộ ông An",
        250.5,
        "Đất nông nghiệp",
        "Mở rộng đường: nối thôn",
        "Bàn giao mặt bằng",
        datetime(2026, 11, 27),
        15_000_000,
    )
    assert land["E2"].number_format == "#,##0.00"
    assert land["J2"].number_format == "#,##0"  # money: whole đồng
    assert rows_of(book["Ngày công"]) == [WORKDAY_HEADERS]  # an empty sheet keeps its header
    summary = book["Tổng hợp"]
    assert rows_of(summary) == [
        ("Đơn vị", "xã Một"),
        ("Từ ngày", datetime(2026, 11, 1)),
        (None, None),
        ("Chỉ tiêu", "Giá trị"),
        ("Số hoạt động", 3),
        ("Ngày công", 6.5),
        ("Xong", True),
    ]
    assert summary["A4"].font.b and not summary["A5"].font.b
    assert summary["B6"].number_format == "#,##0.00"


def test_rows_go_to_disk_as_they_come_not_into_memory(tmp_path: Path, scratch: Path) -> None:
    """Constant-memory mode: XlsxWriter keeps the row being written, the ones before are in its
    temporary files. Holding them would take about 1 kB a row (bench/test_export.py writes
    100.000 records in a process and watches its memory)."""
    path = tmp_path / "big.xlsx"
    workbook = RecordsWorkbook(path)
    tracemalloc.start()
    try:
        for number in range(500):
            workbook.add(activity(number, f"Họp dân lần {number}"))
        before, _ = tracemalloc.get_traced_memory()
        on_disk = sum(file.stat().st_size for file in scratch.rglob("*"))
        tracemalloc.reset_peak()
        for number in range(500, 3000):
            workbook.add(activity(number, f"Họp dân lần {number}"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak - before < 200_000  # 2.500 rows more, and no more memory
    assert sum(file.stat().st_size for file in scratch.rglob("*")) > on_disk + 2500 * 100
    assert not path.exists()  # the file itself is written when it closes
    workbook.write_summary([(True, ("Đơn vị", "xã Một"))])
    workbook.close()
    assert list(scratch.iterdir()) == []  # the temporary files are gone
    book = load_workbook(path, read_only=True)
    written = rows_of(book["Hoạt động"])
    book.close()
    assert len(written) == 3001
    assert written[-1][0] == "#H-2999" and written[-1][5] == "Họp dân lần 2999"
