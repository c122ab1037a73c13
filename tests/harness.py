"""The real danvan Application against the fake Bot API, with people to play.

Every step waits for the update to be fully handled: the fake sees the bot confirm it
(getUpdates offset), then the Application's update queue drains. No sleeps.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.domain.access import Role
from bot.domain.unit_csv import parse_unit_csv
from bot.settings import Settings
from bot.telegram.app import (
    DanvanApplication,
    build_application,
    on_shutdown,
    on_startup,
    outbox_sender,
)
from storage import invites, units
from storage.engine import Database
from storage.models import Member, pk
from tests.fakebot import FakeBotAPI, FakeMessage, FakeUser

TOKEN = "123456:TEST-TOKEN"

UNITS_CSV = """code,name,level,parent_code,former_name
BN,Bắc Ninh,tỉnh,,
THOXUONG,phường Thọ Xương,phường,BN,
CN1,Cung Nhượng 1,tổ dân phố,THOXUONG,
CN2,Cung Nhượng 2,tổ dân phố,THOXUONG,
""".encode()


# Retries of a failed send come quickly in tests, so that a test waits for them, not a timer.
OUTBOX_BACKOFF = 0.01


class Clock:
    """The bot's notion of now, moved by tests."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class Person:
    """A Telegram user talking to the bot, step by step."""

    def __init__(self, harness: Harness, user: FakeUser) -> None:
        self.harness = harness
        self.user = user
        self.id = user.id

    def _seen(self) -> int:
        return len(self.user.messages(include_deleted=True))

    async def _after(self, update_id: int, seen: int) -> list[FakeMessage]:
        await self.harness.settle(update_id)
        return self.user.messages(include_deleted=True)[seen:]

    async def say(self, text: str) -> list[FakeMessage]:
        """Send text; returns the bot's new messages."""
        seen = self._seen()
        return await self._after(await self.user.send(text), seen)

    async def tap(self, label: str, message: FakeMessage | None = None) -> list[FakeMessage]:
        """Press the inline button labelled `label` on `message` (default: the newest message
        that has such a button); returns the bot's answer: its new messages or, when it sent
        none and edited the pressed message instead (a form's next question), that message."""
        target = message or self.find_button(label)
        seen, edits = self._seen(), len(target.edits)
        await self.user.press(target, text=label)
        replies = await self._after(self.harness.fake.last_update_id, seen)
        if not replies and len(target.edits) > edits:
            return [target]
        return replies

    async def forge(self, message: FakeMessage, data: str) -> list[FakeMessage]:
        """Press a button with this callback data on `message`, whether or not it has one (as
        a tampered or lagging client could); returns the bot's new messages."""
        fake = self.harness.fake
        seen = self._seen()
        query_id = fake._new_query(self.user, message, data)
        fake._push_update(
            {
                "callback_query": {
                    "id": query_id,
                    "from": self.user.to_dict(),
                    "message": message.to_dict(),
                    "chat_instance": "1",
                    "data": data,
                }
            }
        )
        return await self._after(fake.last_update_id, seen)

    async def forged_answer(self, message: FakeMessage, data: str) -> str | None:
        """`forge`, and the text of the bot's answer to that button (its alert)."""
        await self.forge(message, data)
        answer = self.user.answers[-1]
        assert answer.data == data, "the button was not answered"
        return answer.text

    async def press_data(self, message: FakeMessage, data: str) -> list[FakeMessage]:
        """Press the button of `message` that has this callback data; the bot's new messages."""
        seen = self._seen()
        await self.user.press(message, callback_data=data)
        return await self._after(self.harness.fake.last_update_id, seen)

    def find_button(self, label: str) -> FakeMessage:
        for message in reversed(self.user.messages()):
            if any(text == label for row in message.buttons for text, _ in row):
                return message
        raise AssertionError(f"no message has a button {label!r}; last: {self.user.last!r}")

    async def photo(self) -> list[FakeMessage]:
        seen = self._seen()
        return await self._after(await self.user.send_photo(), seen)

    async def contact(self, phone: str, **kwargs: Any) -> list[FakeMessage]:
        seen = self._seen()
        return await self._after(await self.user.send_contact(phone, **kwargs), seen)

    async def sticker(self) -> list[FakeMessage]:
        seen = self._seen()
        return await self._after(await self.user.send_sticker(), seen)

    async def voice(self) -> list[FakeMessage]:
        seen = self._seen()
        return await self._after(await self.user.send_voice(), seen)

    async def location(self) -> list[FakeMessage]:
        seen = self._seen()
        return await self._after(await self.user.send_location(21.27, 106.19), seen)

    @property
    def last(self) -> FakeMessage:
        return self.user.last

    @property
    def keyboard(self) -> list[list[str]]:
        return self.user.keyboard


