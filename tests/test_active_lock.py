"""Only one danvan process is active per deployment: the PostgreSQL lock is per database and
schema, so two deployments sharing one database never block each other."""

from __future__ import annotations

from storage.active_lock import active_lock_for
from tests.conftest import fresh_postgres_schema


async def test_one_active_process_per_schema_and_none_across_schemas() -> None:
    with fresh_postgres_schema() as first_url, fresh_postgres_schema() as second_url:
        first = active_lock_for(first_url)
        rival = active_lock_for(first_url)
        neighbour = active_lock_for(second_url)
        try:
            assert await first.try_acquire()
            assert not await rival.try_acquire() and rival.held_elsewhere
            assert await neighbour.try_acquire()  # another deployment, same database
            await first.release()
            assert await rival.try_acquire()
        finally:
            for lock in (first, rival, neighbour):
                await lock.release()
