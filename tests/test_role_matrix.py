"""Who may use which command: every command of bot.access.COMMANDS, by its Vietnamese name and
its English alias, sent by every kind of person, through the real application.

A command the person's role may not use gets the polite refusal (strangers: how to join; the
deactivated: that their account is locked) and, for members, an AuditEvent "refused"; a
command they may use gets some other answer. The cases come from the COMMANDS table, so a new
command is covered as soon as it is added there. The commands that take a unit are also sent
with a unit of the official's own area and one of another commune.

One bot and database per backend serve the whole module; each case has people of its own.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
import pytest_asyncio
from sqlalchemy.engine import make_url
from sqlmodel import col, func, select
from telegram.ext import CommandHandler, ConversationHandler

from bot.domain.access import COMMANDS, Command, Role
from bot.domain.i18n import Translator
from bot.domain.unit_csv import parse_unit_csv
from handlers.common import not_registered_text
from storage import units
from storage.migrate import upgrade
from storage.models import AuditEvent, Member
from tests.conftest import BACKENDS, POSTGRES_URL, require_postgres
from tests.fakebot import FakeBotAPI, FakeMessage
from tests.harness import TOKEN, Clock, Harness, local_noon

pytestmark = pytest.mark.asyncio(loop_scope="module")

VI = Translator("vi")
REFUSED = VI._("Sorry, you do not have permission to do that.")
DEACTIVATED = VI._("Your account has been deactivated. Please contact your official.")
NOT_REGISTERED = not_registered_text(VI)
REFUSALS = (REFUSED, DEACTIVATED, NOT_REGISTERED)

# Who sends, from where: (role, unit, active); None is a stranger.
PEOPLE: dict[str, tuple[Role, str, bool] | None] = {
    "stranger": None,
    "coordinator": (Role.COORDINATOR, "CN1", True),
    "official": (Role.OFFICIAL, "THOXUONG", True),
    "admin": (Role.ADMIN, "KX1", True),
    "inactive": (Role.ADMIN, "BN", False),  # deactivated, whatever the role
}
RANK = {Role.COORDINATOR: 1, Role.OFFICIAL: 2, Role.ADMIN: 3}
# /huy also cancels a stranger's joining, so it answers anyone (handlers/flows.py `cancel`).
OPEN_TO_ALL = {"huy"}

OTHER_COMMUNE = """code,name,level,parent_code,former_name
KHUCXUYEN,xã Khúc Xuyên,xã,BN,
KX1,Thôn Khúc Toại,thôn,KHUCXUYEN,
""".encode()


def expected(command: Command, who: str) -> str | None:
    """The refusal the person gets for the command, or None when it is theirs to use."""
    person = PEOPLE[who]
    if command.name in OPEN_TO_ALL:
        return None
    if person is None:
        return NOT_REGISTERED
    role, _, active = person
    if not active:
        return DEACTIVATED
    return REFUSED if RANK[role] < RANK[command.needs] else None


@dataclass
class Matrix:
    harness: Harness
    next_id: int = 70_000

    async def person(self, who: str) -> tuple[Any, int | None]:
        """A new person of this kind: (Person, member id or None for a stranger)."""
        self.next_id += 1
        spec = PEOPLE[who]
        member_id = None
        if spec is not None:
            role, unit, active = spec
            member = await self.harness.add_member(self.next_id, unit, role, active=active)
            member_id = member.id
        return self.harness.person(self.next_id), member_id

    async def refusals_of(self, member_id: int | None) -> int:
        if member_id is None:
            return 0
        query = select(func.count()).where(
            col(AuditEvent.actor_id) == member_id, col(AuditEvent.action) == "refused"
        )
        count: int = await self.harness.query(lambda session: session.scalar(query))
        return count

    async def retire(self, member_id: int | None) -> None:
        """Deactivate the case's member, so later cases (digests to officials) do not reach
        them."""
        if member_id is None:
            return
        async with self.harness.db.session() as session:
            member = await session.get(Member, member_id)
            assert member is not None
            member.active = False

    def registered(self) -> set[str]:
        """The commands some handler answers (also as a conversation's entry point)."""
        found: set[str] = set()
        pending = [h for group in self.harness.app.handlers.values() for h in group]
        while pending:
            handler = pending.pop()
            if isinstance(handler, CommandHandler):
                found |= handler.commands
            elif isinstance(handler, ConversationHandler):
                pending += handler.entry_points
        return found


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A URL to an empty schema of its own (as conftest's fixture, for the module's scope)."""
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    plain = make_url(POSTGRES_URL).render_as_string(False)
    with psycopg.connect(plain, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(plain, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=BACKENDS)
async def matrix(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Matrix]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("PTB_TIMEDELTA", "true")
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp('matrix') / 'danvan.db'}"
            async for found in _running(url):
                yield found
        else:
            with postgres_schema() as url:
                async for found in _running(url):
                    yield found


async def _running(url: str) -> AsyncIterator[Matrix]:
    await upgrade(url)
    async with FakeBotAPI(TOKEN) as fake:
        harness = Harness(fake, url, Clock(local_noon("2026-11-25")))
        await harness.seed_units()
        rows, errors = parse_unit_csv(OTHER_COMMUNE)
        assert not errors
        async with harness.db.session() as session:
            plan = await units.plan_import(session, rows)
            await units.apply_import(session, plan, actor_label="test")
        await harness.start()
        try:
            yield Matrix(harness)
        finally:
            if harness.application is not None:
                await harness.stop()
            await harness.db.dispose()


def bodies(replies: list[FakeMessage]) -> list[str]:
    return [message.body for message in replies]


@pytest.mark.parametrize("who", list(PEOPLE))
@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: command.name)
async def test_every_command_for_every_kind_of_person(
    matrix: Matrix, command: Command, who: str
) -> None:
    if command.name not in matrix.registered():
        pytest.xfail(f"/{command.name} has no handler yet")
    person, member_id = await matrix.person(who)
    refusal = expected(command, who)
    for name in (command.name, command.alias):
        replies = await person.say(f"/{name}")
        assert replies, f"/{name} got no answer"
        if refusal is None:
            assert not set(bodies(replies)) & set(REFUSALS), f"/{name}: {bodies(replies)}"
        else:
            assert bodies(replies) == [refusal], f"/{name}"
    refused = 2 if refusal is not None and member_id is not None else 0
    assert await matrix.refusals_of(member_id) == refused
    await matrix.retire(member_id)


# The commands that take a unit's code, with the name of the unit they then show.
UNIT_COMMANDS = [command for command in COMMANDS if command.name in ("thongke", "lich")]
UNIT_NAMES = {"CN1": "Cung Nhượng 1", "KX1": "Thôn Khúc Toại"}


@pytest.mark.parametrize(
    ("who", "code", "allowed"),
    [
        ("official", "CN1", True),  # in the official's ward
        ("official", "KX1", False),  # in another commune
        ("admin", "CN1", True),  # admins: everywhere
        ("admin", "KX1", True),
    ],
)
@pytest.mark.parametrize("command", UNIT_COMMANDS, ids=lambda command: command.name)
async def test_a_unit_in_or_out_of_scope(
    matrix: Matrix, command: Command, who: str, code: str, allowed: bool
) -> None:
    person, member_id = await matrix.person(who)
    for name in (command.name, command.alias):
        (answer,) = await person.say(f"/{name} {code}")
        if allowed:
            assert UNIT_NAMES[code] in answer.body and answer.buttons
        else:
            assert answer.body == VI._("There is no unit with code {code} in your area.", code=code)
            assert answer.buttons == []
    assert await matrix.refusals_of(member_id) == 0
    await matrix.retire(member_id)