class Harness:
    def __init__(self, fake: FakeBotAPI, database_url: str, clock: Clock, **settings: Any) -> None:
        self.fake = fake
        self.clock = clock
        self.settings = Settings(
            telegram_bot_token=TOKEN,
            telegram_api_url=fake.base_url,
            database_url=database_url,
            _env_file=None,
            **settings,
        )
        self.db = Database(database_url)
        self.application: DanvanApplication | None = None

    @property
    def app(self) -> DanvanApplication:
        assert self.application is not None, "the bot is not running"
        return self.application

    async def start(self) -> None:
        application = build_application(
            self.settings, self.db, clock=self.clock, outbox_backoff=OUTBOX_BACKOFF
        )
        await application.initialize()
        await on_startup(application, periodic_jobs=False)
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=0, timeout=5)
        self.application = application

    async def stop(self) -> None:
        application = self.app
        assert application.updater is not None
        await application.updater.stop()
        await application.stop()
        await on_shutdown(application)
        await application.shutdown()
        self.application = None

    async def restart(self) -> None:
        """A real restart: a new Application, with only the database carried over."""
        await self.stop()
        await self.start()

    async def settle(self, update_id: int) -> None:
        await self.fake.wait_acked(update_id)
        await self.app.update_queue.join()
        await self.sent()

    async def sent(self) -> None:
        """Until what the handled updates owe is sent, or waits for a retry (see
        bot/telegram/outbox.py, IDLE_HORIZON)."""
        await outbox_sender(self.app).drained()

    def person(self, user_id: int, first_name: str = "Lan", **kwargs: Any) -> Person:
        return Person(self, self.fake.user(user_id, first_name=first_name, **kwargs))

    async def seed_units(self) -> None:
        rows, errors = parse_unit_csv(UNITS_CSV)
        assert not errors
        async with self.db.session() as session:
            plan = await units.plan_import(session, rows)
            await units.apply_import(session, plan, actor_label="test")

    async def add_member(
        self, telegram_id: int, unit_code: str = "CN1", role: Role = Role.COORDINATOR, **kw: Any
    ) -> Member:
        async with self.db.session() as session:
            unit = await units.by_code(session, unit_code)
            assert unit is not None
            member = Member(
                telegram_id=telegram_id,
                full_name=kw.pop("full_name", "Nguyễn Thị Lan"),
                role=role,
                unit_id=pk(unit),
                **kw,
            )
            session.add(member)
        return member

    async def invite(self, unit_code: str = "CN1", role: Role = Role.COORDINATOR, **kw: Any) -> str:
        async with self.db.session() as session:
            unit = await units.by_code(session, unit_code)
            assert unit is not None
            invite = await invites.create(session, role=role, unit=unit, now=self.clock(), **kw)
            return invite.code

    async def query(self, work: Callable[[Any], Any]) -> Any:
        async with self.db.session() as session:
            return await work(session)


def local_noon(day: str) -> datetime:
    """12:00 in Hà Nội on an ISO date, as an aware UTC datetime."""
    return datetime.fromisoformat(f"{day}T05:00:00").replace(tzinfo=UTC)
