"""Exports of a unit's records for a range of dates, as an XLSX workbook or as CSV files.

Telegram-free: /xuat (handlers/export.py) and `danvan export` (bot/cli/export.py) both call
`write_export`. The file has the digest's sheets (bot/services/workbook.py): Hoạt động, Hiến đất,
Ngày công, one row per live record of the unit's subtree, and Tổng hợp, the figures of the range
and their breakdown by direct child unit. Headers are Vietnamese; dates are real dates and figures
real numbers.

Choices made here:
- Records are streamed from the database (`storage.digest.period_records`, batches of a server-side
  cursor) and written batch by batch in a worker thread, so a large export neither sits in
  memory nor blocks the event loop. The XLSX is written by XlsxWriter in constant-memory mode,
  each row put in a temporary file as the next one starts (bot/services/workbook.py).
- CSV means a .zip of four files, one per sheet with the same columns (hoat-dong.csv,
  hien-dat.csv, ngay-cong.csv, tong-hop.csv): the sheets have different columns, and one file
  with a "kind" column would be mostly empty cells. Each is UTF-8 with a BOM, so Excel shows
  Vietnamese correctly, comma-separated; dates are ISO (2026-11-25, which Excel reads as a date
  in every locale), numbers have a decimal point and no grouping. Text that Excel would take for
  a formula (starting with = + - @) gets a leading apostrophe, as OWASP advises.
- Donors' names are shown in full, unlike the digest: an export is asked for on purpose, by an
  official for their own area (where /daghi already shows the names), to fill in the movement's
  report forms.
"""

from __future__ import annotations

import asyncio
import csv
import enum
import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.workbook import (
    RECORD_SHEETS,
    SHEET_ACTIVITIES,
    SHEET_LAND,
    SHEET_SUMMARY,
    SHEET_WORKDAYS,
    RecordsWorkbook,
    SummaryLine,
    range_summary,
    record_row,
)
from storage import digest as queries
from storage.digest import PeriodRecord, period_records
from storage.models import Unit

BATCH = 500  # records handed to the writer thread at a time
CSV_FILES = {
    SHEET_ACTIVITIES: "hoat-dong.csv",
    SHEET_LAND: "hien-dat.csv",
    SHEET_WORKDAYS: "ngay-cong.csv",
    SHEET_SUMMARY: "tong-hop.csv",
}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
MAX_RANGE_TEXT = 200


class ExportFormat(enum.StrEnum):
    XLSX = "xlsx"
    CSV = "csv"

    @property
    def suffix(self) -> str:
        return ".xlsx" if self is ExportFormat.XLSX else ".zip"


def export_filename(unit_code: str, start: date, end: date, fmt: ExportFormat) -> str:
    return f"danvan-{unit_code}-{start:%Y%m%d}-{end:%Y%m%d}{fmt.suffix}"


# --- writing --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportCounts:
    """Rows written per sheet (the summary counts its lines, blank ones included)."""

    activities: int
    land: int
    workdays: int
    summary: int

    @property
    def records(self) -> int:
        return self.activities + self.land + self.workdays

    def by_sheet(self) -> dict[str, int]:
        return {
            SHEET_ACTIVITIES: self.activities,
            SHEET_LAND: self.land,
            SHEET_WORKDAYS: self.workdays,
            SHEET_SUMMARY: self.summary,
        }


class _Writer(Protocol):
    counts: dict[str, int]

    def add_records(self, records: Sequence[PeriodRecord]) -> None: ...

    def finish(self, summary: Sequence[SummaryLine]) -> int: ...

    def abort(self) -> None: ...


class _XlsxExport:
    def __init__(self, target: Path | IO[bytes]) -> None:
        self.workbook = RecordsWorkbook(target)
        self.counts = self.workbook.counts

    def add_records(self, records: Sequence[PeriodRecord]) -> None:
        for record in records:
            self.workbook.add(record)

    def finish(self, summary: Sequence[SummaryLine]) -> int:
        lines = self.workbook.write_summary(summary)
        self.workbook.close()
        return lines

    def abort(self) -> None:
        self.workbook.abort()


