"""The digest's XLSX file: the period's records and a summary, in Vietnamese.

Sheets Hoạt động, Hiến đất, Ngày công (one row per record, streamed from the database into the
file) and Tổng hợp (the digest's totals and its breakdown by unit). Headers are
Vietnamese whatever the reader's language, like the official report forms the file feeds;
dates are real dates and figures real numbers. Donor names follow the digest's masking rule
(initials, except for the pledges of the official's own unit), since the file goes to the
same official and is forwarded as easily as the message.

The exports (/xuat, `danvan export`; bot/export.py) reuse the same sheets through
`RecordsWorkbook` and `record_row`, with a summary of an arbitrary date range
(`range_summary`), which their CSV files share.

The file is written here as SpreadsheetML straight into the zip, row by row, one sheet after the
other (records arrive sheet by sheet), rather than through openpyxl: openpyxl's write-only mode
spends 10 to 20 µs on every cell, and an export of 100.000 records took 19 s with it against 5 s
now (about 2 s of which is writing). Strings are inline (no shared-string table to hold in
memory), so text typed as "=..." is never a formula; dates are serial numbers with a date
format. openpyxl still reads the files back in the tests.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import IO
from xml.sax.saxutils import escape, quoteattr

from sqlmodel.ext.asyncio.session import AsyncSession

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


# --- SpreadsheetML, streamed --------------------------------------------------------------------

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PACKAGE_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_SHEET_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
_XML_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_BUILTIN_FORMATS = {"General": 0, "0": 1, "0.00": 2, "#,##0": 3, "#,##0.00": 4}
_FIRST_CUSTOM_FORMAT = 164
_BOLD = 1  # the header style (cellXfs index)
_EXCEL_EPOCH = date(1899, 12, 30)
_MAX_TEXT = 32767  # characters in one cell
# Not allowed in XML 1.0 (openpyxl drops the same control characters).
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _letters(index: int) -> str:
    """Column letters of a 0-based column index: A, …, Z, AA, …"""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


_LETTERS = [_letters(index) for index in range(64)]


def _column(index: int) -> str:
    return _LETTERS[index] if index < len(_LETTERS) else _letters(index)


class _Styles:
    """The cell formats used so far: index 0 is plain, 1 bold; one more per number format."""

    def __init__(self) -> None:
        self.formats: dict[str, int] = {}  # number format -> cellXfs index

    def of(self, number_format: str) -> int:
        found = self.formats.get(number_format)
        if found is None:
            found = self.formats[number_format] = len(self.formats) + 2
        return found

    def xml(self) -> str:
        custom: dict[str, int] = {}
        xfs = [
            '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>',
            '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>',
        ]
        for number_format in self.formats:  # in index order
            number = _BUILTIN_FORMATS.get(number_format)
            if number is None:
                number = custom.setdefault(number_format, _FIRST_CUSTOM_FORMAT + len(custom))
            xfs.append(
                f'<xf numFmtId="{number}" fontId="0" fillId="0" borderId="0" xfId="0" '
                'applyNumberFormat="1"/>'
            )
        formats = "".join(
            f"<numFmt numFmtId={quoteattr(str(number))} formatCode={quoteattr(code)}/>"
            for code, number in custom.items()
        )
        font = '<sz val="11"/><name val="Calibri"/><family val="2"/>'
        return (
            f'{_XML_HEAD}<styleSheet xmlns="{_MAIN}">'
            + (f'<numFmts count="{len(custom)}">{formats}</numFmts>' if custom else "")
            + f'<fonts count="2"><font>{font}</font><font><b/>{font}</font></fonts>'
            '<fills count="2"><fill><patternFill patternType="none"/></fill>'
            '<fill><patternFill patternType="gray125"/></fill></fills>'
            '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border>'
            "</borders>"
            '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
            "</cellStyleXfs>"
            f'<cellXfs count="{len(xfs)}">{"".join(xfs)}</cellXfs>'
            '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
            "</styleSheet>"
        )


class XlsxWriter:
    """An .xlsx file written as it goes: the sheets are named up front, then filled one after
    the other (`sheet` ends the one before), and `close` adds the styles. Only the zip's
    compressor holds anything in memory."""

    def __init__(
        self, target: str | Path | IO[bytes], titles: Sequence[str], *, active: int = 0
    ) -> None:
        self.zip = zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED)
        self.titles = list(titles)
        self.active = active
        self.styles = _Styles()
        self._opened = 0
        self._current: _Sheet | None = None
        self._package()

    def _write(self, name: str, xml: str) -> None:
        self.zip.writestr(name, xml)

    def _package(self) -> None:
        count = len(self.titles)
        sheets = "".join(
            f'<Override PartName="/xl/worksheets/sheet{n}.xml" ContentType="{_SHEET_TYPE}"/>'
            for n in range(1, count + 1)
        )
        self._write(
            "[Content_Types].xml",
            f'{_XML_HEAD}<Types xmlns="http://schemas.openxmlformats.org/package/2006/'
            'content-types"><Default Extension="rels" ContentType="application/'
            'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" '
            'ContentType="application/xml"/><Override PartName="/xl/workbook.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.'
            f'sheet.main+xml"/>{sheets}<Override PartName="/xl/styles.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.'
            'styles+xml"/></Types>',
        )
        self._write(
            "_rels/.rels",
            f'{_XML_HEAD}<Relationships xmlns="{_PACKAGE_REL}"><Relationship Id="rId1" '
            f'Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        )
        entries = "".join(
            f'<sheet name={quoteattr(title)} sheetId="{n}" r:id="rId{n}"/>'
            for n, title in enumerate(self.titles, start=1)
        )
        self._write(
            "xl/workbook.xml",
            f'{_XML_HEAD}<workbook xmlns="{_MAIN}" xmlns:r="{_REL}"><bookViews>'
            f'<workbookView activeTab="{self.active}"/></bookViews><sheets>{entries}</sheets>'
            "</workbook>",
        )
        links = "".join(
            f'<Relationship Id="rId{n}" Type="{_REL}/worksheet" Target="worksheets/sheet{n}.xml"/>'
            for n in range(1, count + 1)
        )
        self._write(
            "xl/_rels/workbook.xml.rels",
            f'{_XML_HEAD}<Relationships xmlns="{_PACKAGE_REL}">{links}<Relationship '
            f'Id="rId{count + 1}" Type="{_REL}/styles" Target="styles.xml"/></Relationships>',
        )

    def sheet(self, columns: Sequence[Column], widths: Sequence[int] = ()) -> _Sheet:
        """Start the next sheet, with `columns` as its bold header row."""
        self._end_sheet()
        if self._opened >= len(self.titles):
            raise ValueError("every sheet named has been written")
        index = self._opened
        self._opened += 1
        stream = io.TextIOWrapper(
            self.zip.open(f"xl/worksheets/sheet{index + 1}.xml", "w"), encoding="utf-8"
        )
        self._current = _Sheet(stream, self.styles, columns, widths, selected=index == self.active)
        return self._current

    def _end_sheet(self) -> None:
        if self._current is not None:
            self._current.close()
            self._current = None

    def abort(self) -> None:
        """Stop where it is (an error happened): close what is open, leaving a broken file."""
        if self._current is not None:
            self._current.stream.close()
            self._current = None
        self.zip.close()

    def close(self) -> None:
        """End the last sheet, write empty ones for any named but not started, the styles."""
        self._end_sheet()
        while self._opened < len(self.titles):
            self.sheet([])
            self._end_sheet()
        self._write("xl/styles.xml", self.styles.xml())
        self.zip.close()


class _Sheet:
    """One sheet being written: a bold header row, then rows of typed cells with number
    formats (a column's own, else the default for the value's type)."""

    def __init__(
        self,
        stream: io.TextIOWrapper,
        styles: _Styles,
        columns: Sequence[Column],
        widths: Sequence[int] = (),
        *,
        selected: bool = False,
    ) -> None:
        self.stream = stream
        self.styles = styles
        self.formats = [number_format for _, _, number_format in columns]
        self.rows = 0
        widths = list(widths or [width for _, width, _ in columns])
        cols = "".join(
            f'<col min="{n}" max="{n}" width="{width}" customWidth="1"/>'
            for n, width in enumerate(widths, start=1)
            if width
        )
        view = ' tabSelected="1"' if selected else ""
        stream.write(
            f'{_XML_HEAD}<worksheet xmlns="{_MAIN}"><sheetViews><sheetView{view} '
            'workbookViewId="0"><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" '
            'state="frozen"/><selection pane="bottomLeft" activeCell="A2" sqref="A2"/>'
            "</sheetView></sheetViews>" + (f"<cols>{cols}</cols>" if cols else "") + "<sheetData>"
        )
        if columns:
            self.header([label for label, _, _ in columns])

    def header(self, labels: Sequence[str]) -> None:
        self._row([self._text(index, label, _BOLD) for index, label in enumerate(labels)])

    def row(self, *values: object) -> None:
        self._row([self._cell(index, value) for index, value in enumerate(values)])

    def _row(self, cells: list[str]) -> None:
        self.rows += 1
        self.stream.write(f'<row r="{self.rows}">{"".join(cells)}</row>')

    def _text(self, index: int, text: str, style: int = 0) -> str:
        text = _ILLEGAL.sub("", text)[:_MAX_TEXT]
        if not text:
            return ""
        space = ' xml:space="preserve"' if text[0].isspace() or text[-1].isspace() else ""
        styled = f' s="{style}"' if style else ""
        return (
            f'<c r="{_column(index)}{self.rows + 1}"{styled} t="inlineStr">'
            f"<is><t{space}>{escape(text)}</t></is></c>"
        )

    def _number(self, index: int, value: str, number_format: str) -> str:
        style = self.styles.of(number_format)
        return f'<c r="{_column(index)}{self.rows + 1}" s="{style}"><v>{value}</v></c>'

    def _cell(self, index: int, value: object) -> str:
        if value is None:
            return ""
        if isinstance(value, str):
            return self._text(index, value)
        own = self.formats[index] if index < len(self.formats) else None
        if isinstance(value, bool):
            return f'<c r="{_column(index)}{self.rows + 1}" t="b"><v>{int(value)}</v></c>'
        if isinstance(value, datetime):
            serial = (value.replace(tzinfo=None) - datetime(1899, 12, 30)).total_seconds() / 86400
            return self._number(index, repr(serial), own or DATE_FORMAT)
        if isinstance(value, date):
            return self._number(index, str((value - _EXCEL_EPOCH).days), own or DATE_FORMAT)
        if isinstance(value, Decimal):
            return self._number(index, format(value, "f"), own or DECIMAL_FORMAT)
        if isinstance(value, int):
            return self._number(index, str(value), own or INTEGER_FORMAT)
        if isinstance(value, float):
            return self._number(index, repr(value), own or DECIMAL_FORMAT)
        return self._text(index, str(value))

    def close(self) -> None:
        self.stream.write("</sheetData></worksheet>")
        self.stream.close()


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
    """The three record sheets, filled as records stream in (sheet after sheet, in
    RECORD_SHEETS order, as period_records yields them), then the summary sheet."""

    def __init__(self, target: str | Path | IO[bytes]) -> None:
        self.titles = [title for title, _ in RECORD_SHEETS]
        self.book = XlsxWriter(target, [*self.titles, SHEET_SUMMARY], active=len(RECORD_SHEETS))
        self.counts = dict.fromkeys(self.titles, 0)
        self._index = -1
        self._sheet: _Sheet | None = None

    def _advance_to(self, index: int) -> None:
        """Move on to the record sheet at `index`; skipped ones keep just their header."""
        if index < self._index:
            raise ValueError("records must come sheet by sheet")
        while self._index < index:
            self._index += 1
            self._sheet = self.book.sheet(RECORD_SHEETS[self._index][1])

    def add(self, record: PeriodRecord, donor: str | None = None) -> None:
        title, values = record_row(record, donor)
        self._advance_to(self.titles.index(title))
        assert self._sheet is not None
        self._sheet.row(*values)
        self.counts[title] += 1

    def summary_sheet(self, columns: Sequence[Column]) -> _Sheet:
        self._advance_to(len(RECORD_SHEETS) - 1)
        return self.book.sheet(columns, SUMMARY_WIDTHS)

    def write_summary(self, lines: Iterable[SummaryLine]) -> int:
        """A summary sheet made of `lines` (the first one is its header row); returns the
        number of lines."""
        items = list(lines)
        first, *rest = items
        sheet = self.summary_sheet([(str(cell), 0, None) for cell in first[1]])
        for is_header, cells in rest:
            if is_header:
                sheet.header([str(cell) for cell in cells])
            else:
                sheet.row(*cells)
        return len(items)

    def close(self) -> None:
        self.book.close()

    def abort(self) -> None:
        self.book.abort()


async def build_xlsx(session: AsyncSession, digest: Digest) -> bytes:
    """The workbook of `digest`'s unit and period, as .xlsx bytes."""
    period = digest.period
    records = [
        record async for record in period_records(session, digest.unit.id, period.start, period.end)
    ]
    return digest_workbook(digest, records)


def digest_workbook(digest: Digest, records: Iterable[PeriodRecord]) -> bytes:
    """The workbook of `digest` with `records` (those of its subtree and period, in
    period_records order), as .xlsx bytes."""
    buffer = io.BytesIO()
    workbook = RecordsWorkbook(buffer)
    for record in records:
        donor = (
            digest.donor(record.donor, record.unit_id) if isinstance(record, LandRecord) else None
        )
        workbook.add(record, donor)
    _summary(workbook, digest)
    workbook.close()
    return buffer.getvalue()


def _summary(workbook: RecordsWorkbook, digest: Digest) -> None:
    period, previous = digest.period, digest.period.previous()
    sheet = workbook.summary_sheet([("Đơn vị", 0, None), (digest.unit.name, 0, None)])
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
