"""Reminders and digests on PTB's JobQueue (APScheduler), in the configured time zone.

Jobs are made from the schedules in the database: one job per distinct slot (kind, day, time)
among the units' effective schedules. They are rebuilt at start and whenever a schedule
changes. A job that fires asks which units have that slot, builds their sends, and hands them
to the delivery, which claims each in the SendLedger first. At start, the latest due time of
every slot is run again: what was missed while the bot was down is caught up (or skipped when
too late), and what was already sent is not sent again. Before that, the sends an earlier bot
process claimed but never finished (it was killed mid-batch) are recovered, so the catch-up
finishes its batch at once instead of after the ledger's stale timeout.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession
from telegram.ext import Application, CallbackContext, Job

from bot.domain.access import DIGEST_ROLES, Role
from bot.domain.i18n import translator
from bot.domain.outgoing import Send, SendKind
from bot.domain.periods import week_key, week_start
from bot.domain.reminders import followup, reminder, stale_pledges
from bot.domain.schedule import (
    SNOOZE,
    CatchUp,
    QuietHours,
    Slot,
    catch_up,
    period_key,
    ptb_days,
    slots_of,
)
from bot.services.digests import digest_sends
from bot.settings import Settings
from bot.telegram.delivery import Delivery
from storage import ledger, schedules, state
from storage import reminders as queries
from storage.engine import Database
from storage.models import Unit

log = logging.getLogger(__name__)

SLOT_JOB_PREFIX = "slot:"
SNOOZE_NAMESPACE = "snooze"
OFFICIALS = (Role.OFFICIAL, Role.ADMIN)
SHORTEST_MONTH = 28  # days

AnyApplication = Application[Any, Any, Any, Any, Any, Any]


class Scheduler:
    """Everything scheduled, for one Application."""

    def __init__(self, application: AnyApplication) -> None:
        self.application = application
        self.settings: Settings = application.bot_data["settings"]
        self.db: Database = application.bot_data["db"]
        self.clock: Callable[[], datetime] = application.bot_data["clock"]
        self.quiet = QuietHours(self.settings.quiet_start, self.settings.quiet_end)
        self.claimant = ledger.new_claimant(ledger.BOT)
        self.delivery = Delivery(application.bot, self.db, clock=self.clock, claimant=self.claimant)

    @property
    def tz(self) -> Any:
        return self.settings.tz

    # --- jobs ------------------------------------------------------------------------------

    async def slots(self) -> set[Slot]:
        async with self.db.session() as session:
            times = await schedules.effective_times(session)
        return {slot for unit_times in times.values() for slot in slots_of(unit_times).values()}

    def fire_time(self, slot: Slot) -> tuple[time, int | None, int | None]:
        """When the job runs: the slot moved out of quiet hours, as (time, weekday, day)."""
        sample = slot.next_due(self.clock(), self.tz)
        released = self.quiet.release(sample)
        shift = (released.date() - sample.date()).days
        weekday = None if slot.weekday is None else (slot.weekday + shift) % 7
        day = None if slot.day is None else slot.day + shift
        if day is not None and day > SHORTEST_MONTH:
            # A job on the 29th would never run in February: run on the slot's own day and
            # let `run` wait for the quiet hours to end.
            return sample.timetz(), None, slot.day
        return released.timetz(), weekday, day

    async def refresh(self) -> None:
        """Rebuild the slot jobs after schedules or the tree changed, if this application
        runs them (tests that drive the clock themselves do not)."""
        queue = self.application.job_queue
        if queue is not None and any(
            job.name and job.name.startswith(SLOT_JOB_PREFIX) for job in queue.jobs()
        ):
            await self.rebuild()

    async def rebuild(self) -> list[Job[Any]]:
        """Replace the slot jobs with those the schedules in the database call for."""
        queue = self.application.job_queue
        assert queue is not None
        for job in queue.jobs():
            if job.name and job.name.startswith(SLOT_JOB_PREFIX):
                job.schedule_removal()
        made = []
        for slot in sorted(await self.slots(), key=str):
            at, weekday, day = self.fire_time(slot)
            name = f"{SLOT_JOB_PREFIX}{slot.kind}:{slot.weekday}:{slot.day}:{slot.at}"
            if weekday is not None:
                made.append(
                    queue.run_daily(self._fire, at, days=ptb_days(weekday), data=slot, name=name)
                )
            else:
                assert day is not None
                made.append(queue.run_monthly(self._fire, at, day, data=slot, name=name))
        return made

    async def _fire(self, context: CallbackContext[Any, Any, Any, Any]) -> None:
        assert context.job is not None and isinstance(context.job.data, Slot)
        slot = context.job.data
        now = self.clock()
        await self.run(slot, slot.last_due(now, self.tz), now)

    async def catch_up(self) -> None:
        """Run the latest due time of every slot, and re-arm pending snoozes."""
        now = self.clock()
        for slot in sorted(await self.slots(), key=str):
            await self.run(slot, slot.last_due(now, self.tz), now)
        await self.restore_snoozes()

    async def recover_claims(self) -> int:
        """At start-up of the active bot, before the catch-up: take over at once the sends that
        earlier bot processes claimed and never finished (killed mid-batch), rather than after
        the ledger's stale timeout. Only the active bot may: it is the only one sending."""
        async with self.db.session() as session:
            recovered = await ledger.recover_orphans(session, self.claimant, active_bot=True)
        if recovered:
            log.info("Taking over %d send(s) left unfinished by an earlier process", recovered)
        return recovered

    # --- running a slot --------------------------------------------------------------------

    async def run(self, slot: Slot, due: datetime, now: datetime) -> None:
        """Send what `slot` due at `due` calls for, as seen at `now`."""
        effective_due = self.quiet.release(due.astimezone(self.tz))  # quiet hours are local
        decision = catch_up(slot.kind, effective_due, now, self.quiet, self.tz)
        if decision is CatchUp.WAIT:
            queue = self.application.job_queue
            assert queue is not None

            async def after_quiet(_context: CallbackContext[Any, Any, Any, Any]) -> None:
                await self.run(slot, due, self.clock())

            queue.run_once(
                after_quiet,
                self.quiet.release(now.astimezone(self.tz)),
                name=f"wait:{slot.kind}:{due.isoformat()}",
            )
            return
        if decision is CatchUp.SKIP:
            skipped = await self.skips_for(slot, due)
            async with self.db.session() as session:
                await ledger.record_skips(session, skipped, "too late", now, due_at=due)
            log.info("Skipped %d %s send(s) due %s", len(skipped), slot.kind, due)
            return
        sends = await self.sends_for(slot, due)
        if sends:
            report = await self.delivery.deliver(sends)
            log.info("%s due %s: %s", slot.kind, due, report)
            if report.in_progress:
                # Claimed by a process that died moments ago: try once its claims go stale.
                self._retry_later(slot, due)

    def _retry_later(self, slot: Slot, due: datetime) -> None:
        queue = self.application.job_queue
        assert queue is not None

        async def retry(_context: CallbackContext[Any, Any, Any, Any]) -> None:
            await self.run(slot, due, self.clock())

        queue.run_once(
            retry,
            ledger.STALE_AFTER + timedelta(minutes=1),
            name=f"retry:{slot.kind}:{due.isoformat()}",
        )

    async def units_with(self, slot: Slot) -> list[int]:
        async with self.db.session() as session:
            times = await schedules.effective_times(session)
        return [unit_id for unit_id, t in times.items() if slot in slots_of(t).values()]

    async def sends_for(self, slot: Slot, due: datetime) -> list[Send]:
        unit_ids = await self.units_with(slot)
        day = due.astimezone(self.tz).date()
        key = period_key(slot.kind, due, self.tz)
        if slot.kind is SendKind.REMINDER:
            return await self._reminders(unit_ids, week_start(day), key, due)
        if slot.kind is SendKind.FOLLOWUP:
            return await self._followups(unit_ids, week_start(day), key, due)
        if slot.kind is SendKind.MONTHLY_DIGEST:
            return [
                *await self._digests(slot.kind, unit_ids, key, due),
                *await self._stale_pledges(unit_ids, day, due),
            ]
        return await self._digests(slot.kind, unit_ids, key, due)

    async def skips_for(self, slot: Slot, due: datetime) -> list[tuple[SendKind, int, str]]:
        """(kind, chat, period key) of the sends `slot` due at `due` would call for, without
        making digests or follow-ups no one will get (at every start, the last ones are
        usually too late to send; building them all took most of a start's work)."""
        if slot.kind is SendKind.REMINDER:
            return [
                (send.kind, send.chat_id, send.period_key)
                for send in await self.sends_for(slot, due)
            ]
        # A follow-up skipped is recorded for every official, also those whose groups all
        # reported: finding which did not is what a skip should not spend time on.
        roles: tuple[Role, ...] = OFFICIALS if slot.kind is SendKind.FOLLOWUP else DIGEST_ROLES
        unit_ids = await self.units_with(slot)
        key = period_key(slot.kind, due, self.tz)
        async with self.db.session() as session:
            people = await queries.area_members(session, unit_ids, roles)
        skipped: list[tuple[SendKind, int, str]] = [
            (slot.kind, person.telegram_id, key) for person in people
        ]
        if slot.kind is SendKind.MONTHLY_DIGEST:
            day = due.astimezone(self.tz).date()
            wanted = set(unit_ids)
            async with self.db.session() as session:
                reporters = await queries.stale_pledge_reporters(session, day)
            stale_key = period_key(SendKind.STALE_PLEDGES, due, self.tz)
            skipped += [
                (SendKind.STALE_PLEDGES, person.telegram_id, stale_key)
                for person in reporters
                if person.unit_id in wanted
            ]
        return skipped

    async def _reminders(
        self, unit_ids: list[int], week: date, key: str, due: datetime
    ) -> list[Send]:
        async with self.db.session() as session:
            people = await queries.silent_coordinators(session, unit_ids, week)
        return [
            Send(
                SendKind.REMINDER,
                person.telegram_id,
                key,
                [reminder(translator(person.language), week)],
                member_id=person.member_id,
                due_at=due,
            )
            for person in people
        ]

    async def _followups(
        self, unit_ids: list[int], week: date, key: str, due: datetime
    ) -> list[Send]:
        sends = []
        async with self.db.session() as session:
            officials = await queries.area_members(session, unit_ids, OFFICIALS)
            for official in officials:
                area = await session.get(Unit, official.unit_id)
                assert area is not None
                groups = await queries.silent_groups(session, area, week)
                if not groups:
                    continue
                t = translator(official.language)
                sends.append(
                    Send(
                        SendKind.FOLLOWUP,
                        official.telegram_id,
                        key,
                        followup(t, area.name, week, groups),
                        member_id=official.member_id,
                        due_at=due,
                    )
                )
        return sends

    async def _stale_pledges(self, unit_ids: list[int], today: date, due: datetime) -> list[Send]:
        key = period_key(SendKind.STALE_PLEDGES, due, self.tz)
        wanted = set(unit_ids)
        async with self.db.session() as session:
            by_person = await queries.stale_pledges(session, today)
        return [
            Send(
                SendKind.STALE_PLEDGES,
                person.telegram_id,
                key,
                stale_pledges(translator(person.language), pledges),
                member_id=person.member_id,
                due_at=due,
            )
            for person, pledges in by_person.items()
            if person.unit_id in wanted
        ]

    async def _digests(
        self, kind: SendKind, unit_ids: list[int], key: str, due: datetime
    ) -> list[Send]:
        return await digest_sends(self.db, kind, unit_ids, key, due, self.tz)

    # --- snooze ------------------------------------------------------------------------------

    async def snooze(self, session: AsyncSession, telegram_id: int, now: datetime) -> datetime:
        """Remind this coordinator again in two hours (once), surviving a restart. Runs in
        the caller's session: a second one would wait on SQLite's write lock it holds."""
        due = self.quiet.release((now + SNOOZE).astimezone(self.tz))
        week = week_start(now.astimezone(self.tz).date())
        await state.save(
            session,
            SNOOZE_NAMESPACE,
            str(telegram_id),
            {"due": due.isoformat(), "week": week.isoformat()},
        )
        self._arm_snooze(telegram_id, due)
        return due

    def _arm_snooze(self, telegram_id: int, due: datetime) -> None:
        queue = self.application.job_queue
        assert queue is not None

        async def remind_again(_context: CallbackContext[Any, Any, Any, Any]) -> None:
            await self.send_snoozed(telegram_id)

        queue.run_once(remind_again, due, name=f"snooze:{telegram_id}")

    async def restore_snoozes(self) -> None:
        async with self.db.session() as session:
            pending = await state.load_namespace(session, SNOOZE_NAMESPACE)
        now = self.clock()
        for key, data in pending.items():
            due = datetime.fromisoformat(data["due"])
            if due <= now:
                await self.send_snoozed(int(key))
            else:
                self._arm_snooze(int(key), due)

    async def send_snoozed(self, telegram_id: int) -> None:
        async with self.db.session() as session:
            data = await state.load_one(session, SNOOZE_NAMESPACE, str(telegram_id))
            await state.delete(session, SNOOZE_NAMESPACE, str(telegram_id))
            if data is None:
                return
            week = date.fromisoformat(data["week"])
            due = datetime.fromisoformat(data["due"])
            people = await queries.silent_coordinators_by_telegram(session, telegram_id, week)
        if self.clock() - due > timedelta(hours=6):
            return
        sends = [
            Send(
                SendKind.REMINDER_SNOOZE,
                person.telegram_id,
                week_key(week),
                [reminder(translator(person.language), week, snoozed=True)],
                member_id=person.member_id,
                due_at=due,
            )
            for person in people
        ]
        if sends:
            await self.delivery.deliver(sends)


def scheduler(application: AnyApplication) -> Scheduler:
    found: Scheduler | None = application.bot_data.get("scheduler")
    if found is None:
        found = application.bot_data["scheduler"] = Scheduler(application)
    return found
