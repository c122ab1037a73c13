"""Who is silent, who gets followed up, which pledges are stale: on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from bot.domain.access import Role
from bot.domain.records import RecordKind
from bot.domain.unit_csv import parse_unit_csv
from storage import records, units
from storage import reminders as queries
from storage.engine import Database
from storage.models import Member, pk

CSV = """code,name,level,parent_code
P,Bắc Ninh,tỉnh,
X1,xã Một,xã,P
X2,xã Hai,xã,P
G1,Thôn 1,thôn,X1
G2,Thôn 2,thôn,X1
G3,Thôn 3,thôn,X2
""".encode()
WEEK = date(2026, 11, 23)
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


async def seed(db: Database) -> dict[str, Any]:
    rows, _ = parse_unit_csv(CSV)
    people: dict[str, Any] = {}
    async with db.session() as session:
        await units.apply_import(session, await units.plan_import(session, rows), actor_label="t")
        cast: list[tuple[str, Role, dict[str, Any]]] = [
            ("G1", Role.COORDINATOR, {}),
            ("G1", Role.COORDINATOR, {}),
            ("G2", Role.COORDINATOR, {}),
            ("G3", Role.COORDINATOR, {}),
            ("G3", Role.COORDINATOR, {"active": False}),
            ("G2", Role.COORDINATOR, {"unreachable_at": NOW}),
            ("X1", Role.OFFICIAL, {}),
        ]
        for n, (code, role, extra) in enumerate(cast):
            unit = await units.by_code(session, code)
            assert unit is not None
            member = Member(
                telegram_id=100 + n, full_name=f"Người {n}", role=role, unit_id=pk(unit), **extra
            )
            session.add(member)
            await session.flush()
            people[f"{code}-{n}"] = member
    return people


ACTIVITY = {"kind": "hop_dan", "participants": 10, "photos": []}


async def test_silent_coordinators_and_groups(db: Database) -> None:
    people = await seed(db)
    async with db.session() as session:
        g1 = await units.by_code(session, "G1")
        x1 = await units.by_code(session, "X1")
        assert g1 and x1
        # G1 logged last week (does not count) and this week; G3 sent a nil report.
        await records.save(
            session, RecordKind.ACTIVITY, people["G1-0"], {**ACTIVITY, "on_date": "2026-11-20"}, NOW
        )
        await records.save(
            session, RecordKind.ACTIVITY, people["G1-1"], {**ACTIVITY, "on_date": "2026-11-24"}, NOW
        )
        await records.add_nil_report(session, people["G3-3"], WEEK, NOW)
        all_units = [u.id for u in await units.list_all(session)]
        silent = await queries.silent_coordinators(session, all_units, WEEK)  # type: ignore[arg-type]
        assert [p.telegram_id for p in silent] == [102]  # G2's active, reachable coordinator
        groups = await queries.silent_groups(session, x1, WEEK)
        assert [(g.name, g.coordinators) for g in groups] == [
            ("Thôn 2", [("Người 2", None), ("Người 5", None)])
        ]
        groups_last_week = await queries.silent_groups(session, x1, date(2026, 11, 30))
        assert [(g.name, sorted(g.coordinators)) for g in groups_last_week] == [
            ("Thôn 1", [("Người 0", date(2026, 11, 20)), ("Người 1", date(2026, 11, 24))]),
            ("Thôn 2", [("Người 2", None), ("Người 5", None)]),
        ]
        officials = await queries.area_members(session, all_units, [Role.OFFICIAL])  # type: ignore[arg-type]
        assert [o.telegram_id for o in officials] == [106]
        assert not await records.has_records_in_week(session, pk(g1), date(2026, 12, 7))
        assert await records.has_records_in_week(session, pk(g1), WEEK)


async def test_stale_pledges_by_reporter(db: Database) -> None:
    people = await seed(db)
    land: dict[str, Any] = {
        "donor": "Hộ ông An",
        "area_m2": "720",
        "area_echo": "2 sào = 720 m²",
        "land_kind": "dat_o",
        "purpose": "duong",
        "assets": None,
        "value_vnd": None,
        "photos": [],
    }
    async with db.session() as session:
        await records.save(
            session,
            RecordKind.LAND,
            people["G1-0"],
            {**land, "stage": "cam_ket", "on_date": "2026-10-01"},
            NOW,
        )
        await records.save(
            session,
            RecordKind.LAND,
            people["G1-0"],
            {**land, "stage": "ky_bien_ban", "on_date": "2026-11-10"},
            NOW,
        )
        await records.save(
            session,
            RecordKind.LAND,
            people["G1-0"],
            {**land, "stage": "ban_giao", "on_date": "2026-09-01"},
            NOW,
        )
        await records.save(
            session,
            RecordKind.LAND,
            people["G2-2"],
            {**land, "stage": "ky_bien_ban", "on_date": "2026-09-15"},
            NOW,
        )
        moving = people["G3-3"]
        await records.save(
            session,
            RecordKind.LAND,
            moving,
            {**land, "stage": "cam_ket", "on_date": "2026-10-02"},
            NOW,
        )
        # Moved to another commune: their old group's pledge is no longer theirs to update.
        moved, g1 = await session.get(Member, moving.id), await units.by_code(session, "G1")
        assert moved is not None and g1 is not None
        moved.unit_id = pk(g1)
        await session.flush()
        stale = await queries.stale_pledges(session, date(2026, 11, 27))
        reporters = await queries.stale_pledge_reporters(session, date(2026, 11, 27))
    assert reporters == list(stale)  # what a skipped nudge records, without the pledges
    assert [p.area_m2 for pledges in stale.values() for p in pledges] == [Decimal("720.00")] * 2
    found = {
        person.telegram_id: [(p.stage, p.since) for p in pledges]
        for person, pledges in stale.items()
    }
    assert found == {
        100: [("cam_ket", date(2026, 10, 1))],
        102: [("ky_bien_ban", date(2026, 9, 15))],
    }
