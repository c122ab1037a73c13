"""What `danvan health` and the webhook's /healthz report: the database, the Bot API, the
scheduler of the active process, and the last update it handled. No Telegram library here:
the Bot API is asked over plain HTTP."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from sqlalchemy import text

from bot.settings import Settings
from storage import outbox, runtime
from storage.engine import Database, begin_reading
from storage.outbox import OutboxHealth
from storage.runtime import ProcessStatus

HEARTBEAT_SECONDS = 10
# A process that has not reported for this long is taken for dead.
STALE_AFTER = timedelta(seconds=HEARTBEAT_SECONDS * 4)
TIMEOUT_SECONDS = 5.0
OUTBOX_LATE = timedelta(minutes=5)  # an owed message waiting longer needs attention


@dataclass
class Check:
    name: str  # database, bot_api, scheduler, last_update
    ok: bool
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class HealthReport:
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    def check(self, name: str) -> Check:
        return next(check for check in self.checks if check.name == name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            **{check.name: {"ok": check.ok, **check.detail} for check in self.checks},
        }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


async def check_database(
    db: Database, now: datetime
) -> tuple[Check, list[ProcessStatus], OutboxHealth | None]:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(TIMEOUT_SECONDS), db.session() as session:
            await begin_reading(session)  # a health check takes no write lock
            await session.exec(text("SELECT 1"))  # type: ignore[call-overload]
            latency = (time.perf_counter() - started) * 1000
            seen = await runtime.processes(session, seen_since=now - STALE_AFTER)
            waiting = await outbox.health(session)
    except Exception as exc:  # any failure is the report, never a crash
        return Check("database", False, {"error": type(exc).__name__}), [], None
    return Check("database", True, {"latency_ms": round(latency, 1)}), seen, waiting


def check_outbox(waiting: OutboxHealth | None, now: datetime) -> Check:
    """What people are owed and not sent yet: fine while the oldest is younger than
    OUTBOX_LATE (a chat whose sends keep failing is retried meanwhile)."""
    if waiting is None:
        return Check("outbox", False, {})
    age = (now - waiting.oldest_at).total_seconds() if waiting.oldest_at else 0.0
    detail = {"waiting": waiting.waiting, "oldest_seconds": round(age), "gave_up": waiting.gave_up}
    return Check("outbox", age < OUTBOX_LATE.total_seconds(), detail)


async def check_bot_api(settings: Settings) -> Check:
    """getMe over HTTP. The URL holds the token, so errors name only the kind of failure."""
    if settings.telegram_bot_token is None:
        return Check("bot_api", False, {"error": "TELEGRAM_BOT_TOKEN is not set"})
    url = f"{settings.bot_base_url()}{settings.telegram_bot_token.get_secret_value()}/getMe"
    started = time.perf_counter()
    try:
        timeout = aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
        async with aiohttp.ClientSession(timeout=timeout) as client, client.get(url) as response:
            body = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        return Check("bot_api", False, {"error": type(exc).__name__})
    latency = (time.perf_counter() - started) * 1000
    if not isinstance(body, dict) or not body.get("ok"):
        code = body.get("error_code") if isinstance(body, dict) else None
        return Check("bot_api", False, {"error": f"HTTP {response.status}", "error_code": code})
    username = (body.get("result") or {}).get("username")
    return Check("bot_api", True, {"username": username, "latency_ms": round(latency, 1)})


def check_processes(seen: list[ProcessStatus]) -> list[Check]:
    """`seen`: the processes that reported lately, the active one first."""
    active = next((p for p in seen if p.active), None)
    standbys = sum(1 for p in seen if not p.active)
    if active is None:
        return [
            Check("scheduler", False, {"error": "no active danvan process", "standbys": standbys}),
            Check("last_update", False, {}),
        ]
    scheduler = Check(
        "scheduler",
        active.scheduled_jobs > 0,
        {
            "instance": active.instance,
            "host": active.host,
            "pid": active.pid,
            "mode": active.mode,
            "jobs": active.scheduled_jobs,
            "next_run": _iso(active.next_job_at),
            "heartbeat": _iso(active.heartbeat_at),
            "standbys": standbys,
        },
    )
    last = Check(
        "last_update",
        True,
        {"update_id": active.last_update_id, "at": _iso(active.last_update_at)},
    )
    return [scheduler, last]


async def check_health(settings: Settings, db: Database, now: datetime) -> HealthReport:
    (database, seen, waiting), bot_api = await asyncio.gather(
        check_database(db, now), check_bot_api(settings)
    )
    return HealthReport([database, bot_api, *check_processes(seen), check_outbox(waiting, now)])
