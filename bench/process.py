"""The bot and the CLI as real processes: start them, watch their memory (VmHWM from /proc)."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import SQLModel

from bench.seed import TZ
from tests.bot_process import bot_env as tests_bot_env

ROOT = Path(__file__).resolve().parent.parent


def bot_env(api_url: str, database_url: str, **extra: str) -> dict[str, str]:
    return tests_bot_env(api_url, database_url, PYTHONPATH=str(ROOT), **extra)


async def start_bot(
    folder: Path, api_url: str, database_url: str, **extra: str
) -> asyncio.subprocess.Process:
    """`python -m bot.cli run`, its output in folder/bot.log."""
    log = (folder / "bot.log").open("wb")
    try:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.cli",
            "run",
            cwd=folder,
            env=bot_env(api_url, database_url, **extra),
            stdout=log,
            stderr=log,
        )
    finally:
        log.close()


async def stop_bot(process: asyncio.subprocess.Process) -> int:
    if process.returncode is None:
        process.terminate()
    return await asyncio.wait_for(process.wait(), timeout=60)


def status_kb(pid: int, field: str) -> int:
    """A figure of /proc/<pid>/status in kB, e.g. VmHWM (peak RSS) or VmRSS."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise LookupError(field)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


async def wait_quiet(pid: int, *, quiet_for: float = 3.0, limit: float = 300.0) -> float:
    """Wait until the process has used (almost) no CPU for `quiet_for` seconds; returns the
    seconds waited."""
    started = time.monotonic()
    last, last_change = cpu_seconds(pid), time.monotonic()
    while time.monotonic() - started < limit:
        await asyncio.sleep(0.5)
        now = cpu_seconds(pid)
        if now - last > 0.05:
            last, last_change = now, time.monotonic()
        elif time.monotonic() - last_change >= quiet_for:
            break
    return time.monotonic() - started


def schedule_weekly_digest_now(database_url: str) -> tuple[datetime, str]:
    """Make the top-level unit's weekly digest fall due two minutes ago (inherited by every
    unit), and quiet hours that do not cover now: a bot started now catches the digest up at
    once, as the scheduler does after a restart. Returns the due time and QUIET_HOURS."""
    due = (datetime.now(TZ) - timedelta(minutes=2)).replace(second=0, microsecond=0)
    quiet_start = due + timedelta(hours=6)
    quiet = f"{quiet_start:%H:%M}-{quiet_start + timedelta(hours=1):%H:%M}"
    engine = sa.create_engine(database_url)
    schedule = SQLModel.metadata.tables["schedule"]
    try:
        with engine.begin() as connection:
            connection.execute(schedule.delete())
            connection.execute(
                schedule.insert(),
                [
                    {
                        "unit_id": 1,
                        "weekly_digest_weekday": due.weekday(),
                        "weekly_digest_time": due.time(),
                        "updated_at": datetime.now(TZ),
                    }
                ],
            )
    finally:
        engine.dispose()
    return due, quiet
