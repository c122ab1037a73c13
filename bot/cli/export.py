"""`danvan export`: a unit's records for a range of dates, to an XLSX or a CSV (.zip) file.

    danvan export --from 01/11/2026 --to 30/11/2026 [--unit CODE] [--format xlsx|csv] --out FILE

The same file as /xuat sends (bot/services/exports.py), streamed from the database to the
file, which appears under its name only once complete. Without --unit: the top-level unit, if
there is just one. Without --format: csv for an --out ending in .zip, else xlsx. --json prints
the counts per sheet and the path.
"""

from __future__ import annotations

import argparse
import os
from datetime import date, datetime
from pathlib import Path
from typing import Any

from bot.cli.common import CliError, print_json, unit_or_root, with_db
from bot.domain.formatting import format_date
from bot.domain.i18n import Translator
from bot.domain.periods import parse_cli_date
from bot.services.exports import ExportCounts, ExportFormat, write_export
from bot.settings import Settings
from storage.engine import Database
from storage.models import Unit


def _date(text: str) -> date:
    try:
        return parse_cli_date(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date; use 25/11/2026 or 2026-11-25"
        ) from None


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add `export` to the `danvan` subcommands (the result of add_subparsers)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "export", help="export records to an Excel (.xlsx) or CSV (.zip) file"
    )
    parser.add_argument(
        "--from", dest="start", required=True, type=_date, help="first day, e.g. 01/11/2026"
    )
    parser.add_argument("--to", dest="end", required=True, type=_date, help="last day")
    parser.add_argument("--unit", help="unit code (default: the top-level unit)")
    parser.add_argument(
        "--format",
        choices=[fmt.value for fmt in ExportFormat],
        help="xlsx, or csv: a .zip of one CSV per sheet (default: from --out)",
    )
    parser.add_argument("--out", required=True, help="the file to write")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(handler=cmd_export)
    return parser


def _format(args: argparse.Namespace) -> ExportFormat:
    if args.format:
        return ExportFormat(args.format)
    return ExportFormat.CSV if Path(args.out).suffix.lower() == ".zip" else ExportFormat.XLSX


def cmd_export(settings: Settings, t: Translator, args: argparse.Namespace) -> int:
    start, end = args.start, args.end
    if start > end:
        raise CliError(
            t._(
                "--from ({start}) is after --to ({end}).",
                start=format_date(start),
                end=format_date(end),
            )
        )
    fmt = _format(args)
    out = Path(args.out)
    if fmt is ExportFormat.CSV and out.suffix.lower() == ".csv":
        raise CliError(
            t._("A CSV export is a .zip with one CSV file per sheet; name the --out file .zip.")
        )
    part = out.with_name(f".{out.name}.part")
    try:
        part.touch()
    except OSError as exc:
        raise CliError(
            t._("Cannot write {file}: {reason}", file=out, reason=exc.strerror)
        ) from None

    async def work(db: Database) -> tuple[Unit, ExportCounts]:
        async with db.session() as session:
            unit = await unit_or_root(session, t, args.unit)
            today = datetime.now(settings.tz).date()
            return unit, await write_export(session, unit, start, end, fmt, part, today=today)

    try:
        unit, counts = with_db(settings, work)
        os.replace(part, out)
    finally:
        part.unlink(missing_ok=True)
    if args.json:
        summary = {
            "path": str(out),
            "format": fmt.value,
            "unit": unit.code,
            "from": start.isoformat(),
            "to": end.isoformat(),
            "records": counts.records,
            "sheets": counts.by_sheet(),
        }
        print_json(summary)
    else:
        print(
            t._(
                "Exported {unit}, {start} – {end}, to {file}. Records: {records} (activities: "
                "{activities}, land pledges: {land}, workday entries: {workdays}).",
                records=counts.records,
                unit=unit.name,
                start=format_date(start),
                end=format_date(end),
                file=out,
                activities=counts.activities,
                land=counts.land,
                workdays=counts.workdays,
            )
        )
    return 0