def csv_cell(value: object) -> str:
    """A value as CSV text: ISO dates, plain decimals, formulas defused."""
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, str):
        return "'" + value if value.startswith(_FORMULA_START) else value
    return str(value)


class CsvZipWriter:
    """One CSV file per sheet in a zip, each written row by row as the records come (sheet
    after sheet, in RECORD_SHEETS order, as period_records streams them)."""

    def __init__(self, target: Path | IO[bytes]) -> None:
        self.zip = zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED)
        self.titles = [title for title, _ in RECORD_SHEETS]
        self.headers = {
            title: [label for label, _, _ in columns] for title, columns in RECORD_SHEETS
        }
        self.counts = dict.fromkeys(self.titles, 0)
        self._index = -1
        self._stream: io.TextIOWrapper | None = None
        self._writer: Any = None

    def _open(self, name: str, header: Sequence[str]) -> None:
        """Start the zip member `name` (ending the one before) with its header row."""
        self._close()
        self._stream = io.TextIOWrapper(self.zip.open(name, "w"), encoding="utf-8-sig", newline="")
        self._writer = csv.writer(self._stream)
        self._writer.writerow(header)

    def _close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def _advance_to(self, index: int) -> None:
        """Move on to the sheet at `index`, leaving the skipped ones with just their header."""
        if index < self._index:
            raise ValueError("records must come sheet by sheet")
        while self._index < index:
            self._index += 1
            title = self.titles[self._index]
            self._open(CSV_FILES[title], self.headers[title])

    def add_records(self, records: Sequence[PeriodRecord]) -> None:
        for record in records:
            title, values = record_row(record)
            self._advance_to(self.titles.index(title))
            self._writer.writerow([csv_cell(value) for value in values])
            self.counts[title] += 1

    def finish(self, summary: Sequence[SummaryLine]) -> int:
        self._advance_to(len(self.titles) - 1)
        (_, header), *rest = summary
        self._open(CSV_FILES[SHEET_SUMMARY], [csv_cell(cell) for cell in header])
        for _, cells in rest:
            self._writer.writerow([csv_cell(value) for value in cells])
        self._close()
        self.zip.close()
        return len(summary)

    def abort(self) -> None:
        self._close()
        self.zip.close()


def _writer(fmt: ExportFormat, target: Path | IO[bytes]) -> _Writer:
    return _XlsxExport(target) if fmt is ExportFormat.XLSX else CsvZipWriter(target)


async def write_export(
    session: AsyncSession,
    unit: Unit,
    start: date,
    end: date,
    fmt: ExportFormat,
    target: Path | IO[bytes],
    *,
    today: date,
) -> ExportCounts:
    """Write the export of `unit`'s subtree for `start`..`end` to `target` (a path or a binary
    file). Rows are read in batches and written in a worker thread. The caller makes sure the
    unit is in the person's scope (storage.scope)."""
    assert unit.id is not None
    writer = _writer(fmt, target)
    try:
        batch: list[PeriodRecord] = []
        async for record in period_records(session, unit.id, start, end):
            batch.append(record)
            if len(batch) >= BATCH:
                await asyncio.to_thread(writer.add_records, batch)
                batch = []
        if batch:
            await asyncio.to_thread(writer.add_records, batch)
        (figures,) = await queries.figures(session, unit, [(start, end)])
        children = await queries.children(session, unit, start, end)
        summary = range_summary(unit.name, unit.code, start, end, figures, children, today)
        lines = await asyncio.to_thread(writer.finish, summary)
    except Exception:  # not on cancellation: a worker thread may still be writing then
        writer.abort()
        raise
    counts = writer.counts
    return ExportCounts(counts[SHEET_ACTIVITIES], counts[SHEET_LAND], counts[SHEET_WORKDAYS], lines)
