"""The digest's XLSX file: the period's records and a summary, in Vietnamese.

Sheets Hoạt động, Hiến đất, Ngày công (one row per record) and Tổng hợp (the digest's totals and
its breakdown by unit). Headers are Vietnamese whatever the reader's language, like the official
report forms the file feeds, bold, and frozen at the top of each sheet; dates are real dates
(dd/mm/yyyy) and figures real numbers. Donor names follow the digest's masking rule (initials,
except for the pledges of the official's own unit), since the file goes to the same official and
is forwarded as easily as the message.

The exports (/xuat, `danvan export`; bot/services/exports.py) reuse the same sheets through
`RecordsWorkbook` and `record_row`, with a summary of an arbitrary date range (`range_summary`),
which their CSV files share.

XlsxWriter writes the file, in constant-memory mode: a row goes to its sheet's temporary file as
soon as the next row starts, so a workbook holds one row per sheet in memory, not every cell
until it closes. The mode's rule, each sheet's rows in order, holds because rows are only ever
appended; the sheets may be filled in any order. Strings are inline (no shared-string table) and
always written as strings, so text typed as "=..." is never a formula. The temporary files go to
a directory of each workbook's own, removed however the workbook ends. openpyxl reads the files
back in the tests.
"""

from __future__ import annotations

import contextlib
import io
import re
import tempfile
from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import IO, Any

import xlsxwriter
from sqlmodel.ext.asyncio.session import AsyncSession
from xlsxwriter.exceptions import FileCreateError

from bot.domain.digest import ChildRow, Digest, Figures
from bot.domain.forms.records import ACTIVITY_KINDS, LAND_KINDS, PURPOSES, STAGES
from bot.domain.forms.steps import label_of
from bot.domain.i18n import Translator
from bot.domain.records import RecordKind, reference
from storage.digest import ActivityRecord, LandRecord, PeriodRecord, period_records

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
# The record sheets, in the order period_records streams them.
RECORD_SHEETS: tuple[tuple[str, list[Column]], ...] = (
    (SHEET_ACTIVITIES, ACTIVITY_COLUMNS),
    (SHEET_LAND, LAND_COLUMNS),
    (SHEET_WORKDAYS, WORKDAY_COLUMNS),
)
# A line of a summary: whether it is a (bold) header, and its cells.
SummaryLine = tuple[bool, tuple[object, ...]]


# --- writing --------------------------------------------------------------------------------------

_WORKBOOK_OPTIONS: dict[str, object] = {
    "constant_memory": True,
    "remove_timezone": True,  # XlsxWriter refuses aware datetimes; Excel has no time zones
}
_MAX_TEXT = 32767  # UTF-16 code units in one cell
# What XML 1.0 cannot hold (surrogates not even UTF-8) is dropped; XlsxWriter would keep the
# control characters, escaped as _x000B_.
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


class _Formats:
    """A workbook's cell formats: the bold header, and one per number format."""

    def __init__(self, book: Any) -> None:
        self.book = book
        self.bold = book.add_format({"bold": True})
        self._numbers: dict[str, Any] = {}
        self.date = self.number(DATE_FORMAT)
        self.decimal = self.number(DECIMAL_FORMAT)
        self.integer = self.number(INTEGER_FORMAT)

    def number(self, number_format: str) -> Any:
        found = self._numbers.get(number_format)
        if found is None:
            found = self._numbers[number_format] = self.book.add_format(
                {"num_format": number_format}
            )
        return found


