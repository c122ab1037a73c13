"""The digest's XLSX file: the period's records and a summary, in Vietnamese.

Sheets Hoạt động, Hiến đất, Ngày công (one row per record, streamed from the database into a
write-only workbook) and Tổng hợp (the digest's totals and its breakdown by unit). Headers are
Vietnamese whatever the reader's language, like the official report forms the file feeds;
dates are real dates and figures real numbers. Donor names follow the digest's masking rule
(initials, except for the pledges of the official's own unit), since the file goes to the
same official and is forwarded as easily as the message.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.i18n import Translator
from bot.records import ACTIVITY_KINDS, LAND_KINDS, PURPOSES, STAGES, label_of
from storage.digest import (
    ActivityRecord,
    Figures,
    LandRecord,
    WorkdayRecord,
    period_records,
)
from storage.records import RecordKind, reference

if TYPE_CHECKING:
    from bot.digest import Digest

DATE_FORMAT = "dd/mm/yyyy"
DECIMAL_FORMAT = "#,##0.00"  # not "#,##0.##": Excel would show "300." for whole numbers
INTEGER_FORMAT = "#,##0"
MONEY_FORMAT = "#,##0"

SHEET_ACTIVITIES = "Hoạt động"
SHEET_LAND = "Hiến đất"
SHEET_WORKDAYS = "Ngày công"
SHEET_SUMMARY = "Tổng hợp"

# (header, column width, number format when not the default for the value's type)
Column = tuple[str, int, str | None]
ACTIVITY_COLUMNS: list[Column] = [
    ("Mã", 10, None),
    ("Ngày", 12, None),
    ("Đơn vị", 24, None),
    ("Loại hoạt động", 24, None),
    ("Số người tham gia", 12, None),
    ("Mô tả", 48, None),
    ("Người báo cáo", 22, None),
]
LAND_COLUMNS: list[Column] = [
    ("Mã", 10, None),
    ("Ngày", 12, None),
    ("Đơn vị", 24, None),
    ("Hộ hiến đất", 26, None),
    ("Diện tích (m²)", 14, None),
    ("Loại đất", 16, None),
    ("Mục đích", 20, None),
    ("Giai đoạn", 18, None),
    ("Ngày bàn giao", 14, None),
    ("Giá trị (đồng)", 16, MONEY_FORMAT),
    ("Người báo cáo", 22, None),
]
WORKDAY_COLUMNS: list[Column] = [
    ("Mã", 10, None),
    ("Ngày", 12, None),
    ("Đơn vị", 24, None),
    ("Công việc", 32, None),
    ("Số người", 10, None),
    ("Số ngày mỗi người", 12, None),
    ("Tổng ngày công", 12, None),
    ("Người báo cáo", 22, None),
]
FIGURE_ROWS = [
    ("Số hoạt động", "activities"),
    ("Lượt người tham gia", "participants"),
    ("Đất cam kết hiến (m²)", "land_m2"),
    ("Đất đã bàn giao (m²)", "handed_over_m2"),
    ("Ngày công", "workdays"),
    ("Báo cáo không có hoạt động", "nil_reports"),
]
SUMMARY_WIDTHS = [28, 16, 16, 16, 16, 14, 16]


class _Sheet:
    """A write-only sheet: a bold header row, then typed cells with number formats."""

    def __init__(
        self, book: Any, title: str, columns: Sequence[Column], widths: Sequence[int] = ()
    ) -> None:
        self.sheet = book.create_sheet(title)
        self.formats = [number_format for _, _, number_format in columns]
        for index, width in enumerate(widths or [width for _, width, _ in columns]):
            self.sheet.column_dimensions[chr(ord("A") + index)].width = width
        self.sheet.freeze_panes = "A2"
        self.header([label for label, _, _ in columns])

    def header(self, labels: Sequence[str]) -> None:
        cells = []
        for label in labels:
            cell = WriteOnlyCell(self.sheet, value=label)
            cell.font = Font(bold=True)
            cells.append(cell)
        self.sheet.append(cells)

    def cell(self, value: object, number_format: str | None) -> Any:
        if isinstance(value, str):
            value = ILLEGAL_CHARACTERS_RE.sub("", value)
        cell = WriteOnlyCell(self.sheet, value=value)
        if isinstance(value, str):
            cell.data_type = "s"  # "=..." typed by a user is text, never a formula
        elif isinstance(value, date):
            cell.number_format = number_format or DATE_FORMAT
        elif isinstance(value, Decimal):
            cell.number_format = number_format or DECIMAL_FORMAT
        elif isinstance(value, int) and not isinstance(value, bool):
            cell.number_format = number_format or INTEGER_FORMAT
        return cell

    def row(self, *values: object) -> None:
        formats = [*self.formats, *[None] * len(values)]
        self.sheet.append([self.cell(value, formats[i]) for i, value in enumerate(values)])


async def build_xlsx(session: AsyncSession, digest: Digest) -> bytes:
    """The workbook of `digest`'s unit and period, as .xlsx bytes."""
    vi = Translator("vi")
    book = Workbook(write_only=True)
    activities = _Sheet(book, SHEET_ACTIVITIES, ACTIVITY_COLUMNS)
    land = _Sheet(book, SHEET_LAND, LAND_COLUMNS)
    workdays = _Sheet(book, SHEET_WORKDAYS, WORKDAY_COLUMNS)
    period = digest.period
    async for record in period_records(session, digest.unit.id, period.start, period.end):
        if isinstance(record, ActivityRecord):
            activities.row(
                reference(RecordKind.ACTIVITY, record.id),
                record.on_date,
                record.unit_name,
                label_of(vi, ACTIVITY_KINDS, record.kind),
                record.participants,
                record.description,
                record.reporter,
            )
        elif isinstance(record, LandRecord):
            purpose = label_of(vi, PURPOSES, record.purpose)
            if record.purpose_note:
                purpose = f"{purpose}: {record.purpose_note}"
            land.row(
                reference(RecordKind.LAND, record.id),
                record.on_date,
                record.unit_name,
                digest.donor(record.donor, record.unit_id),
                record.area_m2,
                label_of(vi, LAND_KINDS, record.land_kind),
                purpose,
                label_of(vi, STAGES, record.stage),
                record.handed_over_on,
                record.value_vnd,
                record.reporter,
            )
        elif isinstance(record, WorkdayRecord):
            workdays.row(
                reference(RecordKind.WORKDAY, record.id),
                record.on_date,
                record.unit_name,
                record.work,
                record.people,
                record.days_each,
                record.total_days,
                record.reporter,
            )
    _summary(book, digest)
    book.active = 3  # open on the summary
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _summary(book: Any, digest: Digest) -> None:
    period, previous = digest.period, digest.period.previous()
    columns: list[Column] = [("Đơn vị", 0, None), (digest.unit.name, 0, None)]
    sheet = _Sheet(book, SHEET_SUMMARY, columns, SUMMARY_WIDTHS)
    sheet.row("Kỳ báo cáo", period.key)
    sheet.row("Từ ngày", period.start)
    sheet.row("Đến ngày", period.end)
    sheet.row("Kỳ trước", f"{previous.start:%d/%m/%Y} – {previous.end:%d/%m/%Y}")
    sheet.row("Lũy kế từ ngày", period.ytd_start)
    sheet.row()
    sheet.header(["Chỉ tiêu", "Kỳ này", "Kỳ trước", "Thay đổi", "Lũy kế năm"])
    totals = digest.totals
    for label, name in FIGURE_ROWS:
        sheet.row(
            label,
            *[getattr(figures, name) for figures in (totals.current, totals.previous)],
            getattr(totals.change, name),
            getattr(totals.ytd, name),
        )
    if digest.children:
        sheet.row()
        sheet.header(["Đơn vị trực thuộc", *[label for label, _ in FIGURE_ROWS]])
        for child in digest.children:
            sheet.row(child.name, *_figure_values(child.figures))


def _figure_values(figures: Figures) -> list[object]:
    return [getattr(figures, name) for _, name in FIGURE_ROWS]
