"""Delivering reminders, digests and broadcasts: each Send exactly once, within Telegram's limits.

For every Send: claim it in the SendLedger (a short transaction of its own, committed before
anything goes out), send its messages in order, then record the outcome at once:
"sent", "unreachable" (403, the person blocked the bot; the member is flagged too) or "failed"
(after bounded retries, with the error). A Send the ledger already has is not sent again.

Exactly once, and its one edge: a claim whose process died before recording the outcome is taken
over after `stale_after`, or at once when it is known to be orphaned (see storage.ledger: the
active bot at start-up recovers earlier bot processes' claims, a CLI run those of dead CLI
processes on its host). If Telegram had already accepted the message, the person gets it
twice. The same holds for a retried TimedOut, which Telegram may have accepted too. A claim
cancelled (a graceful shutdown) before any of its messages was handed to the Bot is given back
at once, so the next start sends it without waiting for the timeout. Sends claimed elsewhere
and not recovered are reported `in_progress`: a live process's, or a dead one's that could not
be told dead (another host); a delivery run after `stale_after` picks those up. If the
database fails, the batch stops with that error.

`send_messages` sends what a person just asked for (a preview) outside the ledger, with the
same rendering, pacing and retries.

Limits, in two layers:
- SendLimiter (here) paces what Delivery sends: at most `global_rate` messages in any window of
  `period + margin` seconds overall, and `per_chat_rate` per chat (PTB's AIORateLimiter does not
  limit private chats, and a digest is several messages to one chat). Workers run concurrently,
  so a chat waiting for its next slot does not hold up the others. Paced like this, Telegram
  should not answer 429 at all.
- The Application's ExtBot, when given, adds PTB's AIORateLimiter beneath: it shares the 30/s
  budget with interactive replies, and absorbs a 429 itself (halting all the bot's requests for
  `retry_after`, up to its max_retries) before Delivery sees one. A RetryAfter that still comes
  through is waited out here with the injected `sleep`, up to `max_flood_waits` times, without
  counting as a failed attempt. Retrying a 429 never duplicates: Telegram did not take it.
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.warnings import PTBDeprecationWarning

from bot.domain.outgoing import Attachment, Button, OutMessage, Report, Send, SendOutcome
from storage import ledger
from storage.engine import Database
from storage.outbox import current_work

log = logging.getLogger(__name__)

# Telegram's limits: about 30 messages a second overall, and 1 a second in one chat.
GLOBAL_RATE = 30
PER_CHAT_RATE = 1
RATE_PERIOD = 1.0  # seconds
# Requests reach Telegram a little later than they leave, and not all equally late; counting
# each window as this much longer keeps a burst of on-time sends from looking too dense there.
RATE_MARGIN = 0.1  # seconds
MAX_ATTEMPTS = 3  # tries of one message on a refusal (400 and the like)
BACKOFF = 1.0  # seconds before the second try; doubled before each further one
# Telegram unreachable or a 5xx is an outage that passes: the message is tried again, the backoff
# doubling up to MAX_BACKOFF, until OUTAGE_BUDGET seconds were spent waiting for it. Not a
# timeout: Telegram may have taken the message, so each retry risks a duplicate (MAX_ATTEMPTS).
MAX_BACKOFF = 30.0
OUTAGE_BUDGET = 15 * 60.0
MAX_FLOOD_WAITS = 5  # 429s waited out for one message before giving up
CONCURRENCY = 32  # Sends in progress at once (most of them waiting for their chat's slot)

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


class Hit:
    """One request counted by the limiter: at first when it leaves, then (`SendLimiter.done`)
    when its answer is back. It reached Telegram somewhere in between, so counting the later
    time keeps a slow upload followed by a quick send from landing too close together."""

    __slots__ = ("at",)

    def __init__(self, at: float) -> None:
        self.at = at


class SendLimiter:
    """Sliding-window pacing: at most `global_rate` requests in any `period + margin`
    seconds, and at most `per_chat_rate` for one chat. `clock` (monotonic seconds) and `sleep`
    are injectable; share one limiter among everything that sends for the same bot."""

    def __init__(
        self,
        global_rate: int = GLOBAL_RATE,
        per_chat_rate: int = PER_CHAT_RATE,
        *,
        period: float = RATE_PERIOD,
        margin: float = RATE_MARGIN,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if global_rate < 1 or per_chat_rate < 1 or period <= 0 or margin < 0:
            raise ValueError("rates must be at least 1, the period positive, the margin >= 0")
        self.global_rate = global_rate
        self.per_chat_rate = per_chat_rate
        self.window = period + margin
        self._clock = clock
        self._sleep = sleep
        self._recent: deque[Hit] = deque()
        self._by_chat: dict[int, deque[Hit]] = {}
        self._tidy_above = 1024
        # Those whose chat has room queue here in order for the overall budget, so a chat
        # waiting for its own next slot never holds up the others.
        self._lock = asyncio.Lock()

    def _wait(self, hits: deque[Hit], limit: int, now: float) -> float:
        """Seconds until one more hit fits, after forgetting those out of the window."""
        cutoff = now - self.window
        while hits and hits[0].at <= cutoff:
            hits.popleft()
        if len(hits) < limit:
            return 0.0
        # `done` moves hits later, so they are not in order of time any more.
        inside = sorted(hit.at for hit in hits if hit.at > cutoff)
        return 0.0 if len(inside) < limit else inside[len(inside) - limit] + self.window - now

    def _chat(self, chat_id: int) -> deque[Hit]:
        return self._by_chat.setdefault(chat_id, deque())

    def _tidy(self, now: float) -> None:
        """Forget chats with nothing in the window, now and then (amortised)."""
        if len(self._by_chat) <= self._tidy_above:
            return
        cutoff = now - self.window
        self._by_chat = {
            c: hits for c, hits in self._by_chat.items() if any(h.at > cutoff for h in hits)
        }
        self._tidy_above = max(1024, 2 * len(self._by_chat))

    async def acquire(self, chat_id: int) -> Hit:
        """Wait until one more message to `chat_id` fits both limits, and count it. Call
        `done` with the result once Telegram has answered."""
        while True:
            wait = self._wait(self._chat(chat_id), self.per_chat_rate, self._clock())
            if wait > 0:
                await self._sleep(wait)
                continue
            async with self._lock:
                while (wait := self._wait(self._recent, self.global_rate, self._clock())) > 0:
                    await self._sleep(wait)
                now = self._clock()
                chat = self._chat(chat_id)
                if self._wait(chat, self.per_chat_rate, now) > 0:
                    continue  # another send to the same chat took the slot meanwhile
                hit = Hit(now)
                self._recent.append(hit)
                chat.append(hit)
                self._tidy(now)
                return hit

    def done(self, hit: Hit) -> None:
        """The request's answer is back: count it from now."""
        hit.at = max(hit.at, self._clock())


