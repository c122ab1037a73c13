"""The rules behind Đã ghi, without Telegram or a database: who may change a record, what an
edit changes, where a pledge may move, callback data, and the record card's length."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain import records, review
from bot.domain.access import RecordDenial, Role, can_modify_record, record_change_denial
from bot.domain.flow import Env
from bot.domain.i18n import Translator
from bot.domain.records import RecordKind
from storage.models import Activity, LandPledge, Workday
from storage.review import Record, kind_of

NOW = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
EN = Translator("en")


def decide(
    *,
    member_id: int = 1,
    role: Role = Role.COORDINATOR,
    member_path: str = "/1/2/3/",
    author_id: int = 1,
    record_path: str = "/1/2/3/",
    age: timedelta = timedelta(days=1),
    window_days: int = 7,
) -> RecordDenial | None:
    return record_change_denial(
        member_id=member_id,
        member_role=role,
        member_unit_path=member_path,
        author_id=author_id,
        record_unit_path=record_path,
        created_at=NOW - age,
        now=NOW,
        window_days=window_days,
    )


def test_the_author_may_change_a_record_within_the_window_only() -> None:
    assert decide(age=timedelta(days=7)) is None
    assert decide(age=timedelta(days=7, seconds=1)) is RecordDenial.WINDOW_PASSED
    assert decide(age=timedelta(0), window_days=0) is None
    assert decide(age=timedelta(seconds=1), window_days=0) is RecordDenial.WINDOW_PASSED


def test_another_coordinator_of_the_group_may_not() -> None:
    assert decide(member_id=2) is RecordDenial.NOT_AUTHOR
    assert decide(member_id=2, age=timedelta(days=30)) is RecordDenial.NOT_AUTHOR


def test_officials_may_change_records_of_their_subtree_at_any_age() -> None:
    old = timedelta(days=400)
    assert decide(member_id=9, role=Role.OFFICIAL, member_path="/1/2/", age=old) is None
    assert decide(member_id=9, role=Role.OFFICIAL, member_path="/1/2/3/", age=old) is None
    outside = decide(member_id=9, role=Role.OFFICIAL, member_path="/1/4/", age=old)
    assert outside is RecordDenial.OUT_OF_SCOPE
    # A sibling whose id starts with the same digits is not inside.
    sibling = decide(
        member_id=9, role=Role.OFFICIAL, member_path="/1/2/", record_path="/1/23/5/", age=old
    )
    assert sibling is RecordDenial.OUT_OF_SCOPE


def test_admins_may_change_anything() -> None:
    assert decide(member_id=9, role=Role.ADMIN, member_path="/7/", age=timedelta(days=900)) is None


def test_can_modify_record_is_the_same_rule_as_a_yes_or_no() -> None:
    common: dict[str, Any] = {
        "member_role": Role.COORDINATOR,
        "member_unit_path": "/1/",
        "author_id": 1,
        "record_unit_path": "/1/",
        "now": NOW,
        "window_days": 7,
    }
    assert can_modify_record(member_id=1, created_at=NOW - timedelta(days=2), **common)
    assert not can_modify_record(member_id=1, created_at=NOW - timedelta(days=8), **common)
    assert not can_modify_record(member_id=None, created_at=NOW, **common)


def answers_of(row: Record) -> dict[str, Any]:
    return records.answers_of(kind_of(row), row.model_dump())


def changes(row: Record, edited: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return records.edit_changes(kind_of(row), row.model_dump(), edited)


def land(**changes: Any) -> LandPledge:
    values: dict[str, Any] = {
        "id": 12,
        "unit_id": 3,
        "reporter_id": 1,
        "on_date": date(2026, 11, 20),
        "donor": "Hộ ông An",
        "donor_key": "ho ong an",
        "area_m2": Decimal("720.00"),
        "land_kind": "dat_o",
        "purpose": "duong",
        "stage": "cam_ket",
        "pledged_on": date(2026, 11, 20),
        "photo_file_ids": [],
        "created_at": NOW,
    }
    values.update(changes)
    return LandPledge(**values)


def test_unchanged_answers_change_nothing_for_every_kind() -> None:
    activity = Activity(
        id=1,
        unit_id=3,
        reporter_id=1,
        on_date=date(2026, 11, 20),
        kind="hop_dan",
        participants=25,
        description=None,
        photo_file_ids=["a", "b"],
    )
    workday = Workday(
        id=2,
        unit_id=3,
        reporter_id=1,
        on_date=date(2026, 11, 20),
        work="Đường thôn",
        people=12,
        days_each=Decimal("0.50"),
        total_days=Decimal("6.00"),
    )
    pledge = land(value_vnd=Decimal("300000"), purpose="khac", purpose_note="Sân chơi")
    for row in (activity, workday, pledge):
        assert changes(row, answers_of(row)) == {}


def test_editing_the_area_changes_only_the_area() -> None:
    pledge = land()
    answers = {**answers_of(pledge), "area_m2": "1080", "area_echo": "3 sào = 1.080 m²"}
    assert changes(pledge, answers) == {"area_m2": (Decimal("720.00"), Decimal("1080"))}


def test_a_purpose_other_than_other_drops_the_note() -> None:
    pledge = land(purpose="khac", purpose_note="Sân chơi")
    answers = {**answers_of(pledge), "purpose": "duong"}
    assert changes(pledge, answers) == {
        "purpose": ("khac", "duong"),
        "purpose_note": ("Sân chơi", None),
    }
    # A record without a note leaves the note out, so choosing "other" asks for one.
    assert "purpose_note" not in answers_of(land())


def test_correcting_the_stage_moves_its_date_and_clears_later_ones() -> None:
    signed = land(stage="ky_bien_ban", signed_on=date(2026, 11, 20), pledged_on=None)
    answers = {**answers_of(signed), "stage": "cam_ket"}
    assert changes(signed, answers) == {
        "stage": ("ky_bien_ban", "cam_ket"),
        "pledged_on": (None, date(2026, 11, 20)),
        "signed_on": (date(2026, 11, 20), None),
    }
    # Changing the date moves the stage date that was the same day.
    answers = {**answers_of(land()), "on_date": "2026-11-21"}
    assert changes(land(), answers) == {
        "on_date": (date(2026, 11, 20), date(2026, 11, 21)),
        "pledged_on": (date(2026, 11, 20), date(2026, 11, 21)),
    }
    # A stage reached later (by advancing it) keeps its own date.
    advanced = land(stage="ky_bien_ban", signed_on=date(2026, 11, 24))
    answers = {**answers_of(advanced), "on_date": "2026-11-19"}
    assert changes(advanced, answers) == {"on_date": (date(2026, 11, 20), date(2026, 11, 19))}


def test_workday_total_is_recomputed() -> None:
    workday = Workday(
        id=2,
        unit_id=3,
        reporter_id=1,
        on_date=date(2026, 11, 20),
        work="Đường thôn",
        people=12,
        days_each=Decimal("0.5"),
        total_days=Decimal("6"),
    )
    answers = {**answers_of(workday), "days_each": "2"}
    assert changes(workday, answers) == {
        "days_each": (Decimal("0.5"), Decimal("2")),
        "total_days": (Decimal("6"), Decimal("24")),
    }


def test_a_pledge_moves_forward_or_is_cancelled() -> None:
    assert records.next_stages("van_dong") == [
        "cam_ket",
        "ky_bien_ban",
        "giai_toa",
        "ban_giao",
        "huy",
    ]
    assert records.next_stages("giai_toa") == ["ban_giao", "huy"]
    assert records.next_stages("ban_giao") == ["huy"]
    assert records.next_stages("huy") == []
    assert records.stage_changes(land().model_dump(), "ky_bien_ban", date(2026, 11, 25)) == {
        "stage": ("cam_ket", "ky_bien_ban"),
        "signed_on": (None, date(2026, 11, 25)),
    }
    with pytest.raises(ValueError):
        records.stage_changes(
            land(stage="giai_toa").model_dump(), "ky_bien_ban", date(2026, 11, 25)
        )


def test_callback_data_round_trips_and_stays_short() -> None:
    data = review.record_callback("stage", RecordKind.LAND, 10**17, "ban_giao")
    assert len(data.encode()) <= 64
    assert review.parse_callback(data) == review.Callback(
        "stage", RecordKind.LAND, 10**17, "ban_giao"
    )
    assert review.parse_callback(review.list_callback(3)) == review.Callback("list", extra="3")
    for junk in (None, "", "rv:view:X:1", "rv:view:L:", "rv:view:L:1:a:b", "d:abc:1", "rv:list:x"):
        assert review.parse_callback(junk) is None


@given(st.decimals(min_value=0, max_value=10**12, places=2, allow_nan=False))
def test_plain_decimals_read_back_equal(value: Decimal) -> None:
    text = records.plain(value)
    assert Decimal(text) == value and "E" not in text and (text == "0" or not text.endswith("."))


def test_a_long_history_gives_way_to_fit_a_telegram_message() -> None:
    pledge = land(assets="<" * 1000, notes=None)
    entries = [
        review.HistoryEntry(
            at=NOW,
            actor="Nguyễn Thị Lan " * 10,
            action="edit",
            before={"assets": "x" * 1000},
            after={"assets": "y" * 1000},
        )
        for _ in range(200)
    ]
    env = Env(t=EN, today=NOW.date(), now=NOW)
    text = review.record_text(
        EN,
        env,
        RecordKind.LAND,
        pledge.model_dump(),
        reporter="Lan",
        unit="Cung Nhượng 1",
        history=entries,
        tz=TZ,
    )
    assert review.visible_length(text) <= review.MESSAGE_LIMIT
    assert "#L-12" in text and "&lt;" in text and "…" in text
    short = review.record_text(
        EN,
        env,
        RecordKind.LAND,
        pledge.model_dump(),
        reporter="Lan",
        unit="CN1",
        history=entries[:2],
        tz=TZ,
    )
    assert short.count("•") == 2 and "\n…\n" not in short


def test_history_describes_changes_in_the_persons_language() -> None:
    entry = review.HistoryEntry(NOW, "Lan", "edit", {"area_m2": "720"}, {"area_m2": "1080"})
    assert review.describe(EN, entry) == "Area: 720 m² → 1.080 m²"
    vi = Translator("vi")
    stage = review.HistoryEntry(
        NOW,
        "Lan",
        "stage",
        {"stage": "cam_ket", "signed_on": None},
        {"stage": "ky_bien_ban", "signed_on": "2026-11-25"},
    )
    text = review.describe(vi, stage)
    assert "→" in text and "25/11/2026" in text and "—" in text