class _Sheet:
    """One worksheet filled row after row: its column widths, a frozen first row (the bold
    header when `columns` are given), then rows of typed cells with number formats (a column's
    own, else the default for the value's type)."""

    def __init__(
        self,
        worksheet: Any,
        formats: _Formats,
        columns: Sequence[Column],
        widths: Sequence[int] = (),
    ) -> None:
        self.worksheet = worksheet
        self.formats = formats
        self.own = {
            index: formats.number(code) for index, (_, _, code) in enumerate(columns) if code
        }
        self.rows = 0
        for index, width in enumerate(widths or [width for _, width, _ in columns]):
            if width:
                worksheet.set_column(index, index, width)
        worksheet.freeze_panes(1, 0)
        if columns:
            self.header([label for label, _, _ in columns])

    def header(self, labels: Iterable[object]) -> None:
        for index, label in enumerate(labels):
            self._text(index, str(label), self.formats.bold)
        self.rows += 1

    def row(self, *values: object) -> None:
        # The innermost loop of a large export: XlsxWriter's own work aside, the time is here.
        row, worksheet, formats, own = self.rows, self.worksheet, self.formats, self.own
        for index, value in enumerate(values):
            if value is None:
                continue
            if isinstance(value, str):
                self._text(index, value)
            elif isinstance(value, bool):  # before int, which it is too
                worksheet.write_boolean(row, index, value)
            elif isinstance(value, date):  # datetimes too
                worksheet.write_datetime(row, index, value, own.get(index) or formats.date)
            elif isinstance(value, int):
                worksheet.write_number(row, index, value, own.get(index) or formats.integer)
            elif isinstance(value, Decimal | float):
                number_format = own.get(index) or formats.decimal
                worksheet.write_number(row, index, float(value), number_format)
            else:
                self._text(index, str(value))
        self.rows += 1

    def _text(self, index: int, text: str, style: Any = None) -> None:
        if not text.isprintable():  # every character _ILLEGAL matches is unprintable
            text = _ILLEGAL.sub("", text)
        if not text:
            return
        if text.startswith("<r>") and text.endswith("</r>"):
            # In constant-memory mode XlsxWriter copies a string shaped so into the file as
            # rich-text XML, unescaped; cut into plain runs it is escaped like any other. (It
            # refuses a rich string over Excel's limit rather than cut it.)
            text = text.encode("utf-16-le")[: 2 * _MAX_TEXT].decode("utf-16-le", "ignore")
            runs = ("<", "r", text[2:], *(() if style is None else (style,)))
            self.worksheet.write_rich_string(self.rows, index, *runs)
        else:  # XlsxWriter cuts it to Excel's 32.767 characters
            self.worksheet.write_string(self.rows, index, text, style)


@cache
def _vi() -> Translator:
    return Translator("vi")


def record_row(record: PeriodRecord, donor: str | None = None) -> tuple[str, list[object]]:
    """The sheet a record belongs on and its cells, in that sheet's column order. `donor`
    replaces the land donor's name as stored (the digest's masking)."""
    vi = _vi()
    if isinstance(record, ActivityRecord):
        return SHEET_ACTIVITIES, [
            reference(RecordKind.ACTIVITY, record.id),
            record.on_date,
            record.unit_name,
            label_of(vi, ACTIVITY_KINDS, record.kind),
            record.participants,
            record.description,
            record.reporter,
        ]
    if isinstance(record, LandRecord):
        purpose = label_of(vi, PURPOSES, record.purpose)
        if record.purpose_note:
            purpose = f"{purpose}: {record.purpose_note}"
        return SHEET_LAND, [
            reference(RecordKind.LAND, record.id),
            record.on_date,
            record.unit_name,
            record.donor if donor is None else donor,
            record.area_m2,
            label_of(vi, LAND_KINDS, record.land_kind),
            purpose,
            label_of(vi, STAGES, record.stage),
            record.handed_over_on,
            record.value_vnd,
            record.reporter,
        ]
    return SHEET_WORKDAYS, [
        reference(RecordKind.WORKDAY, record.id),
        record.on_date,
        record.unit_name,
        record.work,
        record.people,
        record.days_each,
        record.total_days,
        record.reporter,
    ]


class RecordsWorkbook:
    """The three record sheets, each filled as its records come (with its header row even when
    none does), and the summary sheet, written last and shown first."""

    def __init__(self, target: str | Path | IO[bytes]) -> None:
        # XlsxWriter's temporary files (each sheet's rows, then each part before zipping).
        self._scratch = tempfile.TemporaryDirectory(prefix="danvan-xlsx-")
        self.book = xlsxwriter.Workbook(target, {**_WORKBOOK_OPTIONS, "tmpdir": self._scratch.name})
        formats = _Formats(self.book)
        self.sheets = {
            title: _Sheet(self.book.add_worksheet(title), formats, columns)
            for title, columns in RECORD_SHEETS
        }
        summary = self.book.add_worksheet(SHEET_SUMMARY)
        summary.activate()
        self.summary = _Sheet(summary, formats, (), SUMMARY_WIDTHS)
        self.counts = dict.fromkeys(self.sheets, 0)

    def add(self, record: PeriodRecord, donor: str | None = None) -> None:
        title, values = record_row(record, donor)
        self.sheets[title].row(*values)
        self.counts[title] += 1

    def write_summary(self, lines: Iterable[SummaryLine]) -> int:
        """Fill the summary sheet with `lines` (the first one is its header row); returns the
        number of lines."""
        count = 0
        for is_header, cells in lines:
            if is_header:
                self.summary.header(cells)
            else:
                self.summary.row(*cells)
            count += 1
        return count

    def close(self) -> None:
        """Write the file to the target."""
        try:
            self.book.close()
        except FileCreateError as error:  # the OSError itself, as the CSV files raise it
            raise error.args[0] from None
        finally:
            self._scratch.cleanup()

    def abort(self) -> None:
        """Stop where it is (an error happened): write what there is if it can be, and remove
        the temporary files."""
        with contextlib.suppress(Exception):  # the error that led here is the one to report
            self.book.close()
        self._scratch.cleanup()


