"""Conversation load: 200 coordinators each log a land pledge at the same time.

What runs. The real danvan Application (bot/app.py's build_application: long polling, the
per-chat concurrent update processor, the update inbox, DatabasePersistence) runs in this
process, in the test's event loop, against the project's fake Bot API (tests/fakebot) over
loopback HTTP, as tests/harness.py does. 200 coordinators, each in a group of their own (1
province, 4 wards, 200 groups), are seeded into a fresh database: an SQLite file (WAL) in a
temporary folder, or a fresh schema on the tests' PostgreSQL server. Each simulated coordinator
goes through the land-pledge flow of tests/test_e2e_flows.py: 3 typed messages and 8 button
presses, 11 updates, ending with ✅ Lưu; every round saves 200 land pledges (checked).

The baseline is bench/echo_bot.py: a bare PTB Application built the same way (polling, the
same update processor and rate limiter) that answers a message with one sendMessage and a button
with one answerCallbackQuery, driven by the same people with the same 11-update script.

Latency of one step: from the person's update being queued in the fake (from where the bot's
pending long poll takes it) to the fake having handled the bot's answer to it. "step" is the
answer that completes the step: for danvan the next question (sendMessage after a typed
answer, editMessageText after a tap, which writes the next question into the pressed message)
or the saved confirmation (sendMessage), which is what the person waits for; for the echo bot
its sendMessage or answerCallbackQuery. "first_reply" is the first answer of any kind in that
chat (sendMessage, editMessageText, editMessageReplyMarkup, answerCallbackQuery), e.g. a
button's spinner stopping.

Two load models, both with all 200 people at once:

* saturation (closed loop, no think time): each person sends the next update as soon as the
  previous step is answered. This measures throughput, updates per second over the whole run;
  latency is then mostly queueing (about 200 / throughput) and reported for information only.
  Repeated DANVAN_CONVERSATION_REPEAT times (default 3), echo and danvan interleaved; medians
  reported.
* realistic: each person waits a human think time before every step (uniform, seeded random)
  and the 200 start within the first 3 s. This gives the step latencies p50 and p95 that the
  latency target is about, at each pace of DANVAN_BENCH_THINK (comma-separated ranges of
  seconds, default "1-3,5-15"). At 1-3 s, 200 people offer about 90 updates/s, more than danvan
  carries here (the echo bot, with one Bot API call per update, does), so its latency there is
  queueing; the echo bot runs at this first pace only, as the harness's floor. At 5-15 s, people
  reading a question and typing or tapping on a phone, they offer about 20 updates/s: a busy
  moment, below saturation. Figures of a further pace carry it in their name
  ("step_p95@5-15s").

Targets (the issue): danvan's saturation throughput at least 50% of the echo bot's, and p95 of
the step latency in the realistic phase under 50 ms, on SQLite and on PostgreSQL.

Telegram's flood limits are left out: both bots get an AIORateLimiter without the overall
limit (the fake enforces none), so what is measured is the bot's own capacity. With
DANVAN_BENCH_RATE_LIMIT=production the limiter stays as bot/app.py makes it: 30 requests with
a chat_id per second for the whole bot, sendMessage and edits alike, which then bounds danvan at
about 25 updates/s (13 such requests in the 11 steps of a land pledge; answering a button
carries no chat_id).

Figures are noisy: the machine has 2 cores and other test runs share it, and the bot, the fake
and the simulated people share one core here. DANVAN_BENCH_PROFILE=FILE writes a cProfile of
danvan's first saturation round to FILE and prints its top functions; DANVAN_BENCH_USERS
changes the head count.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import gc
import io
import os
import pstats
import random
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import func, select
from telegram.ext import AIORateLimiter, Application

from bench.echo_bot import BUTTON, build_echo_application
from bench.results import report
from bot.domain.access import Role
from bot.domain.unit_csv import parse_unit_csv
from bot.settings import Settings
from bot.telegram.app import build_application, on_startup
from bot.telegram.runner import leave_loaded_objects_to_refcounting
from storage import units
from storage.engine import Database
from storage.migrate import upgrade
from storage.models import LandPledge, Member, pk
from tests.conftest import fresh_postgres_schema
from tests.fakebot import FakeBotAPI, FakeUser

TOKEN = "123456:BENCH-TOKEN"
USERS = int(os.environ.get("DANVAN_BENCH_USERS", "200"))
# Three rounds of each by default, for medians: one echo round alone varied by 40% here.
REPEAT = int(os.environ.get("DANVAN_CONVERSATION_REPEAT", "3"))
PRODUCTION_RATE_LIMIT = os.environ.get("DANVAN_BENCH_RATE_LIMIT", "") == "production"
PROFILE = os.environ.get("DANVAN_BENCH_PROFILE", "")
POSTGRES_URL = os.environ.get(
    "DANVAN_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
SEED = 20261125
Pace = tuple[float, float]
PACES: list[Pace] = [
    (float(low), float(high))
    for low, _, high in (
        pace.partition("-") for pace in os.environ.get("DANVAN_BENCH_THINK", "1-3,5-15").split(",")
    )
]
START_SPREAD_SECONDS = 3.0
STEP_TIMEOUT = 300.0
FIRST_ID = 900_001

THROUGHPUT_SHARE = 0.5
P95_TARGET_MS = 50.0

Step = tuple[str, str]  # ("say", text) or ("tap", button label)


def land_script(person: int, round_: int) -> list[Step]:
    """tests/test_e2e_flows.py's fill_land and save; a donor of their own, so no duplicates."""
    return [
        ("say", "🏡 Hiến đất"),
        ("say", f"Hộ ông Nguyễn Văn {person} lần {round_}"),
        ("say", "2 sào"),
        ("tap", "Đất ở"),
        ("tap", "Mở rộng đường"),
        ("tap", "Cam kết"),
        ("tap", "Hôm nay"),
        ("tap", "Bỏ qua"),  # assets
        ("tap", "Bỏ qua"),  # value
        ("tap", "Không có ảnh"),
        ("tap", "✅ Lưu"),
    ]