@dataclass(frozen=True)
class _Part:
    """One Bot API call: a text, or an attachment, with the message's buttons on the first."""

    text: str | None
    attachment: Attachment | None
    buttons: list[list[Button]]


async def _prepare(parts: list[_Part]) -> None:
    """Read what the parts' files need (see Attachment.prepare), before any is sent."""
    for part in parts:
        if part.attachment is not None:
            await part.attachment.prepare()


def _parts(messages: Iterable[OutMessage]) -> list[_Part]:
    parts: list[_Part] = []
    for message in messages:
        buttons = message.buttons
        if message.text.strip():
            parts.append(_Part(message.text, None, buttons))
            buttons = []
        for attachment in message.attachments:
            parts.append(_Part(None, attachment, buttons))
            buttons = []
    return parts


def _markup(buttons: list[list[Button]]) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(b.label, callback_data=b.data) for b in row] for row in buttons]
    )


def _seconds(error: RetryAfter) -> float:
    with warnings.catch_warnings():  # an int is deprecated; a timedelta with PTB_TIMEDELTA=true
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class _GaveUp(Exception):
    def __init__(self, error: TelegramError, tries: int) -> None:
        super().__init__(f"{type(error).__name__}: {error.message} ({tries} tries)")
        self.error = error


@dataclass
class _Progress:
    parts: int
    done: int = 0
    requested: bool = False  # a part was handed to the Bot: Telegram may have it


async def _to_the_end(
    work: Awaitable[T], *, if_cancelled: Callable[[T], Awaitable[None]] | None = None
) -> T:
    """Run `work` to completion even if the caller is cancelled (once or more) meanwhile; then
    hand its result to `if_cancelled` and re-raise. Ledger bookkeeping is never cut in half."""
    task = asyncio.ensure_future(work)
    cancelled = False
    while True:
        try:
            result = await asyncio.shield(task)
            break
        except asyncio.CancelledError:
            if task.cancelled():  # the work itself was cancelled (the loop is closing)
                raise
            cancelled = True
    if not cancelled:
        return result
    if if_cancelled is not None:
        await _to_the_end(if_cancelled(result))
    raise asyncio.CancelledError


