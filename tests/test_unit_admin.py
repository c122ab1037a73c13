"""Changing the tree of units (storage/unit_admin.py) and its command line (bot/cli/units.py),
on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, func, select

from bot.cli.main import main
from bot.domain.access import Role
from bot.domain.i18n import Translator
from bot.domain.records import RecordKind
from bot.domain.unit_csv import parse_unit_csv
from bot.domain.units import Problem, UnitAdminError, describe_problem, find_units
from handlers.audit_log import ACTIONS
from storage import invites, records, schedules, unit_admin, units
from storage.engine import Database
from storage.models import (
    Activity,
    AuditEvent,
    Invite,
    LandPledge,
    Member,
    NilReport,
    Schedule,
    Unit,
    Workday,
    pk,
)
from tests.harness import UNITS_CSV
from tests.test_e2e_review import ANSWERS

EN = Translator("en")
NOW = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)
# A second commune, so that scope has something to keep out; with a pre-reform name.
SECOND_COMMUNE = "TANMY,phường Tân Mỹ,phường,BN,xã Tân Mỹ\nTM1,Thôn Tân Mỹ 1,thôn,TANMY,\n"
ALL_UNITS = UNITS_CSV + SECOND_COMMUNE.encode()


async def import_csv(db: Database, data: bytes) -> None:
    rows, errors = parse_unit_csv(data)
    assert not errors
    async with db.session() as session:
        plan = await units.plan_import(session, rows)
        assert not plan.errors
        await units.apply_import(session, plan, actor_label="test")


@pytest.fixture
async def tree_db(db: Database) -> Database:
    await import_csv(db, ALL_UNITS)
    return db


async def unit(session: Any, code: str) -> Unit:
    found = await units.by_code(session, code)
    assert found is not None
    return found


async def problem_of(work: Any) -> UnitAdminError:
    with pytest.raises(UnitAdminError) as caught:
        await work
    return caught.value


# --- reading ------------------------------------------------------------------------------------


async def test_tree_is_depth_first_and_scoped(tree_db: Database) -> None:
    async with tree_db.session() as session:
        everything = await unit_admin.tree(session, None)
        assert [u.code for u in everything] == ["BN", "THOXUONG", "CN1", "CN2", "TANMY", "TM1"]
        ward = await unit(session, "THOXUONG")
        scoped = await unit_admin.tree(session, ward.path)
        assert [u.code for u in scoped] == ["THOXUONG", "CN1", "CN2"]
        assert [unit_admin.relative_depth(u, scoped) for u in scoped] == [0, 1, 1]


async def test_find_matches_codes_names_and_former_names_without_accents(
    tree_db: Database,
) -> None:
    async with tree_db.session() as session:
        candidates = await unit_admin.tree(session, None)

    def codes(text: str) -> list[str]:
        return [u.code for u in find_units(text, candidates)]

    assert codes("cung nhuong 1") == ["CN1"]
    assert codes("CUNG NHƯỢNG") == ["CN1", "CN2"]
    assert codes("cn2") == ["CN2"]
    assert codes("xa tan my") == ["TANMY"]  # the name before the 2025 reform
    assert codes("tho xuong") == ["THOXUONG"]
    assert codes("  ") == [] and codes("Hà Giang") == []


# --- adding -------------------------------------------------------------------------------------


async def test_add_checks_code_name_and_level(tree_db: Database) -> None:
    async with tree_db.session() as session:
        ward = await unit(session, "THOXUONG")

        async def add(code: str, name: str = "Cung Nhượng 3", level: str = "tổ dân phố") -> Unit:
            return await unit_admin.add_unit(
                session, ward, code=code, name=name, level=level, now=NOW, actor_label="test"
            )

        assert (await problem_of(add("CN 3!"))).problem is Problem.BAD_CODE
        assert (await problem_of(add("CN1"))).problem is Problem.DUPLICATE_CODE
        duplicate = await problem_of(add("cn1"))  # a different case is the same code to people
        assert (duplicate.problem, duplicate.details) == (Problem.DUPLICATE_CODE, {"code": "CN1"})
        assert (await problem_of(add(""))).details == {"field": "code"}
        assert (await problem_of(add("X" * 51))).problem is Problem.TOO_LONG
        assert (await problem_of(add("CN3", name=" "))).details == {"field": "name"}
        too_long = await problem_of(add("CN3", name="x" * 201))
        assert too_long.details == {"field": "name", "limit": "200"}
        assert (await problem_of(add("CN3", level="y" * 51))).details == {
            "field": "level",
            "limit": "50",
        }

        added = await add("CN3", name="  Cung   Nhượng 3 ")
        assert (added.name, added.name_key, added.level) == (
            "Cung Nhượng 3",
            "cung nhuong 3",
            "tổ dân phố",
        )
        assert added.path == f"{ward.path}{pk(added)}/" and added.parent_id == ward.id
    async with tree_db.session() as session:
        event = (
            await session.exec(
                select(AuditEvent).where(
                    AuditEvent.entity_id == added.id, AuditEvent.action == "create"
                )
            )
        ).one()
        assert event.after is not None and event.after["code"] == "CN3" and event.at == NOW
        ward = await unit(session, "THOXUONG")
        ward.active = False
        problem = await problem_of(
            unit_admin.add_unit(session, ward, code="CN4", name="x", level="y", now=NOW)
        )
        assert problem.problem is Problem.INACTIVE


def test_problems_are_worded() -> None:
    for problem in Problem:
        details = {"code": "CN1", "other": "CN2", "field": "name", "limit": "200", "count": "2"}
        assert describe_problem(EN, UnitAdminError(problem, **details))
    text = describe_problem(EN, UnitAdminError(Problem.INSIDE_ITSELF, code="A", other="B"))
    assert text == "B is one of the units under A, so A would end up inside itself."


# --- renaming and moving ------------------------------------------------------------------------


async def test_rename_keeps_the_old_name_as_former_name(tree_db: Database) -> None:
    async with tree_db.session() as session:
        cn1 = await unit(session, "CN1")
        done = await unit_admin.rename(session, cn1, "Tổ dân phố Cung Nhượng 1", now=NOW)
        assert (done.old, done.new) == ("Cung Nhượng 1", "Tổ dân phố Cung Nhượng 1")
        assert cn1.former_name == "Cung Nhượng 1"
        assert cn1.name_key == "to dan pho cung nhuong 1"
        same = await problem_of(
            unit_admin.rename(session, cn1, "Tổ dân phố  Cung Nhượng 1", now=NOW)
        )
        assert same.problem is Problem.SAME_NAME
        found = find_units("cung nhuong 1", await unit_admin.tree(session, None))
        assert [u.code for u in found] == ["CN1"]


async def test_a_name_that_folds_longer_than_its_key_column_is_kept(tree_db: Database) -> None:
    # "ß" folds to "ss": a 200-letter name would make a 400-letter key, too long for PostgreSQL.
    async with tree_db.session() as session:
        cn1 = await unit(session, "CN1")
        await unit_admin.rename(session, cn1, "ß" * 200, now=NOW)
    async with tree_db.session() as session:
        renamed = await unit(session, "CN1")
        assert renamed.name == "ß" * 200
        assert renamed.name_key == "ss" * 100


async def test_move_refuses_cycles_and_rebuilds_the_subtree_paths(tree_db: Database) -> None:
    async with tree_db.session() as session:
        cn2 = await unit(session, "CN2")
        child = await unit_admin.add_unit(
            session, cn2, code="CN2A", name="Nhóm A", level="tổ", now=NOW
        )
        child_id = pk(child)
    async with tree_db.session() as session:
        ward, cn1 = await unit(session, "THOXUONG"), await unit(session, "CN1")
        bn, tanmy = await unit(session, "BN"), await unit(session, "TANMY")
        cases = [
            (ward, cn1, Problem.INSIDE_ITSELF),
            (ward, ward, Problem.SAME_UNIT),
            (ward, bn, Problem.SAME_PARENT),
        ]
        for moving, parent, problem in cases:
            failed = await problem_of(unit_admin.move(session, moving, parent, now=NOW))
            assert failed.problem is problem
        cn2 = await unit(session, "CN2")
        moved = await unit_admin.move(session, cn2, tanmy, now=NOW, actor_label="test")
        assert (moved.old_parent, moved.new_parent, moved.units) == ("THOXUONG", "TANMY", 2)
    async with tree_db.session() as session:
        tanmy, cn2 = await unit(session, "TANMY"), await unit(session, "CN2")
        below = await session.get(Unit, child_id)
        assert below is not None
        assert cn2.parent_id == tanmy.id and cn2.path == f"{tanmy.path}{cn2.id}/"
        assert below.path == f"{cn2.path}{child_id}/"
        ward = await unit(session, "THOXUONG")
        assert [u.code for u in await unit_admin.tree(session, ward.path)] == ["THOXUONG", "CN1"]
        event = (await session.exec(select(AuditEvent).where(AuditEvent.action == "move"))).one()
        assert event.before == {"parent_id": ward.id, "path": f"{ward.path}{cn2.id}/"}
        assert event.after == {"parent_id": tanmy.id, "path": cn2.path}


# --- deactivating -------------------------------------------------------------------------------


async def test_deactivate_needs_no_active_units_below_and_stops_members_and_invites(
    tree_db: Database,
) -> None:
    async with tree_db.session() as session:
        cn2 = await unit(session, "CN2")
        member = Member(telegram_id=501, full_name="Lan", role=Role.COORDINATOR, unit_id=pk(cn2))
        session.add(member)
        invite = await invites.create(session, role=Role.COORDINATOR, unit=cn2, now=NOW)
        old = await invites.create(
            session, role=Role.COORDINATOR, unit=cn2, now=NOW - timedelta(days=30)
        )
        await session.flush()
        member_id, code, old_id = pk(member), invite.code, pk(old)
    async with tree_db.session() as session:
        ward, cn1, cn2 = [await unit(session, c) for c in ("THOXUONG", "CN1", "CN2")]
        busy = await problem_of(unit_admin.deactivate(session, ward, now=NOW))
        assert (busy.problem, busy.details["count"]) == (Problem.HAS_ACTIVE_UNITS, "2")
        own = await problem_of(unit_admin.deactivate(session, cn1, now=NOW, actor_unit_id=cn1.id))
        assert own.problem is Problem.OWN_UNIT
        done = await unit_admin.deactivate(session, cn2, now=NOW, actor_label="test")
        assert done.members == [member_id] and len(done.invites) == 1  # the expired one stays
        again = await problem_of(unit_admin.deactivate(session, cn2, now=NOW))
        assert again.problem is Problem.ALREADY_INACTIVE
    async with tree_db.session() as session:
        cn2 = await unit(session, "CN2")
        stored = await session.get(Member, member_id)
        assert stored is not None and not stored.active and not cn2.active
        assert (await invites.check(session, code, NOW)).status is invites.InviteStatus.REVOKED
        expired = await session.get(Invite, old_id)
        assert expired is not None and expired.revoked_at is None
        actions = {
            (e.entity, e.action)
            for e in (await session.exec(select(AuditEvent).where(AuditEvent.at == NOW))).all()
        }
        assert {("unit", "deactivate"), ("member", "deactivate"), ("invite", "revoke")} <= actions
        # With every unit below it inactive, the ward may go too.
        cn1 = await unit(session, "CN1")
        await unit_admin.deactivate(session, cn1, now=NOW)
        await unit_admin.deactivate(session, await unit(session, "THOXUONG"), now=NOW)


# --- merging ------------------------------------------------------------------------------------


async def seed_everything(db: Database, code: str) -> dict[str, Any]:
    """Records of every kind (one deleted), two members, an invite, a unit below and a
    schedule, all in unit `code`."""
    async with db.session() as session:
        place = await unit(session, code)
        reporter = Member(
            telegram_id=601, full_name="Hoa", role=Role.COORDINATOR, unit_id=pk(place)
        )
        helper = Member(telegram_id=602, full_name="Minh", role=Role.OFFICIAL, unit_id=pk(place))
        session.add_all([reporter, helper])
        await session.flush()
        ids: dict[str, Any] = {"members": [pk(reporter), pk(helper)]}
        for kind in RecordKind:
            ids[kind.value] = await records.save(session, kind, reporter, dict(ANSWERS[kind]), NOW)
        deleted = await records.save(
            session, RecordKind.ACTIVITY, reporter, dict(ANSWERS[RecordKind.ACTIVITY]), NOW
        )
        row = await session.get(Activity, deleted)
        assert row is not None
        row.deleted_at = NOW
        nil = await records.add_nil_report(session, reporter, date(2026, 11, 16), NOW)
        ids["nil"] = pk(nil)
        ids["invite"] = pk(
            await invites.create(session, role=Role.COORDINATOR, unit=place, now=NOW)
        )
        below = await unit_admin.add_unit(
            session, place, code=f"{code}A", name="Nhóm A", level="tổ", now=NOW
        )
        ids["below"] = pk(below)
        await schedules.set_times(session, pk(place), {"reminder_time": time(8, 30)}, actor_id=None)
    return ids


COUNTED_MODELS: dict[str, Any] = {
    **unit_admin.RECORD_MODELS,
    "member": Member,
    "invite": Invite,
    "unit": Unit,
    "schedule": Schedule,
}


async def table_counts(session: Any) -> dict[str, int]:
    """Rows per table that a merge touches: a merge must leave every one unchanged."""
    return {
        name: (await session.exec(select(func.count()).select_from(model))).one()
        for name, model in COUNTED_MODELS.items()
    }


async def rows_of(session: Any, model: Any, unit_id: int) -> int:
    return len((await session.exec(select(model).where(model.unit_id == unit_id))).all())


async def test_merge_moves_everything_and_loses_nothing(tree_db: Database) -> None:
    ids = await seed_everything(tree_db, "CN2")
    async with tree_db.session() as session:
        before = await table_counts(session)
        cn1, cn2 = await unit(session, "CN1"), await unit(session, "CN2")
        source_id, target_id = pk(cn2), pk(cn1)
        in_target = {
            m: await rows_of(session, m, target_id)
            for m in (Activity, LandPledge, Workday, NilReport)
        }
        plan = await unit_admin.plan_merge(session, cn2, cn1)
        assert plan.counts() == {
            "activity": 2,
            "land_pledge": 1,
            "workday": 1,
            "nil_report": 1,
            "members": 2,
            "invites": 1,
            "units": 1,
        }
        assert plan.schedule == "moved"
        done = await unit_admin.merge(session, cn2, cn1, now=NOW, actor_label="test")
        assert done.counts() == plan.counts() and done.record_count == 5
    async with tree_db.session() as session:
        assert await table_counts(session) == before
        for model in (Activity, LandPledge, Workday, NilReport):
            assert await rows_of(session, model, source_id) == 0
            assert await rows_of(session, model, target_id) == in_target[model] + len(
                done.records[model.__tablename__]
            )
        for member_id in ids["members"]:
            member = await session.get(Member, member_id)
            assert member is not None and member.unit_id == target_id and member.active
        invite = await session.get(Invite, ids["invite"])
        assert invite is not None and invite.unit_id == target_id
        below = await session.get(Unit, ids["below"])
        cn1, cn2 = await unit(session, "CN1"), await unit(session, "CN2")
        assert below is not None and below.parent_id == target_id
        assert below.path == f"{cn1.path}{below.id}/"
        assert not cn2.active and cn1.active
        assert await session.get(Schedule, source_id) is None
        moved = await session.get(Schedule, target_id)
        assert moved is not None and moved.reminder_time == time(8, 30)
        note = await unit_admin.merge_note(session, cn2)
        assert note is not None and (note.into_code, note.into_name) == ("CN1", "Cung Nhượng 1")
        event = (
            await session.exec(
                select(AuditEvent).where(
                    AuditEvent.action == "merge", AuditEvent.entity_id == source_id
                )
            )
        ).one()
        assert event.after is not None and event.after["records"]["activity"] == sorted(
            done.records["activity"]
        )
        assert event.before is not None and event.before["schedule"]["reminder_time"] == "08:30:00"
        member_events = (
            await session.exec(
                select(AuditEvent).where(AuditEvent.entity == "member", AuditEvent.action == "move")
            )
        ).all()
        assert sorted(e.entity_id for e in member_events if e.entity_id) == ids["members"]
        # /nhatky has words for every action a merge records.
        actions = set((await session.exec(select(AuditEvent.action))).all())
        assert {"merge", "merge_from"} <= actions <= set(ACTIONS)


async def test_merge_keeps_one_nil_report_a_week_and_none_beside_a_record(
    tree_db: Database,
) -> None:
    async with tree_db.session() as session:
        cn1, cn2 = await unit(session, "CN1"), await unit(session, "CN2")
        kept = Member(telegram_id=611, full_name="Hoa", role=Role.COORDINATOR, unit_id=pk(cn1))
        moved = Member(telegram_id=612, full_name="Minh", role=Role.COORDINATOR, unit_id=pk(cn2))
        session.add_all([kept, moved])
        await session.flush()
        for member in (kept, moved):  # both said "nothing" the week of 16/11
            await records.add_nil_report(session, member, date(2026, 11, 16), NOW)
        await records.add_nil_report(session, moved, date(2026, 11, 9), NOW)
        activity = {**ANSWERS[RecordKind.ACTIVITY], "on_date": "2026-11-11"}
        await records.save(
            session, RecordKind.ACTIVITY, kept, activity, NOW
        )  # CN1 did report that week
        await unit_admin.merge(session, cn2, cn1, now=NOW, actor_label="test")
    async with tree_db.session() as session:
        live = select(col(NilReport.week_start)).where(
            NilReport.unit_id == pk(cn1), col(NilReport.deleted_at).is_(None)
        )
        assert (await session.exec(live)).all() == [date(2026, 11, 16)]


async def test_merge_refuses_itself_its_own_units_and_inactive_targets(tree_db: Database) -> None:
    async with tree_db.session() as session:
        ward, cn1, cn2 = [await unit(session, c) for c in ("THOXUONG", "CN1", "CN2")]
        assert (await problem_of(unit_admin.merge(session, cn1, cn1, now=NOW))).problem is (
            Problem.SAME_UNIT
        )
        inside = await problem_of(unit_admin.merge(session, ward, cn1, now=NOW))
        assert (inside.problem, inside.details) == (
            Problem.INSIDE_ITSELF,
            {"code": "THOXUONG", "other": "CN1"},
        )
        cn2.active = False
        assert (await problem_of(unit_admin.merge(session, cn1, cn2, now=NOW))).problem is (
            Problem.INACTIVE
        )
        # Into its parent is fine: its units move up.
        everything = await unit_admin.tree(session, None)
        targets = [u.code for u in unit_admin.merge_choices(cn1, everything)]
        assert targets == ["BN", "THOXUONG", "TANMY", "TM1"]
        in_ward = await unit_admin.tree(session, ward.path)
        assert [u.code for u in unit_admin.move_choices(ward, in_ward)] == []


async def test_merge_keeps_the_targets_own_schedule(tree_db: Database) -> None:
    async with tree_db.session() as session:
        cn1, cn2 = await unit(session, "CN1"), await unit(session, "CN2")
        await schedules.set_times(session, pk(cn1), {"reminder_time": time(9, 0)}, actor_id=None)
        await schedules.set_times(session, pk(cn2), {"reminder_time": time(7, 0)}, actor_id=None)
        await session.flush()
        plan = await unit_admin.merge(session, cn2, cn1, now=NOW)
        assert plan.schedule == "dropped"
    async with tree_db.session() as session:
        cn1 = await unit(session, "CN1")
        kept = await session.get(Schedule, pk(cn1))
        assert kept is not None and kept.reminder_time == time(9, 0)
        assert len((await session.exec(select(Schedule))).all()) == 1
        event = (await session.exec(select(AuditEvent).where(AuditEvent.action == "merge"))).one()
        assert event.before is not None and event.before["schedule"]["reminder_time"] == "07:00:00"


# --- the command line ---------------------------------------------------------------------------


@pytest.fixture
def units_cli(
    database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Any
) -> Any:
    """`danvan units ...` with the new subcommands, against a database holding ALL_UNITS;
    returns run(*args) -> (status, stdout, stderr)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DEFAULT_LANGUAGE", "en")
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    path = tmp_path / "units.csv"
    path.write_bytes(ALL_UNITS)
    assert main(["units", "import", str(path)]) == 0

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        status = main(["units", *args])
        captured = capsys.readouterr()
        return status, captured.out, captured.err

    return run