def echo_script(person: int, round_: int) -> list[Step]:
    """The same shape for the echo bot: 3 messages, then 8 presses of its button."""
    return [(kind, text if kind == "say" else BUTTON) for kind, text in land_script(person, round_)]


# --- the fake, watched ------------------------------------------------------------------------

REPLY_METHODS = ("sendMessage", "editMessageText", "editMessageReplyMarkup", "answerCallbackQuery")


@dataclass
class Watch:
    """One step of one person: when it was sent, first answered, and completed."""

    done_method: str
    sent: float = field(default_factory=time.perf_counter)
    first: float | None = None
    done: float | None = None
    event: asyncio.Event = field(default_factory=asyncio.Event)


class WatchedFake(FakeBotAPI):
    """The fake Bot API, telling each chat's current Watch when the bot answered there."""

    def __init__(self, token: str) -> None:
        super().__init__(token)
        self.watches: dict[int, Watch] = {}
        for name in REPLY_METHODS:
            key = name.lower()
            canonical, handler = self._methods[key]
            self._methods[key] = (canonical, self._watched(canonical, handler))

    def _watched(
        self, method: str, handler: Callable[[dict[str, Any]], Awaitable[Any]]
    ) -> Callable[[dict[str, Any]], Awaitable[Any]]:
        async def handle(params: dict[str, Any]) -> Any:
            result = await handler(params)
            now = time.perf_counter()
            if method == "answerCallbackQuery":
                chat = self._queries[str(params["callback_query_id"])].user.id
            else:
                chat = int(params["chat_id"])
            watch = self.watches.get(chat)
            if watch is not None and watch.done is None:
                if watch.first is None:
                    watch.first = now
                if method == watch.done_method:
                    watch.done = now
                    watch.event.set()
            return result

        return handle


