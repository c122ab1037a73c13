"""Alembic environment: runs on the async engine, with batch mode so SQLite can alter tables."""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from storage.engine import create_engine

target_metadata = SQLModel.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    engine = create_engine(
        os.environ.get("DATABASE_URL", "sqlite:///danvan.db"), foreign_keys=False
    )
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


# storage.migrate passes a live connection; the alembic command line makes its own.
_given = context.config.attributes.get("connection")
if _given is not None:
    _run(_given)
else:
    asyncio.run(_run_online())