def listed(capsys: Any) -> dict[str, dict[str, Any]]:
    capsys.readouterr()
    assert main(["units", "list", "--json"]) == 0
    return {u["code"]: u for u in json.loads(capsys.readouterr().out)}


def test_cli_rename_and_move(units_cli: Any, capsys: Any) -> None:
    status, out, _ = units_cli("rename", "CN1", "--name", "Tổ dân phố Cung Nhượng 1")
    assert status == 0
    assert out.strip() == (
        "CN1: renamed from “Cung Nhượng 1” to “Tổ dân phố Cung Nhượng 1”; "
        "the old name is kept as its former name."
    )
    status, out, _ = units_cli("move", "CN2", "--parent", "TANMY", "--json")
    assert status == 0
    assert json.loads(out) == {
        "ok": True,
        "code": "CN2",
        "parent": "TANMY",
        "old_parent": "THOXUONG",
        "units_moved": 1,
    }
    after = listed(capsys)
    assert after["CN1"]["former_name"] == "Cung Nhượng 1"
    assert after["CN2"]["parent_code"] == "TANMY"


def test_cli_errors_are_one_line_and_change_nothing(units_cli: Any, capsys: Any) -> None:
    status, out, err = units_cli("move", "THOXUONG", "--parent", "CN1")
    assert (status, out) == (1, "")
    assert err == (
        "danvan: CN1 is one of the units under THOXUONG, so THOXUONG would end up inside itself.\n"
    )
    status, _, err = units_cli("rename", "NOPE", "--name", "X")
    assert (status, err) == (1, "danvan: There is no unit with code NOPE.\n")
    status, out, err = units_cli("merge", "CN1", "--into", "CN1", "--json")
    assert status == 1 and err == ""
    assert json.loads(out) == {
        "ok": False,
        "problem": "same_unit",
        "message": "Unit CN1 cannot be moved under or merged into itself.",
        "code": "CN1",
    }
    status, _, err = units_cli("deactivate", "THOXUONG")
    assert status == 1 and err.count("\n") == 1 and "2 active unit(s)" in err
    assert listed(capsys)["THOXUONG"]["parent_code"] == "BN"
    with pytest.raises(SystemExit):
        units_cli("merge", "CN1")  # --into is required


def test_cli_deactivate_and_merge(units_cli: Any, capsys: Any) -> None:
    status, out, _ = units_cli("deactivate", "TM1", "--json")
    assert status == 0
    assert json.loads(out) == {
        "ok": True,
        "code": "TM1",
        "members_deactivated": [],
        "invites_revoked": [],
    }
    status, out, _ = units_cli("merge", "CN2", "--into", "CN1")
    assert status == 0
    assert out.strip() == (
        "CN2 was merged into CN1: 0 record(s), 0 member(s), 0 invite(s) and 0 unit(s) moved; "
        "CN2 is now inactive."
    )
    status, out, _ = units_cli("merge", "TANMY", "--into", "THOXUONG", "--json")
    assert status == 0
    assert json.loads(out)["moved"]["units"] == 1
    after = listed(capsys)
    assert not after["CN2"]["active"] and not after["TM1"]["active"]
    assert after["TM1"]["parent_code"] == "THOXUONG" and not after["TANMY"]["active"]