# --- driving the people -------------------------------------------------------------------------


@dataclass
class Phase:
    updates: int
    seconds: float
    first_ms: list[float]
    step_ms: list[float]
    by_step: dict[int, list[float]]  # step_ms by the step's place in the script

    def slowest_steps(self, script: list[Step], count: int = 3) -> str:
        """The steps with the highest p95, e.g. for finding what makes the tail."""
        p95 = {n: self.p(values, 95) for n, values in self.by_step.items() if len(values) > 1}
        worst = sorted(p95, key=lambda n: -p95[n])[:count]
        return ", ".join(f"{script[n][1]!r} {p95[n]:.0f} ms" for n in worst)

    @property
    def per_second(self) -> float:
        return self.updates / self.seconds

    def p(self, which: list[float], q: int) -> float:
        return statistics.quantiles(which, n=100, method="inclusive")[q - 1]


DoneMethod = Callable[[Step], str]


def danvan_done(step: Step) -> str:
    """Each step ends with the next question: a new message after a typed answer, the pressed
    message edited after a tap; "✅ Lưu" ends with the "saved" message."""
    kind, text = step
    return "editMessageText" if kind == "tap" and text != "✅ Lưu" else "sendMessage"


def echo_done(step: Step) -> str:
    return "sendMessage" if step[0] == "say" else "answerCallbackQuery"


async def run_phase(
    fake: WatchedFake,
    people: list[FakeUser],
    script: Callable[[int, int], list[Step]],
    done_method: DoneMethod,
    round_: int,
    *,
    think: Pace | None,
) -> Phase:
    first_ms: list[float] = []
    by_step: dict[int, list[float]] = {}
    step_ms: list[float] = []

    async def person(index: int, user: FakeUser) -> None:
        rng = random.Random(SEED * 1000 + round_ * USERS + index)
        if think:
            await asyncio.sleep(rng.uniform(0, START_SPREAD_SECONDS))
        for step, (kind, text) in enumerate(script(index, round_)):
            if think:
                await asyncio.sleep(rng.uniform(*think))
            watch = Watch(done_method((kind, text)))
            fake.watches[user.id] = watch
            if kind == "say":
                await user.send(text)
            else:
                await user.press(user.messages()[-1], text=text)
            await asyncio.wait_for(watch.event.wait(), STEP_TIMEOUT)
            assert watch.done is not None and watch.first is not None
            first_ms.append((watch.first - watch.sent) * 1000)
            step_ms.append((watch.done - watch.sent) * 1000)
            by_step.setdefault(step, []).append(step_ms[-1])
        del fake.watches[user.id]

    started = time.perf_counter()
    await asyncio.gather(*(person(i, user) for i, user in enumerate(people)))
    elapsed = time.perf_counter() - started
    return Phase(len(step_ms), elapsed, first_ms, step_ms, by_step)


# --- the bots -----------------------------------------------------------------------------------


def bench_rate_limiter() -> AIORateLimiter | None:
    """None keeps bot/app.py's limiter; otherwise one without the overall 30/s limit."""
    return None if PRODUCTION_RATE_LIMIT else AIORateLimiter(overall_max_rate=0, max_retries=3)


@contextlib.asynccontextmanager
async def polling(application: Application[Any, Any, Any, Any, Any, Any]) -> AsyncIterator[None]:
    """Start, as tests/harness.py does; stop once everything sent has been handled."""
    await application.start()
    assert application.updater is not None
    await application.updater.start_polling(poll_interval=0, timeout=5)
    try:
        yield
    finally:
        await application.update_queue.join()
        await application.updater.stop()
        await application.stop()
        await application.shutdown()


