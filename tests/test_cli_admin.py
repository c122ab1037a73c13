"""`danvan invite list | revoke`, `members ...`, `schedule ...` and `audit`, in-process on
SQLite and PostgreSQL (bot/cli/invites.py, members.py, schedule.py and audit.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import common
from bot.cli.main import main

UNITS = """code,name,level,parent_code,former_name
BN,Bắc Ninh,tỉnh,,
THOXUONG,phường Thọ Xương,phường,BN,
CN1,Cung Nhượng 1,tổ dân phố,THOXUONG,
CN2,Cung Nhượng 2,tổ dân phố,THOXUONG,
"""


@pytest.fixture
def run(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys):
    """Run `danvan ARGS` against the test database; returns (status, stdout, stderr)."""
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DEFAULT_LANGUAGE", "en")
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)

    def call(*args: str) -> tuple[int, str, str]:
        status = main(list(args))
        captured = capsys.readouterr()
        return status, captured.out, captured.err

    units = tmp_path / "units.csv"
    units.write_text(UNITS, encoding="utf-8")
    assert call("units", "import", str(units))[0] == 0
    assert call("admin", "add", "1001", "--name", "Nguyễn Văn A")[0] == 0
    assert call("admin", "add", "2002", "--name", "Trần Thị B", "--unit", "CN1")[0] == 0
    return call


def test_invite_list_and_revoke(run) -> None:
    status, out, _ = run("invite", "list")
    assert status == 0 and out.strip() == "No open invites."
    _, out, _ = run("invite", "create", "--role", "coordinator", "--unit", "CN1", "--json")
    code = json.loads(out)["code"]
    run("invite", "create", "--role", "official", "--unit", "BN", "--uses", "5")

    status, out, _ = run("invite", "list", "--json")
    assert status == 0
    listed = json.loads(out)
    assert sorted((i["unit"], i["role"], i["uses_left"]) for i in listed) == [
        ("BN", "official", 5),
        ("CN1", "coordinator", 1),
    ]
    status, out, _ = run("invite", "list", "--unit", "THOXUONG")
    assert status == 0
    assert len(out.splitlines()) == 1 and code in out and "1 of 1 use(s) left" in out
    status, _, err = run("invite", "list", "--unit", "NOPE")
    assert status == 1 and err.strip() == "danvan: There is no unit with code NOPE."

    status, out, _ = run("invite", "revoke", code.lower())
    assert status == 0 and "withdrawn" in out
    _, out, _ = run("invite", "list", "--json")
    assert [i["unit"] for i in json.loads(out)] == ["BN"]
    status, _, err = run("invite", "revoke", code)
    assert status == 1 and err.strip() == f"danvan: Invite {code} was already withdrawn."
    status, out, _ = run("invite", "revoke", "NOSUCHCODE", "--json")
    assert status == 1 and json.loads(out)["ok"] is False

    _, out, _ = run("audit", "--json")
    revoke = next(e for e in json.loads(out) if e["action"] == "revoke")
    assert revoke["entity"] == "invite" and revoke["actor"] == "cli"


def test_members_list_and_changes(run) -> None:
    status, out, _ = run("members", "list", "THOXUONG", "--json")
    assert status == 0
    assert json.loads(out) == [
        {
            "telegram_id": 2002,
            "name": "Trần Thị B",
            "role": "admin",
            "phone": None,
            "unit": "CN1",
            "active": True,
            "last_report": None,
        }
    ]
    status, _, err = run("members", "list", "NOPE")
    assert status == 1 and err.strip() == "danvan: There is no unit with code NOPE."

    status, out, _ = run("members", "set-role", "2002", "coordinator")
    assert status == 0 and out.strip() == "Trần Thị B (2002) is now a coordinator."
    status, _, err = run("members", "set-role", "2002", "coordinator")
    assert status == 1 and "already a coordinator" in err
    status, _, err = run("members", "set-role", "9999", "official")
    assert status == 1 and err.strip() == "danvan: There is no member with Telegram id 9999."

    status, out, _ = run("members", "move", "2002", "cn2", "--json")
    assert status == 0 and json.loads(out)["unit"] == "CN2"
    status, _, err = run("members", "move", "2002", "CN2")
    assert status == 1 and "already in Cung Nhượng 2" in err

    status, out, _ = run("members", "deactivate", "2002")
    assert status == 0 and "deactivated" in out
    status, _, err = run("members", "deactivate", "2002")
    assert status == 1 and "already inactive" in err
    status, out, _ = run("members", "list", "BN")
    assert out.splitlines() == [
        "1001  Nguyễn Văn A  admin  BN  no phone  no reports yet",
        "2002  Trần Thị B  coordinator  CN2  no phone  no reports yet  [inactive]",
    ]
    status, out, _ = run("members", "activate", "2002", "--json")
    assert status == 0 and json.loads(out)["active"] is True
    status, _, err = run("members", "activate", "2002")
    assert status == 1 and "already active" in err

    # The CLI is nobody's own account: it may change the only admin too.
    status, _, _ = run("members", "deactivate", "1001")
    assert status == 0

    _, out, _ = run("audit", "--limit", "5", "--json")
    events = json.loads(out)
    assert len(events) == 5
    assert [e["action"] for e in events[:2]] == ["deactivate", "reactivate"]
    assert {e["actor"] for e in events} == {"cli"}


def test_schedule_show_and_set(run) -> None:
    status, out, _ = run("schedule", "show", "CN1", "--json")
    assert status == 0
    times = {row["field"]: row for row in json.loads(out)["times"]}
    assert times["reminder_weekday"] == {
        "field": "reminder_weekday",
        "value": 4,
        "own": False,
        "from": None,
    }
    status, _, err = run("schedule", "show", "NOPE")
    assert status == 1 and err.strip() == "danvan: There is no unit with code NOPE."

    assert run("schedule", "set", "THOXUONG", "reminder_time", "17:30")[0] == 0
    status, out, _ = run("schedule", "set", "CN1", "reminder_weekday", "3")
    assert status == 0
    assert "  reminder_weekday: Thursday  (own)" in out.splitlines()
    assert "  reminder_time: 17:30  (inherited from THOXUONG)" in out.splitlines()
    assert "  followup_time: 09:00  (default)" in out.splitlines()
    status, out, _ = run("schedule", "set", "CN1", "monthly_digest_day", "28", "--json")
    times = {row["field"]: row for row in json.loads(out)["times"]}
    assert times["monthly_digest_day"]["value"] == 28 and times["monthly_digest_day"]["own"]

    status, out, _ = run("schedule", "set", "CN1", "reminder_weekday", "inherit", "--json")
    times = {row["field"]: row for row in json.loads(out)["times"]}
    assert times["reminder_weekday"] == {
        "field": "reminder_weekday",
        "value": 4,
        "own": False,
        "from": None,
    }
    for field, value, problem in (
        ("reminder_weekday", "7", "from 0 (Monday) to 6 (Sunday)"),
        ("reminder_time", "25:00", "a time like 16:00"),
        ("monthly_digest_day", "29", "from 1 to 28"),
    ):
        status, _, err = run("schedule", "set", "CN1", field, value)
        assert status == 1 and problem in err and len(err.splitlines()) == 1

    _, out, _ = run("audit", "--json")
    events = [e for e in json.loads(out) if e["entity"] == "schedule"]
    assert len(events) == 4 and {e["actor"] for e in events} == {"cli"}
    assert events[0]["unit"] == "CN1"


def test_audit(run) -> None:
    status, out, _ = run("audit", "--limit", "2")
    assert status == 0
    lines = out.splitlines()
    assert len(lines) == 2 and all("  cli  " in line for line in lines)
    with pytest.raises(SystemExit) as exit_:
        run("audit", "--limit", "0")
    assert exit_.value.code == common.EXIT_USAGE
