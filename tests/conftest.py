"""Shared fixtures: a fresh database per test, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from storage.engine import STRICT_ENV, Database
from storage.migrate import upgrade
from tests.fakebot import FakeBotAPI
from tests.harness import TOKEN, Clock, Harness, local_noon

# A Bot API call made while a transaction is open fails the test (storage/engine.py), in the
# bot processes the tests start too (they inherit the environment).
os.environ[STRICT_ENV] = "1"

POSTGRES_URL = os.environ.get(
    "DANVAN_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
BACKENDS = ["sqlite", "postgres"]


@cache
def postgres_problem() -> str | None:
    """Why PostgreSQL cannot be used, or None when it can."""
    try:
        with psycopg.connect(make_url(POSTGRES_URL).render_as_string(False), connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return str(exc).strip() or type(exc).__name__


def require_postgres() -> None:
    problem = postgres_problem()
    if problem is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL at {POSTGRES_URL} is required in CI: {problem}")
    pytest.skip(f"PostgreSQL unavailable: {problem}")


@contextmanager
def fresh_postgres_schema(prefix: str = "t") -> Iterator[str]:
    """A URL to an empty schema of its own on the test PostgreSQL server, dropped after."""
    require_postgres()
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    plain = make_url(POSTGRES_URL).render_as_string(False)
    with psycopg.connect(plain, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(plain, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def postgres_schema_url() -> Iterator[str]:
    """A URL to an empty schema of its own on the test PostgreSQL server."""
    with fresh_postgres_schema() as url:
        yield url


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database, not yet migrated, once per backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'danvan.db'}"
    url: str = request.getfixturevalue("postgres_schema_url")
    return url


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """A migrated database."""
    await upgrade(database_url)
    database = Database(database_url)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
async def harness(database_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Harness]:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    await upgrade(database_url)
    async with FakeBotAPI(TOKEN) as fake:
        h = Harness(fake, database_url, Clock(local_noon("2026-11-25")))
        await h.seed_units()
        await h.start()
        try:
            yield h
        finally:
            if h.application is not None:
                await h.stop()
            await h.db.dispose()