@contextlib.asynccontextmanager
async def danvan_bot(fake: WatchedFake, db: Database) -> AsyncIterator[None]:
    settings = Settings(
        telegram_bot_token=TOKEN,
        telegram_api_url=fake.base_url,
        database_url=db.url,
        _env_file=None,
    )
    application = build_application(settings, db)
    limiter = bench_rate_limiter()
    if limiter is not None:
        application.bot._rate_limiter = limiter  # what the builder was given, nothing else
    await application.initialize()
    await on_startup(application, periodic_jobs=False)
    async with polling(application):
        leave_loaded_objects_to_refcounting()  # as `danvan run` does once polling
        yield


@contextlib.asynccontextmanager
async def echo_bot(fake: WatchedFake) -> AsyncIterator[None]:
    application = build_echo_application(TOKEN, fake.base_url, bench_rate_limiter())
    await application.initialize()
    async with polling(application):
        yield


# --- the database -------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def load_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of the benchmark's own: an SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'bench.db'}"
        return
    with fresh_postgres_schema("bench") as url:
        yield url


def units_csv(groups: int) -> bytes:
    lines = ["code,name,level,parent_code,former_name", "BN,Bắc Ninh,tỉnh,,"]
    lines += [f"P{w},phường {w},phường,BN," for w in range(1, 5)]
    lines += [f"G{g:03d},Tổ {g},tổ dân phố,P{g % 4 + 1}," for g in range(1, groups + 1)]
    return ("\n".join(lines) + "\n").encode()


async def seed(db: Database, people: int) -> None:
    """The unit tree and one coordinator per group."""
    rows, errors = parse_unit_csv(units_csv(people))
    assert not errors, errors
    async with db.session() as session:
        plan = await units.plan_import(session, rows)
        await units.apply_import(session, plan, actor_label="bench")
    async with db.session() as session:
        by_code = {unit.code: unit for unit in await units.list_all(session)}
        for n in range(people):
            session.add(
                Member(
                    telegram_id=FIRST_ID + n,
                    full_name=f"Nguyễn Thị Điều Phối {n}",
                    role=Role.COORDINATOR,
                    unit_id=pk(by_code[f"G{n + 1:03d}"]),
                )
            )


async def pledges(db: Database) -> int:
    async with db.session() as session:
        return (await session.exec(select(func.count()).select_from(LandPledge))).one()


# --- the benchmark ------------------------------------------------------------------------------


@dataclass
class GcPauses:
    """Python's full (generation 2) collections while a phase ran: they stop everything."""

    count: int = 0
    longest_ms: float = 0.0
    total_ms: float = 0.0
    _started: float = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
            return
        took = (time.perf_counter() - self._started) * 1000
        self.count += 1
        self.longest_ms = max(self.longest_ms, took)
        self.total_ms += took


@contextlib.contextmanager
def watching_gc() -> Iterator[GcPauses]:
    pauses = GcPauses()
    gc.callbacks.append(pauses)
    try:
        yield pauses
    finally:
        gc.callbacks.remove(pauses)


@contextlib.contextmanager
def profiled(path: str) -> Iterator[None]:
    if not path:
        yield
        return
    profile = cProfile.Profile()
    profile.enable()
    try:
        yield
    finally:
        profile.disable()
        profile.dump_stats(path)
        out = io.StringIO()
        stats = pstats.Stats(profile, stream=out)
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(45)
        print(out.getvalue())


def ms(value: float) -> str:
    return f"{value:.1f} ms"


