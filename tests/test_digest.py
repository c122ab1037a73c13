"""The weekly and monthly digest: periods, numbers on SQLite and PostgreSQL, HTML and splitting.

Every expected figure below was worked out by hand from SEED (see the comments), not by
running the same SQL again.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from bot.domain.access import Role
from bot.domain.digest import (
    LOCAL_TZ,
    ChildRow,
    Digest,
    DigestUnit,
    Figures,
    GroupRef,
    Totals,
    WeekPoint,
    mask_donor,
)
from bot.domain.formatting import MESSAGE_LIMIT, utf16_length
from bot.domain.i18n import Translator
from bot.domain.outgoing import SendKind
from bot.domain.periods import Period, week_start
from bot.domain.records import RecordKind
from bot.domain.unit_csv import parse_unit_csv
from bot.services.digests import build_digest, build_digests, digest_sends, render_digest
from storage import digest as queries
from storage import records, units
from storage.digest import series_ranges
from storage.engine import Database
from storage.migrate import upgrade
from storage.models import LandPledge, Member, pk
from tests import digest_oracle as oracle
from tests.fakebot.html_check import parse_html

EN = Translator("en")
NOW = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
W48 = Period("week", date(2026, 11, 23), date(2026, 11, 29))
NOVEMBER = Period("month", date(2026, 11, 1), date(2026, 11, 30))
EAST_WEST = "Thôn <Đông> & Tây"
EAST_WEST_HTML = "Thôn &lt;Đông&gt; &amp; Tây"

UNITS = f"""code,name,level,parent_code
P,Tỉnh Bắc Ninh,tỉnh,
X1,xã Một,xã,P
X2,xã Hai,xã,P
X3,xã Ba,xã,P
G1,Thôn 1,thôn,X1
G2,Thôn 2,thôn,X1
G6,Thôn 6,thôn,X1
G7,Thôn 7 cũ,thôn,X1
G3,{EAST_WEST},thôn,X2
G4,Thôn 4,thôn,X2
G5,Thôn 5,thôn,X2
""".encode()

# The groups (active leaves): G1, G2, G6 (X1); G3, G4, G5 (X2); X3 itself, which has no
# villages. G7 is made inactive, so X1 keeps three groups.
#
# (name, group, date, kind, participants); A9 is deleted afterwards.
ACTIVITIES = [
    ("A1", "G1", "2026-11-23", "hop_dan", 30),  # W48 (Monday)
    ("A2", "G1", "2026-11-25", "tuyen_truyen", 15),  # W48
    ("A3", "G2", "2026-11-29", "ve_sinh", 40),  # W48 (Sunday); supersedes G2's nil report
    ("A4", "G3", "2026-11-30", "hop_dan", 99),  # W49: November, not W48
    ("A5", "G1", "2026-11-22", "hop_dan", 20),  # W47 (Sunday)
    ("A6", "G4", "2026-11-16", "van_dong", 8),  # W47 (Monday)
    ("A7", "G3", "2026-03-10", "ra_mat", 100),  # this year only
    ("A8", "G2", "2025-12-31", "hop_dan", 50),  # last year, but ISO week 2026-W01
    ("A9", "G1", "2026-11-24", "hop_dan", 1000),  # deleted
    ("A10", "X3", "2026-11-27", "tuan_tra", 6),  # W48
    ("A11", "G2", "2026-10-15", "hop_dan", 25),  # October
    ("A12", "G6", "2026-11-03", "hoa_giai", 4),  # November, W45
]
# (name, group, date, stage, donor, m²); L5 and L12 are handed over later, L8 is deleted.
PLEDGES = [
    ("L1", "G1", "2026-11-24", "cam_ket", "Hộ ông Nguyễn Văn An", "250.5"),
    ("L2", "G2", "2026-11-26", "cam_ket", "Hộ bà Trần Thị Bình", "1000"),
    ("L3", "G3", "2026-11-28", "ban_giao", "Lê Văn Cường", "120"),  # pledged and handed over
    ("L4", "G3", "2026-11-27", "huy", "Hộ ông Phạm Văn Dũng", "500"),  # cancelled: a record, no m²
    ("L5", "G4", "2026-10-10", "cam_ket", "Hộ ông Hồ Văn Em", "300"),  # handed over 25/11/2026
    ("L6", "G1", "2026-11-18", "cam_ket", "Hộ Đỗ Thị Hoa", "80"),  # W47
    ("L7", "G2", "2026-11-20", "ban_giao", "Ngô Văn Ích", "45.25"),  # W47, handed over W47
    ("L8", "G1", "2026-11-25", "cam_ket", "Hộ ông Xóa Bỏ", "5000"),  # deleted
    ("L9", "X3", "2026-11-23", "cam_ket", "Hộ ông Vũ Văn Khánh", "60"),
    ("L10", "G2", "2026-11-29", "cam_ket", "Bùi Văn Minh", "30"),  # sixth largest of W48
    ("L11", "G1", "2026-11-23", "cam_ket", "Hộ ông Đặng Văn Nam", "75"),
    ("L12", "G3", "2025-12-20", "cam_ket", "Hộ bà Mai Thị Oanh", "400"),  # handed over 02/01/2026
]
HANDED_OVER_LATER = {"L5": date(2026, 11, 25), "L12": date(2026, 1, 2)}
# (group, date, work, people, days each)
WORKDAYS = [
    ("G1", "2026-11-28", "Bê tông hóa đường", 12, "0.5"),  # 6, W48
    ("G2", "2026-11-26", "Nạo vét kênh", 10, "1"),  # 10, W48
    ("G3", "2026-11-19", "Dọn vệ sinh", 5, "2"),  # 10, W47
    ("G1", "2026-02-14", "Làm đường", 20, "1"),  # 20, this year
]
# (group, Monday); G2's is superseded by A3, saved after it.
NIL_REPORTS = [
    ("G4", date(2026, 11, 23)),  # W48
    ("G5", date(2026, 11, 23)),  # W48
    ("X3", date(2026, 11, 16)),  # W47
    ("G3", date(2026, 6, 1)),  # this year
    ("G2", date(2026, 11, 23)),  # superseded
]


async def seed(db: Database) -> dict[str, Any]:
    """The units, members and records above; returns units and members by code/name."""
    rows, errors = parse_unit_csv(UNITS)
    assert errors == []
    found: dict[str, Any] = {}
    async with db.session() as session:
        await units.apply_import(session, await units.plan_import(session, rows), actor_label="t")
        for unit in await units.list_all(session):
            found[unit.code] = unit
        found["G7"].active = False
        people: list[tuple[str, Role, str, dict[str, Any]]] = [
            ("G1", Role.COORDINATOR, "Người G1", {}),
            ("G2", Role.COORDINATOR, "Người G2", {}),
            ("G3", Role.COORDINATOR, "Người G3", {}),
            ("G4", Role.COORDINATOR, "Người G4", {}),
            ("G5", Role.COORDINATOR, "Người G5", {}),
            ("G6", Role.COORDINATOR, "Người G6", {}),
            ("X3", Role.COORDINATOR, "Người X3", {}),
            ("P", Role.OFFICIAL, "Cán bộ tỉnh", {}),
            ("X1", Role.OFFICIAL, "Cán bộ xã Một", {"language": "en"}),
            # unreachable: 20/11 local; 09/11 20:00 UTC is 10/11 in Vietnam
            (
                "G2",
                Role.COORDINATOR,
                "Người G2b",
                {"unreachable_at": datetime(2026, 11, 20, 3, 0, tzinfo=UTC)},
            ),
            (
                "G3",
                Role.COORDINATOR,
                "Người G3b",
                {"unreachable_at": datetime(2026, 11, 9, 20, 0, tzinfo=UTC)},
            ),
            # unreachable but no longer active: not listed
            ("G1", Role.COORDINATOR, "Người G1 cũ", {"unreachable_at": NOW, "active": False}),
        ]
        for number, (code, role, name, extra) in enumerate(people):
            member = Member(
                telegram_id=500 + number,
                full_name=name,
                role=role,
                unit_id=pk(found[code]),
                **extra,
            )
            session.add(member)
            await session.flush()
            found[name] = member
        coordinator = {
            code: found[f"Người {code}"] for code in ("G1", "G2", "G3", "G4", "G5", "G6", "X3")
        }
        for code, week in NIL_REPORTS:
            await records.add_nil_report(session, coordinator[code], week, NOW)
        for name, code, on, kind, participants in ACTIVITIES:
            answers = {"on_date": on, "kind": kind, "participants": participants, "photos": []}
            found[name] = await records.save(
                session, RecordKind.ACTIVITY, coordinator[code], answers, NOW
            )
        for name, code, on, stage, donor, area in PLEDGES:
            answers = {
                "on_date": on,
                "stage": stage,
                "donor": donor,
                "area_m2": area,
                "land_kind": "dat_o",
                "purpose": "duong",
                "value_vnd": "2000000" if name == "L1" else None,
            }
            found[name] = await records.save(
                session, RecordKind.LAND, coordinator[code], answers, NOW
            )
        for number, (code, on, work, people_count, days) in enumerate(WORKDAYS, start=1):
            answers = {"on_date": on, "work": work, "people": people_count, "days_each": days}
            found[f"W{number}"] = await records.save(
                session, RecordKind.WORKDAY, coordinator[code], answers, NOW
            )
        for name, handed_over_on in HANDED_OVER_LATER.items():
            pledge = await session.get(LandPledge, found[name])
            assert pledge is not None
            pledge.stage, pledge.handed_over_on = "ban_giao", handed_over_on
        for model, name in ((records.Activity, "A9"), (LandPledge, "L8")):
            row = await session.get(model, found[name])
            assert row is not None
            row.deleted_at = NOW
    return found


def figures(**values: Any) -> Figures:
    """Figures with areas and workdays written as strings: figures(land_m2="12.5")."""
    converted: dict[str, Any] = {
        name: Decimal(value) if isinstance(value, str) else value for name, value in values.items()
    }
    return Figures(**converted)


NO_FIGURES = Figures()


# --- periods --------------------------------------------------------------------------------------


def test_last_week_across_the_year_boundary() -> None:
    week = Period.last_week(date(2026, 1, 5))  # a Monday
    assert (week.start, week.end, week.key) == (date(2025, 12, 29), date(2026, 1, 4), "2026-W01")
    assert week.ytd_start == date(2026, 1, 1)
    before = week.previous()
    assert (before.start, before.end, before.key) == (
        date(2025, 12, 22),
        date(2025, 12, 28),
        "2025-W52",
    )
    assert before.ytd_start == date(2025, 1, 1)
    assert Period.last_week(date(2026, 1, 4)).key == "2025-W52"  # a Sunday
    assert Period.last_week(date(2021, 1, 4)).key == "2020-W53"
    assert Period.last_week(date(2026, 11, 30)) == W48
    assert W48.key == "2026-W48" and W48.is_complete


def test_last_month_and_the_month_before_january() -> None:
    january = Period.last_month(date(2026, 2, 3))
    assert (january.start, january.end, january.key) == (
        date(2026, 1, 1),
        date(2026, 1, 31),
        "2026-01",
    )
    december = january.previous()
    assert (december.start, december.end, december.key) == (
        date(2025, 12, 1),
        date(2025, 12, 31),
        "2025-12",
    )
    assert Period.last_month(date(2026, 1, 1)) == december
    assert Period.last_month(date(2026, 12, 1)) == NOVEMBER
    assert NOVEMBER.previous() == Period("month", date(2026, 10, 1), date(2026, 10, 31))
    march = Period.month_of(date(2024, 3, 15))
    assert march.previous() == Period("month", date(2024, 2, 1), date(2024, 2, 29))


def test_periods_so_far_compare_with_the_same_days_before() -> None:
    week = Period.this_week_so_far(date(2026, 11, 25))
    assert (week.start, week.end, week.key, week.is_complete) == (
        date(2026, 11, 23),
        date(2026, 11, 25),
        "2026-W48",
        False,
    )
    assert week.previous() == Period("week", date(2026, 11, 16), date(2026, 11, 18))
    month = Period.this_month_so_far(date(2026, 3, 30))
    assert month.previous() == Period("month", date(2026, 2, 1), date(2026, 2, 28))
    assert Period.this_month_so_far(date(2026, 3, 12)).previous() == Period(
        "month", date(2026, 2, 1), date(2026, 2, 12)
    )


# --- masking --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("Hộ ông Nguyễn Văn An", "Hộ ông N.V.A."),
        ("Hộ bà Trần Thị Bình", "Hộ bà T.T.B."),
        ("Hộ Đỗ Thị Hoa", "Hộ Đ.T.H."),
        ("hộ ông đặng văn nam", "hộ ông Đ.V.N."),
        ("Lê Văn Cường", "L.V.C."),
        ("Hồ Văn Em", "H.V.E."),  # the surname Hồ is not hộ
        ("Hộ ông Hồ Văn Em", "Hộ ông H.V.E."),
        ("ho ong nguyen van an", "ho ong N.V.A."),
        ("Gia đình bà Lý Thị Mai", "Gia đình bà L.T.M."),
        ("Ông Ích Khiêm", "Ông Í.K."),
        (unicodedata.normalize("NFD", "Hộ ông Nguyễn Văn An"), "Hộ ông N.V.A."),
        ("  Hộ   ông  ", "Hộ ông"),
    ],
)
def test_mask_donor(name: str, masked: str) -> None:
    assert mask_donor(name) == masked


# --- numbers --------------------------------------------------------------------------------------

# W48 for the province: A1 A2 A3 A10 | L1 L2 L3 L4 L9 L10 L11 | W1 W2 | nil G4 G5.
W48_PROVINCE = figures(
    records=13,
    activities=4,
    participants=91,  # 30 + 15 + 40 + 6
    land_m2="1535.50",  # 250,5 + 1.000 + 120 + 60 + 30 + 75 (L4 cancelled)
    handed_over_m2="420.00",  # L3 120 + L5 300
    workdays="16.00",  # 6 + 10
    nil_reports=2,
)
# W47: A5 A6 | L6 L7 | W3 | nil X3.
W47_PROVINCE = figures(
    records=5,
    activities=2,
    participants=28,
    land_m2="125.25",
    handed_over_m2="45.25",
    workdays="10.00",
    nil_reports=1,
)
# 1/1–29/11/2026: A1 A2 A3 A5 A6 A7 A10 A11 A12 | L1–L7 L9–L11 | W1–W4 | nil G4 G5 X3 G3.
YTD_W48_PROVINCE = figures(
    records=23,
    activities=9,
    participants=248,  # 91 + 28 + 100 + 25 + 4
    land_m2="1960.75",  # 1.535,5 + 125,25 + 300 (L5)
    handed_over_m2="865.25",  # 420 + 45,25 + 400 (L12 on 02/01/2026)
    workdays="46.00",
    nil_reports=4,
)


async def test_weekly_digest_of_the_province(db: Database) -> None:
    found = await seed(db)
    async with db.session() as session:
        digest = await build_digest(session, pk(found["P"]), W48, mask_donors=True)
    assert digest.unit == DigestUnit(pk(found["P"]), "P", "Tỉnh Bắc Ninh", "tỉnh", False)
    assert digest.totals == Totals(W48_PROVINCE, W47_PROVINCE, YTD_W48_PROVINCE)
    assert digest.totals.change == figures(
        records=8,
        activities=2,
        participants=63,
        land_m2="1410.25",
        handed_over_m2="374.75",
        workdays="6.00",
        nil_reports=1,
    )
    assert [(c.code, c.figures) for c in digest.children] == [
        (
            "X1",  # A1 A2 A3 | L1 L2 L10 L11 | W1 W2
            figures(
                records=9,
                activities=3,
                participants=85,
                land_m2="1355.50",
                handed_over_m2="0",
                workdays="16",
                nil_reports=0,
            ),
        ),
        (
            "X2",  # L3 L4; L3 and L5 handed over; nil G4 G5
            figures(
                records=2,
                activities=0,
                participants=0,
                land_m2="120",
                handed_over_m2="420",
                workdays="0",
                nil_reports=2,
            ),
        ),
        (
            "X3",  # A10 L9
            figures(
                records=2,
                activities=1,
                participants=6,
                land_m2="60",
                handed_over_m2="0",
                workdays="0",
                nil_reports=0,
            ),
        ),
    ]
    # G1: A1 A2 L1 L11 W1 = 5; G2: A3 L2 L10 W2 = 4; G3 (L3 L4) and X3 (A10 L9) have 2 each,
    # G3 with more m² (120 against 60).
    assert [(g.name, g.figures.records, g.figures.land_m2) for g in digest.top_groups] == [
        ("Thôn 1", 5, Decimal("325.50")),
        ("Thôn 2", 4, Decimal("1030.00")),
        (EAST_WEST, 2, Decimal("120.00")),
    ]
    assert [g.parent_name for g in digest.top_groups] == ["xã Một", "xã Một", "xã Hai"]
    assert [(p.donor, p.area_m2, p.unit_name, p.on_date) for p in digest.largest_pledges] == [
        ("Hộ bà T.T.B.", Decimal("1000.00"), "Thôn 2", date(2026, 11, 26)),
        ("Hộ ông N.V.A.", Decimal("250.50"), "Thôn 1", date(2026, 11, 24)),
        ("L.V.C.", Decimal("120.00"), EAST_WEST, date(2026, 11, 28)),
        ("Hộ ông Đ.V.N.", Decimal("75.00"), "Thôn 1", date(2026, 11, 23)),
        ("Hộ ông V.V.K.", Decimal("60.00"), "xã Ba", date(2026, 11, 23)),
    ]
    # G6 has nothing in W48; G4 and G5 sent nil reports; G7 is inactive.
    assert digest.silent_groups == [GroupRef(pk(found["G6"]), "Thôn 6", pk(found["X1"]), "xã Một")]
    assert [(m.full_name, m.role, m.unit_name) for m in digest.unreachable] == [
        ("Người G3b", "coordinator", EAST_WEST),
        ("Người G2b", "coordinator", "Thôn 2"),
    ]
    # 12 weeks from 07/09/2026: L5 in the week of 05/10, A11 in that of 12/10, A12 in that of
    # 02/11, then W47 and W48.
    assert digest.weekly_series[0].start == date(2026, 9, 7)
    assert [(p.records, p.land_m2) for p in digest.weekly_series] == [
        (0, Decimal("0.00")),
        (0, Decimal("0.00")),
        (0, Decimal("0.00")),
        (0, Decimal("0.00")),
        (1, Decimal("300.00")),
        (1, Decimal("0.00")),
        (0, Decimal("0.00")),
        (0, Decimal("0.00")),
        (1, Decimal("0.00")),
        (0, Decimal("0.00")),
        (5, Decimal("125.25")),
        (13, Decimal("1535.50")),
    ]


async def test_monthly_digest_of_the_province(db: Database) -> None:
    found = await seed(db)
    async with db.session() as session:
        digest = await build_digest(session, pk(found["P"]), NOVEMBER, mask_donors=True)
    assert digest.totals == Totals(
        # W48 and W47 as above, plus A4 (30/11, 99 people) and A12 (03/11, 4 people);
        # nil reports G4 G5 (23/11) and X3 (16/11).
        figures(
            records=20,
            activities=8,
            participants=222,
            land_m2="1660.75",
            handed_over_m2="465.25",
            workdays="26",
            nil_reports=3,
        ),
        # October: A11 (25 people) and L5 (300 m²).
        figures(
            records=2,
            activities=1,
            participants=25,
            land_m2="300",
            handed_over_m2="0",
            workdays="0",
            nil_reports=0,
        ),
        # 1/1–30/11/2026: the weekly year-to-date plus A4.
        figures(
            records=24,
            activities=10,
            participants=347,
            land_m2="1960.75",
            handed_over_m2="865.25",
            workdays="46",
            nil_reports=4,
        ),
    )
    assert digest.totals.change.participants == 197
    assert digest.totals.change.land_m2 == Decimal("1360.75")
    # In a month, nil reports do not count: G5 sent only one. G6 logged A12 on 03/11.
    assert digest.silent_groups == [GroupRef(pk(found["G5"]), "Thôn 5", pk(found["X2"]), "xã Hai")]
    # The last bar is the week of 30/11, cut at the month's end: A4 only.
    assert digest.weekly_series[-1] == WeekPoint(date(2026, 11, 30), 1, Decimal("0.00"))
    assert digest.weekly_series[-2] == WeekPoint(date(2026, 11, 23), 13, Decimal("1535.50"))


async def test_land_handed_over_and_then_cancelled_is_not_counted_as_handed_over(
    db: Database,
) -> None:
    found = await seed(db)
    async with db.session() as session:
        pledge = await session.get(LandPledge, found["L5"])  # 300 m², handed over 25/11/2026
        assert pledge is not None
        pledge.stage = "huy"
    async with db.session() as session:
        digest = await build_digest(session, pk(found["P"]), W48, mask_donors=True)
    assert digest.totals.current.handed_over_m2 == Decimal(120)  # L3 only


async def test_weekly_digest_of_a_commune(db: Database) -> None:
    found = await seed(db)
    async with db.session() as session:
        digest = await build_digest(session, pk(found["X1"]), W48, mask_donors=True)
    assert digest.totals == Totals(
        figures(
            records=9,
            activities=3,
            participants=85,
            land_m2="1355.5",
            handed_over_m2="0",
            workdays="16",
            nil_reports=0,
        ),
        # A5 (20 people), L6 (80 m²), L7 (45,25 m², handed over the same day)
        figures(
            records=3,
            activities=1,
            participants=20,
            land_m2="125.25",
            handed_over_m2="45.25",
            workdays="0",
            nil_reports=0,
        ),
        # A1 A2 A3 A5 A11 A12 | L1 L2 L6 L7 L10 L11 | W1 W2 W4
        figures(
            records=15,
            activities=6,
            participants=134,
            land_m2="1480.75",
            handed_over_m2="45.25",
            workdays="36",
            nil_reports=0,
        ),
    )
    # G7 is inactive and has nothing: left out.
    assert [(c.code, c.figures.records, c.figures.participants) for c in digest.children] == [
        ("G1", 5, 45),
        ("G2", 4, 40),
        ("G6", 0, 0),
    ]
    assert [g.name for g in digest.top_groups] == ["Thôn 1", "Thôn 2"]
    assert [(p.donor, p.area_m2) for p in digest.largest_pledges] == [
        ("Hộ bà T.T.B.", Decimal("1000.00")),
        ("Hộ ông N.V.A.", Decimal("250.50")),
        ("Hộ ông Đ.V.N.", Decimal("75.00")),
        ("B.V.M.", Decimal("30.00")),
    ]
    assert [g.name for g in digest.silent_groups] == ["Thôn 6"]
    assert [m.full_name for m in digest.unreachable] == ["Người G2b"]


async def test_a_group_official_sees_full_donor_names(db: Database) -> None:
    found = await seed(db)
    async with db.session() as session:
        digest = await build_digest(session, pk(found["G1"]), W48, mask_donors=True)
    assert digest.unit.is_group and digest.children == []
    assert digest.totals.current == figures(
        records=5,
        activities=2,
        participants=45,
        land_m2="325.5",
        handed_over_m2="0",
        workdays="6",
        nil_reports=0,
    )
    assert [(p.donor, p.area_m2) for p in digest.largest_pledges] == [
        ("Hộ ông Nguyễn Văn An", Decimal("250.50")),
        ("Hộ ông Đặng Văn Nam", Decimal("75.00")),
    ]
    text = "\n".join(m.text for m in render_digest(EN, digest, chart=False))
    assert "Hộ ông Nguyễn Văn An" in text
    assert "Most active groups" not in text and "no report" not in text


async def test_the_week_across_new_year(db: Database) -> None:
    found = await seed(db)
    week = Period.last_week(date(2026, 1, 5))
    async with db.session() as session:
        digest = await build_digest(session, pk(found["P"]), week, mask_donors=False)
    # A8 on 31/12/2025 is in the week but not in 2026; L12 was handed over on 02/01/2026.
    assert digest.totals == Totals(
        figures(records=1, activities=1, participants=50, handed_over_m2="400"),
        NO_FIGURES,
        figures(handed_over_m2="400"),
    )


async def test_rendered_weekly_digest(db: Database) -> None:
    found = await seed(db)
    async with db.session() as session:
        digest = await build_digest(session, pk(found["P"]), W48, mask_donors=True)
    messages = render_digest(EN, digest, xlsx=b"PK-fake", chart=False)
    assert len(messages) == 1
    text = messages[0].text
    parse_html(text)
    for expected in [
        "📊 <b>Weekly digest: Tỉnh Bắc Ninh</b>",
        "Week 48/2026: 23/11/2026 – 29/11/2026",
        "• Activities: <b>4</b> (+2; 9)",
        "• Participants: <b>91</b> (+63; 248)",
        "• Land pledged: <b>1.535,5 m²</b> (+1.410,25 m²; 1.960,75 m²)",
        "• Land handed over: <b>420 m²</b> (+374,75 m²; 865,25 m²)",
        "• Workdays: <b>16</b> (+6; 46)",
        "• Nil reports: <b>2</b> (+1; 4)",
        "1. <b>Thôn 1</b> (xã Một): 5 records · 325,5 m² pledged",
        f"3. <b>{EAST_WEST_HTML}</b> (xã Hai): 2 records · 120 m² pledged",
        "1. Hộ bà T.T.B.: <b>1.000 m²</b> · Thôn 2 · 26/11/2026",
        f"3. L.V.C.: <b>120 m²</b> · {EAST_WEST_HTML} · 28/11/2026",
        "• Thôn 6 (xã Một)",
        f"• Người G3b (coordinator, {EAST_WEST_HTML}), since 10/11/2026",
        "• Người G2b (coordinator, Thôn 2), since 20/11/2026",
    ]:
        assert expected in text, expected
    assert EAST_WEST not in text
    table = re.search(r"<pre>(.*?)</pre>", text, re.S)
    assert table is not None
    rows = table.group(1).splitlines()
    assert rows[0].split() == ["Unit", "Act.", "Land", "m²", "Workd."]
    assert rows[1].split() == ["xã", "Một", "3", "1.355,5", "16"]
    assert rows[2].split() == ["xã", "Hai", "0", "120", "0"]
    assert rows[3].split() == ["xã", "Ba", "1", "60", "0"]
    attachments = messages[-1].attachments
    assert [(a.filename, a.as_photo) for a in attachments] == [("danvan-P-2026-W48.xlsx", False)]


async def test_unit_names_are_escaped_inside_the_table(db: Database) -> None:
    found = await seed(db)
    async with db.session() as session:
        digest = await build_digest(session, pk(found["X2"]), W48, mask_donors=True)
    text = render_digest(EN, digest, chart=False)[0].text
    plain, _entities = parse_html(text)
    assert "Thôn &lt;Đông&gt; &amp; T…" in text  # clipped to 16 characters, then escaped
    assert "Thôn <Đông> & T…" in plain
    # L3 (120 m²) is L.V.C.; L4 was cancelled.
    assert "1. L.V.C.: <b>120 m²</b>" in text and "P.V.D." not in text


# --- splitting ------------------------------------------------------------------------------------


def synthetic_digest(children: int, name: str = "Tổ dân phố số {n} <A&B>") -> Digest:
    rows = [
        ChildRow(
            100 + n,
            f"C{n}",
            name.format(n=n),
            "tổ dân phố",
            True,
            figures(records=n, activities=n, land_m2=f"{n}.5", workdays=str(n)),
        )
        for n in range(1, children + 1)
    ]
    silent = [GroupRef(100 + n, name.format(n=n), 1, "Phường") for n in range(1, children + 1)]
    return Digest(
        unit=DigestUnit(1, "PH", "Phường <Thọ Xương> & Co", "phường", False),
        period=W48,
        totals=Totals(NO_FIGURES, NO_FIGURES, NO_FIGURES),
        children=rows,
        top_groups=[],
        largest_pledges=[],
        silent_groups=silent,
        unreachable=[],
        weekly_series=[],
        mask_donors=True,
    )


def check_messages(messages: list[Any], limit: int = MESSAGE_LIMIT) -> str:
    for message in messages:
        assert utf16_length(message.text) <= limit
        plain, _ = parse_html(message.text)  # no tag is broken or left open
        assert plain.strip() == plain
        assert message.text.count("<pre>") == message.text.count("</pre>")
    assert all(m.attachments == [] for m in messages[:-1])
    return "\n".join(m.text for m in messages)


def test_two_hundred_children_split_into_several_messages() -> None:
    messages = render_digest(EN, synthetic_digest(200), xlsx=b"x", chart=False)
    assert len(messages) >= 3
    text = check_messages(messages)
    assert "<pre>" not in text  # more than 15 children: one line each
    for n in range(1, 201):
        activities = "1 activity" if n == 1 else f"{n} activities"
        line = (
            f"• <b>Tổ dân phố số {n} &lt;A&amp;B&gt;</b>: {activities} · {n},5 m² pledged"
            f" · {n} workdays"
        )
        assert text.count(line) == 1
    # 30 silent groups are named, the other 170 counted
    assert "… and 170 more" in text
    assert [a.filename for a in messages[-1].attachments] == ["danvan-PH-2026-W48.xlsx"]


def test_a_table_is_never_split() -> None:
    digest = synthetic_digest(15)
    messages = render_digest(EN, digest, chart=False, limit=1100)
    text = check_messages(messages, 1100)
    tables = [m.text for m in messages if "<pre>" in m.text]
    assert len(tables) == 1
    table = re.search(r"<pre>(.*?)</pre>", tables[0], re.S)
    assert table is not None and len(table.group(1).splitlines()) == 16
    assert text.index("<b>By unit</b>") < text.index("<pre>")


def test_a_table_too_long_for_one_message_becomes_lines() -> None:
    messages = render_digest(EN, synthetic_digest(15), chart=False, limit=500)
    text = check_messages(messages, 500)
    assert "<pre>" not in text
    assert "• <b>Tổ dân phố số 15 &lt;A&amp;B&gt;</b>" in text


# --- sends ----------------------------------------------------------------------------------------


async def test_digest_sends_one_digest_per_official(db: Database) -> None:
    found = await seed(db)
    due = datetime(2026, 11, 30, 7, 30, tzinfo=LOCAL_TZ)  # Monday morning: the week before
    unit_ids = [pk(found[code]) for code in ("P", "X1", "X2", "G1")]
    sends = await digest_sends(db, SendKind.WEEKLY_DIGEST, unit_ids, "2026-W48", due, LOCAL_TZ)
    assert [(s.chat_id, s.member_id, s.period_key, s.kind) for s in sends] == [
        (
            found["Cán bộ tỉnh"].telegram_id,
            found["Cán bộ tỉnh"].id,
            "2026-W48",
            SendKind.WEEKLY_DIGEST,
        ),
        (
            found["Cán bộ xã Một"].telegram_id,
            found["Cán bộ xã Một"].id,
            "2026-W48",
            SendKind.WEEKLY_DIGEST,
        ),
    ]
    province, commune = sends
    assert "Tỉnh Bắc Ninh" in province.messages[0].text
    assert "• Số người tham gia: <b>91</b> (+63; 248)" in province.messages[0].text  # Vietnamese
    assert "• Participants: <b>85</b> (+65; 134)" in commune.messages[0].text  # English
    for send in sends:
        check_messages(send.messages)
        attachments = send.messages[-1].attachments
        assert [a.filename.rsplit(".", 1)[1] for a in attachments] == ["png", "xlsx"]
        for attachment in attachments:
            await attachment.prepare()  # the XLSX file's records are read as it is first sent
        assert attachments[0].as_photo and attachments[0].data().startswith(b"\x89PNG")
        assert attachments[1].data().startswith(b"PK")  # a zip: the XLSX


# --- a batch of digests against the single-unit queries (figures, children and the oracle) -------


@pytest.mark.parametrize("period", [W48, NOVEMBER], ids=["week", "month"])
async def test_a_batch_of_digests_matches_the_single_unit_queries(
    db: Database, period: Period
) -> None:
    """A batch's snapshot hands the sums of units that are not digest units up to their
    parents outside the period; every digest of every batch must still show exactly what the
    single-unit queries count, with records also at the province and a commune themselves."""
    found = await seed(db)
    async with db.session() as session:
        for name, official, on in (
            ("P1", "Cán bộ tỉnh", "2026-11-24"),  # W48, at the province itself
            ("X1a", "Cán bộ xã Một", "2026-10-05"),  # October, at the commune itself
        ):
            answers = {"on_date": on, "kind": "hop_dan", "participants": 7, "photos": []}
            found[name] = await records.save(
                session, RecordKind.ACTIVITY, found[official], answers, NOW
            )
    codes = ("P", "X1", "X2", "X3", "G1", "G2", "G3", "G4", "G5", "G6", "G7")
    batches = [codes, ("X1", "G1"), ("P",), ("X2", "G3", "X3"), ("G7", "X1")]
    previous = period.previous()
    ranges = [
        (period.start, period.end),
        (previous.start, previous.end),
        (period.ytd_start, period.end),
    ]
    for batch in batches:
        digests = await build_digests(
            db, [pk(found[code]) for code in batch], period, mask_donors=True
        )
        async with db.session() as session:
            for code in batch:
                unit, digest = found[code], digests[pk(found[code])]
                current, before, ytd = await queries.figures(session, unit, ranges)
                assert digest.totals == Totals(current, before, ytd), (batch, code)
                assert digest.children == await queries.children(
                    session, unit, period.start, period.end
                ), (batch, code)
                series = series_ranges(week_start(period.end), period.end)
                expected = await queries.figures(session, unit, series)
                assert [(p.records, p.land_m2) for p in digest.weekly_series] == [
                    (f.records, f.land_m2) for f in expected
                ], (batch, code)
                assert digest.top_groups == await oracle.top_groups(
                    session, unit, period.start, period.end
                ), (batch, code)
                assert digest.silent_groups == await oracle.silent_groups(
                    session, unit, period.start, period.end, nil_reports_count=period.kind == "week"
                ), (batch, code)
                pledges = await oracle.largest_pledges(session, unit, period.start, period.end)
                assert [(p.pledge_id, p.area_m2) for p in digest.largest_pledges] == [
                    (p.pledge_id, p.area_m2) for p in pledges
                ], (batch, code)  # the donors masked or not
                assert digest.unreachable == await oracle.unreachable_members(session, unit), (
                    batch,
                    code,
                )


async def test_building_a_digest_batch_leaves_sqlite_s_write_lock_to_writers(
    tmp_path: Path,
) -> None:
    """The batch only reads: its transactions begin DEFERRED, so people saving forms on SQLite
    do not wait for it (an IMMEDIATE one would hold the one write lock while it reads)."""
    url = f"sqlite:///{tmp_path / 'digests.db'}"
    await upgrade(url)
    db = Database(url)
    try:
        found = await seed(db)
        begun: list[str] = []

        @event.listens_for(db.engine.sync_engine, "before_cursor_execute")
        def note_begin(*args: Any) -> None:
            statement = args[2]
            if statement.startswith("BEGIN"):
                begun.append(statement)

        due = datetime(2026, 11, 30, 7, 30, tzinfo=LOCAL_TZ)
        unit_ids = [pk(found[code]) for code in ("P", "X1", "X2", "G1")]
        sends = await digest_sends(db, SendKind.WEEKLY_DIGEST, unit_ids, "2026-W48", due, LOCAL_TZ)
        assert begun == ["BEGIN DEFERRED"] * 2  # the members, the figures
        for send in sends:  # as they go out
            for attachment in send.messages[-1].attachments:
                await attachment.prepare()
    finally:
        await db.dispose()
    assert sends
    assert begun == ["BEGIN DEFERRED"] * 3  # and the week's records, read once for all files
