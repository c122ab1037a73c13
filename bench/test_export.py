"""5. Export: `danvan export` of about 100.000 records (the province, the latest months) to
XLSX, as a real process. Wall time and the process's own peak RSS (VmHWM), each also as a share
of its target (under 10 s, under 200 MB); and, for information, the process's CPU time, which
other work on the machine disturbs less than the wall time."""

from __future__ import annotations

import contextlib
import resource
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import sqlalchemy as sa

from bench.conftest import REPEAT, median
from bench.process import ROOT, bot_env, status_kb
from bench.results import report
from bench.seed import Dataset

RECORDS = 100_000
TARGET_SECONDS = 10
TARGET_MB = 200


def range_of(data: Dataset, records: int = RECORDS) -> tuple[date, date]:
    """The latest days holding about `records` live records."""
    engine = sa.create_engine(data.url.replace("postgresql://", "postgresql+psycopg://"))
    union = " UNION ALL ".join(
        f"SELECT on_date FROM {table} WHERE deleted_at IS NULL"
        for table in ("activity", "land_pledge", "workday")
    )
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text(f"SELECT on_date, count(*) FROM ({union}) AS r GROUP BY on_date")
            ).all()
    finally:
        engine.dispose()
    per_day = {(day if isinstance(day, date) else date.fromisoformat(day)): n for day, n in rows}
    start, total = data.end, 0
    while total < records:
        total += per_day.get(start, 0)
        start -= timedelta(days=1)
    return start + timedelta(days=1), data.end


def cpu_of_children() -> float:
    """CPU seconds of the child processes waited for so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_export(data: Dataset, out: Path, start: date, end: date) -> tuple[float, float, float, str]:
    """Seconds, CPU seconds, peak RSS in MB, and the output of one `danvan export`."""
    cpu_before = cpu_of_children()
    started = time.perf_counter()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bot.cli",
            "export",
            "--from",
            start.isoformat(),
            "--to",
            end.isoformat(),
            "--format",
            "xlsx",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        env=bot_env("http://127.0.0.1:9", data.url),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    # VmHWM while it runs: wait4's ru_maxrss would count the RSS of this (forked) process too.
    peak = 0
    while process.poll() is None:
        with contextlib.suppress(FileNotFoundError, LookupError, ProcessLookupError):
            peak = max(peak, status_kb(process.pid, "VmHWM"))
        time.sleep(0.02)
    seconds = time.perf_counter() - started
    cpu = cpu_of_children() - cpu_before  # the export's alone: poll() has waited for it
    assert process.stdout is not None
    output = process.stdout.read().decode()
    assert process.returncode == 0, output
    return seconds, cpu, peak / 1024, output


def test_export_of_a_hundred_thousand_records(dataset: Dataset, tmp_path: Path) -> None:
    start, end = range_of(dataset)
    times, cpus, peaks = [], [], []
    output = ""
    for attempt in range(REPEAT):
        out = tmp_path / f"export{attempt}.xlsx"
        seconds, cpu, peak, output = run_export(dataset, out, start, end)
        assert out.stat().st_size > 1_000_000
        times.append(seconds)
        cpus.append(cpu)
        peaks.append(peak)
    print(
        f"\n[bench] export {start}..{end}: {times} s, CPU {cpus} s, {peaks} MB; "
        f"{output.strip()[-300:]}"
    )
    backend = dataset.backend
    seconds, cpu, peak = median(times), median(cpus), median(peaks)
    fast, small = seconds < TARGET_SECONDS, peak < TARGET_MB
    report(f"export.{backend}.seconds", seconds, "s", f"< {TARGET_SECONDS} s", fast)
    report(f"export.{backend}.seconds_of_target", seconds / TARGET_SECONDS, "x", "< 1", fast)
    report(f"export.{backend}.peak_rss", peak, "MB", f"< {TARGET_MB} MB", small)
    report(f"export.{backend}.peak_rss_of_target", peak / TARGET_MB, "x", "< 1", small)
    report(f"export.{backend}.cpu_seconds", cpu, "s", "info: the process's CPU time", True)