async def test_conversation_load(load_database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    backend = "sqlite" if load_database_url.startswith("sqlite") else "postgres"
    name = f"conversation_load.{backend}"
    limits = "production rate limit" if PRODUCTION_RATE_LIMIT else "no flood limit"
    print(f"\n[bench] {name}: {USERS} people, {REPEAT} saturation rounds, {limits}")
    await upgrade(load_database_url)
    db = Database(load_database_url)
    echo_rates: list[float] = []
    danvan_rates: list[float] = []
    saturated: list[Phase] = []
    paced: list[Phase] = []
    gc_pauses: list[GcPauses] = []
    round_ = 0
    try:
        await seed(db, USERS)
        fake = WatchedFake(TOKEN)
        async with fake:
            people = [fake.user(FIRST_ID + n, first_name=f"Người {n}") for n in range(USERS)]
            for repeat in range(REPEAT):
                async with echo_bot(fake):
                    phase = await run_phase(fake, people, echo_script, echo_done, 0, think=None)
                echo_rates.append(phase.per_second)
                round_ += 1
                with profiled(PROFILE if repeat == 0 else ""):
                    async with danvan_bot(fake, db):
                        phase = await run_phase(
                            fake, people, land_script, danvan_done, round_, think=None
                        )
                assert await pledges(db) == USERS * round_
                danvan_rates.append(phase.per_second)
                saturated.append(phase)
                print(
                    f"[bench]   round {repeat + 1}: echo {echo_rates[-1]:.0f}/s, danvan "
                    f"{phase.per_second:.0f}/s (p50 {ms(phase.p(phase.step_ms, 50))}, "
                    f"p95 {ms(phase.p(phase.step_ms, 95))}, {phase.seconds:.1f} s)"
                )
            async with echo_bot(fake):
                echo_human = await run_phase(
                    fake, people, echo_script, echo_done, 0, think=PACES[0]
                )
            for pace in PACES:
                round_ += 1
                async with danvan_bot(fake, db):
                    with watching_gc() as pauses:
                        paced.append(
                            await run_phase(
                                fake, people, land_script, danvan_done, round_, think=pace
                            )
                        )
                    gc_pauses.append(pauses)
                assert await pledges(db) == USERS * round_
            assert not [e for e in fake.errors if e.method != "getUpdates"], fake.errors[:5]
            assert not any("Something went wrong" in m.body for m in fake.bot_messages())
    finally:
        await db.dispose()

    echo_rate = statistics.median(echo_rates)
    danvan_rate = statistics.median(danvan_rates)
    share = danvan_rate / echo_rate
    report(f"{name}.echo_updates_per_s", echo_rate, "updates/s", "baseline", True)
    report(
        f"{name}.updates_per_s",
        danvan_rate,
        "updates/s",
        f">= {THROUGHPUT_SHARE:.0%} of echo ({echo_rate * THROUGHPUT_SHARE:.0f}/s)",
        share >= THROUGHPUT_SHARE,
    )
    report(f"{name}.share_of_echo", share * 100, "%", f">= {THROUGHPUT_SHARE:.0%}", share >= 0.5)
    middle = sorted(saturated, key=lambda phase: phase.per_second)[len(saturated) // 2]
    for q in (50, 95):
        report(f"{name}.saturation_step_p{q}", middle.p(middle.step_ms, q), "ms", "info", True)
    phases = [("echo_", "", echo_human)] + [
        ("", "" if n == 0 else f"@{low:g}-{high:g}s", phase)
        for n, ((low, high), phase) in enumerate(zip(PACES, paced, strict=True))
    ]
    for label, suffix, phase in phases:
        for which, values in (("step", phase.step_ms), ("first_reply", phase.first_ms)):
            p50, p95 = phase.p(values, 50), phase.p(values, 95)
            report(f"{name}.{label}{which}_p50{suffix}", p50, "ms", "info", True)
            report(f"{name}.{label}{which}_p95{suffix}", p95, "ms", "< 50 ms", p95 < P95_TARGET_MS)
    for (low, high), phase, pauses in zip(PACES, paced, gc_pauses, strict=True):
        print(
            f"[bench] {name}: at {low:g}-{high:g} s a step, people offered "
            f"{phase.per_second:.0f} updates/s over {phase.seconds:.1f} s; slowest steps (p95): "
            f"{phase.slowest_steps(land_script(0, 0))}; {pauses.count} full garbage "
            f"collections, the longest {pauses.longest_ms:.0f} ms"
        )
    print(f"[bench] {name}: measured at {datetime.now(UTC):%H:%M:%S}")
