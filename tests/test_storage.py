"""Storage on SQLite and PostgreSQL: migrations, units, invites, concurrency."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import column, insert, inspect, make_url, table, text
from sqlmodel import SQLModel, col, func, select

from bot.domain.access import Role
from bot.domain.unit_csv import RowProblem, parse_unit_csv
from storage import invites, members, state, units
from storage.engine import Database
from storage.migrate import head_revision, upgrade
from storage.models import (
    Activity,
    AuditEvent,
    Invite,
    LandPledge,
    Member,
    NilReport,
    Unit,
    Workday,
    pk,
)
from tests.tcp_proxy import TcpProxy

PROVINCE_CSV = """code,name,level,parent_code,former_name
BN,Bắc Ninh,tỉnh,,
THOXUONG,phường Thọ Xương,phường,BN,
CN1,Cung Nhượng 1,tổ dân phố,THOXUONG,
CN2,Cung Nhượng 2,tổ dân phố,THOXUONG,
""".encode()


async def import_csv(db: Database, data: bytes) -> units.ImportPlan:
    rows, errors = parse_unit_csv(data)
    assert errors == []
    async with db.session() as session:
        plan = await units.plan_import(session, rows)
        if not plan.errors:
            await units.apply_import(session, plan, actor_label="test")
    return plan


async def test_the_admin_chats_old_state_is_forgotten_and_drafts_are_kept(
    database_url: str,
) -> None:
    await upgrade(database_url, "0005")
    db = Database(database_url)
    rows = {
        "1": {"units_input": {"kind": "code"}, "draft": {"flow": "land"}},
        "2": {"schedule_time": {"unit": 3}, "export_sent": "5:xp:f"},
        "3": {"draft": {"flow": "activity"}},
    }
    try:
        async with db.engine.begin() as connection:
            for key, data in rows.items():
                await connection.execute(
                    text(
                        "INSERT INTO conversation_state (namespace, key, data, updated_at) "
                        "VALUES ('user_data', :key, :data, CURRENT_TIMESTAMP)"
                    ),
                    {"key": key, "data": json.dumps(data)},
                )
            await connection.execute(
                text(
                    "INSERT INTO conversation_state (namespace, key, data, updated_at) "
                    "VALUES ('conversation:schedule_time', '[5,5]', '1', CURRENT_TIMESTAMP)"
                )
            )
        await upgrade(database_url)
        async with db.session() as session:
            kept = await state.load_namespace(session, "user_data")
            gone = await state.load_namespace(session, "conversation:schedule_time")
    finally:
        await db.dispose()
    assert kept == {"1": {"draft": {"flow": "land"}}, "3": {"draft": {"flow": "activity"}}}
    assert gone == {}


async def test_migration_0007_gives_each_audit_event_the_unit_it_concerns(
    database_url: str,
) -> None:
    """The backfill, one event per kind of entity: the unit itself, a record's, a member's or
    an invite's unit, and the actor's for refusals and commands; an id of nothing, nothing."""
    await upgrade(database_url, "0006")
    db = Database(database_url)
    now = datetime(2026, 11, 25, tzinfo=UTC)
    on = now.date()
    try:
        async with db.session() as session:
            made = [
                Unit(code=code, name=code, name_key=code, level="x", path="/")
                for code in ("BN", "THOXUONG", "CN1")  # the backfill reads no tree
            ]
            session.add_all(made)
            await session.flush()
            ids = {unit.code: pk(unit) for unit in made}
            official = Member(
                telegram_id=1, full_name="An", role=Role.OFFICIAL, unit_id=ids["THOXUONG"]
            )
            admin = Member(telegram_id=2, full_name="Ba", role=Role.ADMIN, unit_id=ids["BN"])
            session.add_all([official, admin])
            await session.flush()
            reporter: dict[str, Any] = {"unit_id": ids["CN1"], "reporter_id": pk(official)}
            rows: dict[str, Activity | LandPledge | Workday | NilReport | Invite] = {
                "activity": Activity(**reporter, on_date=on, kind="hop_dan", participants=3),
                "land_pledge": LandPledge(
                    **reporter,
                    on_date=on,
                    donor="Hộ ông An",
                    donor_key="ho ong an",
                    area_m2=Decimal("720"),
                    land_kind="dat_o",
                    purpose="duong",
                    stage="cam_ket",
                ),
                "workday": Workday(
                    **reporter,
                    on_date=on,
                    work="Đào mương",
                    people=2,
                    days_each=Decimal(1),
                    total_days=Decimal(2),
                ),
                "nil_report": NilReport(**reporter, week_start=on),
                "invite": Invite(
                    code="ABC", role=Role.COORDINATOR, unit_id=ids["CN1"], expires_at=now
                ),
            }
            session.add_all(rows.values())
            await session.flush()
            events = [  # entity, entity_id, actor, action: the unit expected
                ("unit", ids["CN1"], admin, "rename", "CN1"),
                ("schedule", ids["CN1"], admin, "update", "CN1"),
                ("broadcast", ids["THOXUONG"], admin, "sent", "THOXUONG"),
                ("export", ids["CN1"], official, "exported", "CN1"),
                *((entity, pk(row), admin, "create", "CN1") for entity, row in rows.items()),
                ("member", pk(official), admin, "update", "THOXUONG"),
                ("command", None, official, "refused", "THOXUONG"),
                ("unit", ids["BN"], official, "refused", "THOXUONG"),
                ("member", pk(admin), official, "refused", "THOXUONG"),
                ("unit", None, admin, "import", None),
                ("workday", 9999, official, "create", None),
            ]
            old_events = table(
                "audit_event",
                column("at"),
                column("entity"),
                column("entity_id"),
                column("actor_id"),
                column("action"),
            )
            for entity, entity_id, actor, action, _ in events:
                await session.exec(
                    insert(old_events).values(
                        at=now, entity=entity, entity_id=entity_id, actor_id=actor.id, action=action
                    )
                )
        await upgrade(database_url)
        async with db.session() as session:
            query = (
                select(AuditEvent.entity, AuditEvent.action, Unit.code)
                .outerjoin(Unit, col(Unit.id) == col(AuditEvent.unit_id))
                .order_by(col(AuditEvent.id))
            )
            backfilled = list((await session.exec(query)).all())
    finally:
        await db.dispose()
    assert backfilled == [(entity, action, code) for entity, _, _, action, code in events]


async def test_migrations_build_the_whole_schema_from_empty(database_url: str) -> None:
    await upgrade(database_url)
    await upgrade(database_url)  # a second run is a no-op
    db = Database(database_url)
    try:
        async with db.engine.connect() as connection:

            def current_revision(sync_connection):
                return MigrationContext.configure(sync_connection).get_current_revision()

            assert await connection.run_sync(current_revision) == head_revision()

            def differences(sync_connection):
                context = MigrationContext.configure(sync_connection, opts={"compare_type": True})
                return compare_metadata(context, SQLModel.metadata)

            def table_names(sync_connection):
                return set(inspect(sync_connection).get_table_names())

            assert await connection.run_sync(differences) == []
            tables = await connection.run_sync(table_names)
        assert {"unit", "member", "invite", "activity", "land_pledge", "workday"} <= tables
        assert {"nil_report", "audit_event", "send_ledger", "conversation_state"} <= tables
    finally:
        await db.dispose()


async def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        async with db.engine.connect() as connection:
            mode = (await connection.exec_driver_sql("PRAGMA journal_mode")).scalar()
            keys = (await connection.exec_driver_sql("PRAGMA foreign_keys")).scalar()
            busy = (await connection.exec_driver_sql("PRAGMA busy_timeout")).scalar()
        assert (mode, keys) == ("wal", 1)
        assert busy is not None and busy >= 5000
    finally:
        await db.dispose()


async def test_import_builds_the_tree_with_paths(db: Database) -> None:
    plan = await import_csv(db, PROVINCE_CSV)
    assert plan.created == ["BN", "THOXUONG", "CN1", "CN2"]
    async with db.session() as session:
        province = await units.by_code(session, "BN")
        ward = await units.by_code(session, "THOXUONG")
        group = await units.by_code(session, "CN1")
        assert province and ward and group
        assert group.parent_id == ward.id
        assert group.path == f"/{province.id}/{ward.id}/{group.id}/"
        assert group.name_key == "cung nhuong 1"
        in_ward = col(Unit.id).in_(units.subtree_ids(ward))
        subtree = (await session.exec(select(Unit.code).where(in_ward))).all()
        assert sorted(subtree) == ["CN1", "CN2", "THOXUONG"]
        audits = (await session.exec(select(func.count()).select_from(AuditEvent))).one()
        assert audits == 4


async def test_a_unit_is_found_by_its_code_in_any_case(db: Database) -> None:
    await import_csv(db, PROVINCE_CSV)
    async with db.session() as session:
        group = await units.by_code(session, "CN1")
        assert group is not None
        group.code = "cn1a"  # stored as an admin typed it
    async with db.session() as session:
        for typed in ("cn1a", "CN1A", " Cn1A "):
            found = await units.by_code(session, typed)
            assert found is not None and found.code == "cn1a", typed
        thoxuong = await units.by_code(session, "thoxuong")
        assert thoxuong is not None and thoxuong.code == "THOXUONG"
        assert await units.by_code(session, "CN1") is None


async def test_reimport_is_idempotent(db: Database) -> None:
    await import_csv(db, PROVINCE_CSV)
    again = await import_csv(db, PROVINCE_CSV)
    assert (again.created, again.updated) == ([], [])
    assert again.unchanged == ["BN", "THOXUONG", "CN1", "CN2"]
    async with db.session() as session:
        assert len(await units.list_all(session)) == 4


async def test_rename_and_move_keep_records_and_former_name(db: Database) -> None:
    await import_csv(db, PROVINCE_CSV)
    async with db.session() as session:
        group = await units.by_code(session, "CN1")
        assert group is not None
        member = Member(telegram_id=1, full_name="Lan", role=Role.COORDINATOR, unit_id=pk(group))
        session.add(member)
        await session.flush()
        session.add(
            Activity(
                unit_id=group.id,  # type: ignore[arg-type]
                reporter_id=member.id,  # type: ignore[arg-type]
                on_date=datetime(2026, 11, 20).date(),
                kind="hop_dan",
                participants=30,
            )
        )
    moved = PROVINCE_CSV.replace(
        "CN1,Cung Nhượng 1,tổ dân phố,THOXUONG,".encode(),
        "CN1,Tổ dân phố số 1,tổ dân phố,CN2,".encode(),
    )
    plan = await import_csv(db, moved)
    assert plan.updated == ["CN1"]
    async with db.session() as session:
        group = await units.by_code(session, "CN1")
        other = await units.by_code(session, "CN2")
        assert group and other
        assert (group.name, group.former_name) == ("Tổ dân phố số 1", "Cung Nhượng 1")
        assert group.path == f"{other.path}{group.id}/"
        activities = (
            await session.exec(select(Activity).where(Activity.unit_id == group.id))
        ).all()
        assert [a.participants for a in activities] == [30]


async def test_import_with_a_bad_parent_or_cycle_changes_nothing(db: Database) -> None:
    await import_csv(db, PROVINCE_CSV)
    rows, errors = parse_unit_csv(
        b"code,name,level,parent_code\nX1,Thon X,thon,NOPE\nA,A,xa,B\nB,B,xa,A\n"
    )
    assert errors == []
    async with db.session() as session:
        plan = await units.plan_import(session, rows)
    assert [(e.line, e.problem) for e in plan.errors] == [(2, RowProblem.UNKNOWN_PARENT)]
    rows, _ = parse_unit_csv(b"code,name,level,parent_code\nA,A,xa,B\nB,B,xa,A\n")
    async with db.session() as session:
        plan = await units.plan_import(session, rows)
        assert {e.problem for e in plan.errors} == {RowProblem.CYCLE}
        with pytest.raises(ValueError):
            await units.apply_import(session, plan, actor_label="test")
    async with db.session() as session:
        assert len(await units.list_all(session)) == 4


def test_csv_problems_are_reported_by_line() -> None:
    data = (
        "code,name,level,parent_code\n"
        "A1,Thôn A,thôn,\n"
        ",Thôn B,thôn,\n"
        "A1,Thôn C,thôn,\n"
        "bad code,Thôn D,thôn,\n"
        "E,E,e,E\n"
    ).encode()
    rows, errors = parse_unit_csv(data)
    assert [r.code for r in rows] == ["A1"]
    assert [(e.line, e.problem) for e in errors] == [
        (3, RowProblem.MISSING_VALUE),
        (4, RowProblem.DUPLICATE_CODE),
        (5, RowProblem.BAD_CODE),
        (6, RowProblem.OWN_PARENT),
    ]
    assert parse_unit_csv(b"name,code\n")[1][0].problem is RowProblem.BAD_HEADER
    assert parse_unit_csv(b"\xff\xfe")[1][0].problem is RowProblem.NOT_UTF8
    bom = "\ufeffcode,name,level,parent_code\nA,Á,xã,\n".encode()
    assert [r.name for r in parse_unit_csv(bom)[0]] == ["Á"]


async def test_invites_check_every_reason(db: Database) -> None:
    await import_csv(db, PROVINCE_CSV)
    now = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
    async with db.session() as session:
        group = await units.by_code(session, "CN1")
        assert group is not None
        invite = await invites.create(
            session, role=Role.COORDINATOR, unit=group, now=now, uses=2, days=7
        )
        code = invite.code
    assert len(code) == invites.CODE_LENGTH and set(code) <= set(invites.CODE_ALPHABET)
    async with db.session() as session:
        assert (await invites.check(session, "NOPE", now)).status is invites.InviteStatus.NOT_FOUND
        found = await invites.check(session, code.lower(), now)
        assert found.status is invites.InviteStatus.VALID
        assert found.invite is not None and found.invite.expires_at.tzinfo is not None
        later = now + timedelta(days=7)
        assert (await invites.check(session, code, later)).status is invites.InviteStatus.EXPIRED
        assert await invites.take_use(session, found.invite)
        assert await invites.take_use(session, found.invite)
        assert not await invites.take_use(session, found.invite)
    async with db.session() as session:
        assert (await invites.check(session, code, now)).status is invites.InviteStatus.USED_UP
        stored = (await session.exec(select(Invite))).one()
        assert stored.uses == 2


async def test_add_admin_defaults_to_the_root_and_is_idempotent(db: Database) -> None:
    await import_csv(db, PROVINCE_CSV)
    async with db.session() as session:
        (root,) = await members.roots(session)
        first, created = await members.add_admin(session, 42, "Trần Văn A", root, actor_label="t")
        assert created and first.role == Role.ADMIN
    async with db.session() as session:
        again, created = await members.add_admin(session, 42, "Trần Văn A", root, actor_label="t")
        assert not created and again.id == first.id
        member = await members.by_telegram_id(session, 42)
        assert member is not None and member.created_at.tzinfo is UTC


async def test_fifty_concurrent_writers_all_succeed(db: Database) -> None:
    await import_csv(db, PROVINCE_CSV)
    async with db.session() as session:
        group = await units.by_code(session, "CN1")
        assert group is not None
        member = Member(telegram_id=7, full_name="Hà", role=Role.COORDINATOR, unit_id=pk(group))
        session.add(member)
        await session.flush()
        group_id, member_id = group.id, member.id

    async def writer(n: int) -> None:
        async with db.session() as session:
            # Read, then write: the pattern that breaks deferred SQLite transactions.
            await session.exec(select(func.count()).select_from(Activity))
            session.add(
                Activity(
                    unit_id=group_id,  # type: ignore[arg-type]
                    reporter_id=member_id,  # type: ignore[arg-type]
                    on_date=datetime(2026, 11, 20).date(),
                    kind="hop_dan",
                    participants=n + 1,
                )
            )

    await asyncio.gather(*(writer(n) for n in range(50)))
    async with db.session() as session:
        count = (await session.exec(select(func.count()).select_from(Activity))).one()
    assert count == 50


async def test_every_change_to_a_member_moves_the_change_counter(db: Database) -> None:
    """The triggers of migration 0004, whoever writes: the bot's MemberCache relies on them."""
    await import_csv(db, PROVINCE_CSV)

    async def generation() -> int:
        async with db.session() as session:
            return await members.change_generation(session)

    start = await generation()
    async with db.session() as session:
        group = await units.by_code(session, "CN1")
        assert group is not None
        session.add(
            Member(telegram_id=5001, full_name="Lan", role=Role.COORDINATOR, unit_id=pk(group))
        )
    inserted = await generation()
    assert inserted > start
    async with db.engine.begin() as connection:  # as an operator at the psql prompt would
        await connection.exec_driver_sql(
            "UPDATE member SET active = false WHERE telegram_id = 5001"
        )
    updated = await generation()
    assert updated > inserted
    async with db.engine.begin() as connection:
        await connection.exec_driver_sql(
            "UPDATE unit SET name = 'Cung Nhượng Một' WHERE code = 'CN1'"
        )
    assert await generation() == updated  # other tables leave it be
    async with db.engine.begin() as connection:
        await connection.exec_driver_sql("DELETE FROM member WHERE telegram_id = 5001")
    assert await generation() > updated