async def build_xlsx(session: AsyncSession, digest: Digest) -> bytes:
    """The workbook of `digest`'s unit and period, as .xlsx bytes."""
    period = digest.period
    records = [
        record async for record in period_records(session, digest.unit.id, period.start, period.end)
    ]
    return digest_workbook(digest, records)


def digest_workbook(digest: Digest, records: Iterable[PeriodRecord]) -> bytes:
    """The workbook of `digest` with `records` (those of its subtree and period), as .xlsx
    bytes."""
    buffer = io.BytesIO()
    workbook = RecordsWorkbook(buffer)
    try:
        for record in records:
            donor = (
                digest.donor(record.donor, record.unit_id)
                if isinstance(record, LandRecord)
                else None
            )
            workbook.add(record, donor)
        workbook.write_summary(digest_summary(digest))
    except BaseException:
        workbook.abort()
        raise
    workbook.close()
    return buffer.getvalue()


def digest_summary(digest: Digest) -> list[SummaryLine]:
    """The summary of a digest: the unit and its period, the figures of this period, the one
    before, the change and the year so far, and the breakdown by direct child unit."""
    period, previous = digest.period, digest.period.previous()
    lines: list[SummaryLine] = [
        (True, ("Đơn vị", digest.unit.name)),
        (False, ("Kỳ báo cáo", period.key)),
        (False, ("Từ ngày", period.start)),
        (False, ("Đến ngày", period.end)),
        (False, ("Kỳ trước", f"{previous.start:%d/%m/%Y} – {previous.end:%d/%m/%Y}")),
        (False, ("Lũy kế từ ngày", period.ytd_start)),
        (False, ()),
        (True, ("Chỉ tiêu", "Kỳ này", "Kỳ trước", "Thay đổi", "Lũy kế năm")),
    ]
    totals = digest.totals
    lines += [
        (
            False,
            (
                label,
                *[getattr(figures, name) for figures in (totals.current, totals.previous)],
                getattr(totals.change, name),
                getattr(totals.ytd, name),
            ),
        )
        for label, name in FIGURE_ROWS
    ]
    if digest.children:
        lines.append((False, ()))
        lines.append((True, ("Đơn vị trực thuộc", *[label for label, _ in FIGURE_ROWS])))
        lines += [
            (False, (child.name, *_figure_values(child.figures))) for child in digest.children
        ]
    return lines


def _figure_values(figures: Figures) -> list[object]:
    return [getattr(figures, name) for _, name in FIGURE_ROWS]


def range_summary(
    unit_name: str,
    unit_code: str,
    start: date,
    end: date,
    figures: Figures,
    children: Sequence[ChildRow],
    exported_on: date,
) -> list[SummaryLine]:
    """The summary of an export: the unit and the dates, the figures of the range (the
    digest's definitions), and the breakdown by direct child unit."""
    lines: list[SummaryLine] = [
        (True, ("Đơn vị", unit_name)),
        (False, ("Mã đơn vị", unit_code)),
        (False, ("Từ ngày", start)),
        (False, ("Đến ngày", end)),
        (False, ("Ngày xuất", exported_on)),
        (False, ()),
        (True, ("Chỉ tiêu", "Giá trị")),
    ]
    lines += [(False, (label, getattr(figures, name))) for label, name in FIGURE_ROWS]
    if children:
        lines.append((False, ()))
        lines.append((True, ("Đơn vị trực thuộc", *[label for label, _ in FIGURE_ROWS])))
        lines += [(False, (child.name, *_figure_values(child.figures))) for child in children]
    return lines