class Delivery:
    """Sends Sends through `bot`, once each, paced by `limiter`. Make one per Application and
    share it, so that the pacing covers everything the bot sends on its own.

    `clock` gives the ledger's timestamps (aware UTC); `sleep` waits out 429s and backoffs.
    `claimant` (storage.ledger.new_claimant) is recorded with each claim, so that the claims of
    a process that died can be recovered without waiting for `stale_after`.
    """

    def __init__(
        self,
        bot: Bot,
        db: Database,
        *,
        clock: Callable[[], datetime],
        sleep: Sleep = asyncio.sleep,
        limiter: SendLimiter | None = None,
        max_attempts: int = MAX_ATTEMPTS,
        backoff: float = BACKOFF,
        outage_budget: float = OUTAGE_BUDGET,
        max_flood_waits: int = MAX_FLOOD_WAITS,
        stale_after: timedelta = ledger.STALE_AFTER,
        concurrency: int = CONCURRENCY,
        claimant: str | None = None,
    ) -> None:
        if max_attempts < 1 or concurrency < 1:
            raise ValueError("max_attempts and concurrency must be at least 1")
        self.bot = bot
        self.db = db
        self.limiter = limiter or SendLimiter()
        self._clock = clock
        self._sleep = sleep
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._outage_budget = outage_budget
        self._max_flood_waits = max_flood_waits
        self._stale_after = stale_after
        self._concurrency = concurrency
        self.claimant = claimant

    async def deliver(self, sends: Iterable[Send], *, force: bool = False) -> Report:
        """Send each Send the ledger does not have yet; `force` sends again those it has (an
        admin's re-send), counting a new attempt. Returns the outcome counts."""
        work = current_work()
        if work is not None and work.capturing:  # asked for in an update: sent now, and each
            # recorded in the ledger once Telegram took it
            with work.sending_directly():
                return await self.deliver(sends, force=force)
        batch = list(sends)
        pending = iter(batch)
        report = Report()

        async def worker() -> None:
            for send in pending:  # shared: each Send goes to whichever worker is free
                report.add(await self.deliver_one(send, force=force), send)

        workers = [asyncio.create_task(worker()) for _ in range(min(self._concurrency, len(batch)))]
        try:
            await asyncio.gather(*workers)
        except asyncio.CancelledError:
            # A shutdown: gather cancelled the workers; let them give back their claims that
            # never reached Telegram before we go.
            await asyncio.gather(*workers, return_exceptions=True)
            raise
        except Exception:  # the database failed: stop the others the same way
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            raise
        return report

    async def send_messages(self, chat_id: int, messages: Sequence[OutMessage]) -> None:
        """Send `messages` now, outside the ledger (something the person just asked for), paced
        and retried like the rest. Raises the TelegramError that made it give up (a 403 at
        once)."""
        parts = _parts(messages)
        await _prepare(parts)
        work = current_work()
        if work is not None and work.capturing:
            # Within an update: owed, sent after it commits, paced and retried by the outbox.
            for part in parts:
                if part.attachment is not None:
                    await asyncio.to_thread(part.attachment.data)
                await self._call(chat_id, part)
            return
        progress = _Progress(len(parts))
        for part in parts:
            try:
                await self._send_part(chat_id, part, progress)
            except _GaveUp as gave_up:
                raise gave_up.error from None

    async def deliver_one(self, send: Send, *, force: bool = False) -> SendOutcome:
        """Claim, send and record one Send."""
        key = (send.kind.value, send.chat_id, send.period_key)
        parts = _parts(send.messages)
        # Before the claim: if reading what the files need fails, the batch stops as when a
        # claim fails, with nothing of this send gone out.
        await _prepare(parts)
        claimed_at = self._clock()

        async def give_back(lost: SendOutcome | None) -> None:
            if lost is None:
                await self._release(key, claimed_at)

        lost = await _to_the_end(
            self._claim(key, claimed_at, send.due_at, force), if_cancelled=give_back
        )
        if lost is not None:
            return lost
        progress = _Progress(len(parts))
        try:
            outcome, error = await self._send(send.chat_id, parts, progress)
        except asyncio.CancelledError:
            if not progress.requested:
                await _to_the_end(self._release(key, claimed_at))
            raise
        except Exception as crash:  # a bug, not Telegram: record it rather than retry forever
            log.exception("Delivering %s to %s for %s crashed", *key)
            outcome, error = SendOutcome.FAILED, f"{type(crash).__name__}: {crash}"
        await _to_the_end(self._record(key, outcome, error, progress))
        return outcome

    async def _claim(
        self, key: tuple[str, int, str], now: datetime, due_at: datetime | None, force: bool
    ) -> SendOutcome | None:
        """None when the Send is ours to send; else why not."""
        async with self.db.session() as session:
            if await ledger.claim(
                session,
                *key,
                now,
                due_at=due_at,
                stale_after=self._stale_after,
                force=force,
                claimant=self.claimant,
            ):
                return None
            state = await ledger.state_of(session, *key)
        return (
            SendOutcome.IN_PROGRESS if state == ledger.LedgerState.CLAIMED else SendOutcome.SKIPPED
        )

    async def _send(
        self, chat_id: int, parts: list[_Part], progress: _Progress
    ) -> tuple[SendOutcome, str | None]:
        try:
            for part in parts:
                await self._send_part(chat_id, part, progress)
                progress.done += 1
        except Forbidden as blocked:
            return SendOutcome.UNREACHABLE, blocked.message
        except _GaveUp as gave_up:
            return SendOutcome.FAILED, str(gave_up)
        return SendOutcome.SENT, None

    async def _send_part(self, chat_id: int, part: _Part, progress: _Progress) -> None:
        """One call, with its retries: 429 waited out, an outage (unreachable, 5xx) and other
        errors with backoff, 403 raised."""
        failures = flood_waits = 0
        outage_waited = 0.0
        if part.attachment is not None:
            # A chart is drawn now, before its slot is taken: drawn after, it would reach
            # Telegram later than the pacing assumes, crowding the next second (429s).
            await asyncio.to_thread(part.attachment.data)
        while True:
            hit = await self.limiter.acquire(chat_id)
            progress.requested = True
            try:
                try:
                    await self._call(chat_id, part)
                finally:
                    self.limiter.done(hit)
                return
            except Forbidden:
                raise
            except RetryAfter as flood:
                flood_waits += 1
                if flood_waits > self._max_flood_waits:
                    raise _GaveUp(flood, failures + flood_waits) from flood
                wait = _seconds(flood)
                log.info("Telegram asks to wait %ss before sending to %s", wait, chat_id)
                await self._sleep(wait)
            except TelegramError as error:
                failures += 1
                wait = min(self._backoff * 2 ** (failures - 1), MAX_BACKOFF)
                outage = isinstance(error, NetworkError) and not isinstance(
                    error, (BadRequest, TimedOut)
                )
                if outage and failures < self._max_attempts:
                    outage_waited += wait  # the first tries count as a refusal's would
                elif outage and outage_waited + wait <= self._outage_budget:
                    outage_waited += wait
                elif failures >= self._max_attempts:
                    raise _GaveUp(error, failures + flood_waits) from error
                log.info("Sending to %s failed (%s); trying again", chat_id, error)
                await self._sleep(wait)

    async def _call(self, chat_id: int, part: _Part) -> None:
        markup = _markup(part.buttons)
        if part.attachment is None:
            assert part.text is not None
            await self.bot.send_message(
                chat_id, part.text, parse_mode=ParseMode.HTML, reply_markup=markup
            )
            return
        attachment = part.attachment
        upload = InputFile(attachment.data(), filename=attachment.filename)  # drawn by now
        if attachment.as_photo:
            await self.bot.send_photo(
                chat_id,
                upload,
                caption=attachment.caption,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
            )
        else:
            await self.bot.send_document(
                chat_id,
                upload,
                caption=attachment.caption,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
            )

    async def _release(self, key: tuple[str, int, str], claimed_at: datetime) -> None:
        async with self.db.session() as session:
            await ledger.release(session, *key, claimed_at)

    async def _record(
        self,
        key: tuple[str, int, str],
        outcome: SendOutcome,
        error: str | None,
        progress: _Progress,
    ) -> None:
        now = self._clock()
        async with self.db.session() as session:
            if outcome is SendOutcome.SENT:
                await ledger.mark_sent(session, *key, now)
                return
            if progress.done:
                error = f"{error} after {progress.done} of {progress.parts} messages"
            if outcome is SendOutcome.UNREACHABLE:
                await ledger.mark_unreachable(session, *key, now, error)
                log.info("%s to %s for %s: unreachable", *key)
            else:
                await ledger.mark_failed(session, *key, now, error or "unknown error")
                log.warning("%s to %s for %s failed: %s", *key, error)