def test_the_member_cache_keeps_only_what_was_read_since_the_last_check() -> None:
    cache = members.MemberCache()
    lan = Member(id=1, telegram_id=5001, full_name="Lan", role=Role.COORDINATOR, unit_id=1)
    cache.put(lan, cache.generation)
    assert cache.get(5001) is None  # never checked: nothing is remembered
    cache.check(7)
    cache.put(lan, 7)
    remembered = cache.get(5001)
    assert remembered is not None and remembered is not lan  # a copy, for merging
    assert (remembered.id, remembered.full_name, remembered.active) == (1, "Lan", True)
    cache.check(7)
    assert cache.get(5001) is not None  # the counter did not move
    cache.check(8)
    assert cache.get(5001) is None  # it moved: everything is forgotten
    cache.put(lan, 7)  # read before it moved: maybe the very change
    assert cache.get(5001) is None
    cache.put(lan, 8)
    cache.check(None)  # the counter could not be read
    assert cache.get(5001) is None
    cache.put(lan, None)
    assert cache.get(5001) is None


async def test_a_postgresql_restart_while_the_bot_is_quiet_fails_no_query(
    postgres_schema_url: str,
) -> None:
    """The pool's connections die with the server: each is pinged before use and replaced."""
    url = make_url(postgres_schema_url)
    async with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        db = Database(url.set(host="127.0.0.1", port=proxy.port).render_as_string(False))
        try:
            async with db.session() as session:
                await session.exec(text("SELECT 1"))  # type: ignore[call-overload]
            proxy.cut()
            proxy.restore()
            await asyncio.sleep(0.1)  # the drop reaches the pooled connection
            async with db.session() as session:
                result = await session.exec(text("SELECT 2"))  # type: ignore[call-overload]
                assert result.one()[0] == 2
        finally:
            await db.dispose()
