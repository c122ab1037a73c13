"""Apply Alembic migrations from code: `danvan db upgrade`, bot start-up and tests."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from storage.engine import create_engine

MIGRATIONS = Path(__file__).with_name("migrations")


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()


async def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the schema up to `revision` (tests stop before a data migration to check it);
    a no-op when it is there already."""

    def _upgrade(connection: Connection) -> None:
        command.upgrade(_config(connection), revision)

    engine = create_engine(database_url, foreign_keys=False)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_upgrade)
    finally:
        await engine.dispose()
