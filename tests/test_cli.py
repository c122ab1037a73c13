"""The `danvan` command line, run in-process and, for start-up, as a real subprocess."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli.main import main

UNITS = """code,name,level,parent_code,former_name
BN,Bắc Ninh,tỉnh,,
THOXUONG,phường Thọ Xương,phường,BN,
CN1,Cung Nhượng 1,tổ dân phố,THOXUONG,
"""


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys):
    """Run `danvan ARGS` against the test database; returns (status, stdout, stderr)."""
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DEFAULT_LANGUAGE", "en")
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)

    def run(*args: str) -> tuple[int, str, str]:
        status = main(list(args))
        captured = capsys.readouterr()
        return status, captured.out, captured.err

    return run


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_db_upgrade(cli) -> None:
    assert cli("db", "upgrade")[0] == 0
    assert cli("db", "upgrade")[0] == 0


def test_units_import_list_and_reimport(cli, tmp_path: Path) -> None:
    path = write(tmp_path, "units.csv", UNITS)
    status, out, _ = cli("units", "import", path)
    assert status == 0 and "3 created" in out
    status, out, _ = cli("units", "import", path, "--json")
    assert status == 0
    assert json.loads(out) == {
        "ok": True,
        "created": [],
        "updated": [],
        "unchanged": ["BN", "THOXUONG", "CN1"],
    }
    status, out, _ = cli("units", "list")
    assert status == 0
    assert out.splitlines() == [
        "BN  Bắc Ninh (tỉnh)",
        "  THOXUONG  phường Thọ Xương (phường)",
        "    CN1  Cung Nhượng 1 (tổ dân phố)",
    ]
    status, out, _ = cli("units", "list", "--json")
    listed = json.loads(out)
    assert [u["code"] for u in listed] == ["BN", "THOXUONG", "CN1"]
    assert listed[2]["parent_code"] == "THOXUONG"


def test_units_import_of_a_bad_file_reports_lines_and_imports_nothing(cli, tmp_path: Path) -> None:
    bad = UNITS + "CN2,,tổ dân phố,THOXUONG,\nCN3,Cung Nhượng 3,tổ dân phố,NOWHERE,\n"
    status, _, err = cli("units", "import", write(tmp_path, "bad.csv", bad))
    assert status == 1
    assert "Nothing was imported" in err
    assert "line 5: column name is empty" in err
    status, out, _ = cli("units", "list", "--json")
    assert json.loads(out) == []
    # A parent that exists nowhere is caught once the rows themselves are fine.
    unknown = UNITS + "CN3,Cung Nhượng 3,tổ dân phố,NOWHERE,\n"
    status, out, _ = cli("units", "import", write(tmp_path, "bad2.csv", unknown), "--json")
    assert status == 1
    errors = json.loads(out)["errors"]
    assert [(e["line"], e["problem"]) for e in errors] == [(5, "unknown_parent")]
    assert "Traceback" not in out


def test_invite_create(cli, tmp_path: Path) -> None:
    cli("units", "import", write(tmp_path, "units.csv", UNITS))
    status, out, _ = cli(
        "invite", "create", "--role", "coordinator", "--unit", "CN1", "--uses", "3", "--json"
    )
    assert status == 0
    invite = json.loads(out)
    assert invite["role"] == "coordinator" and invite["unit"] == "CN1"
    assert invite["max_uses"] == 3 and len(invite["code"]) == 12
    status, out, _ = cli("invite", "create", "--role", "official", "--unit", "THOXUONG")
    assert status == 0 and "/start " in out
    status, _, err = cli("invite", "create", "--role", "official", "--unit", "NOPE")
    assert status == 1 and err.strip() == "danvan: There is no unit with code NOPE."


def test_admin_add(cli, tmp_path: Path) -> None:
    status, _, err = cli("admin", "add", "1001", "--name", "Nguyễn Văn A")
    assert status == 1 and "Import them first" in err
    cli("units", "import", write(tmp_path, "units.csv", UNITS))
    status, out, _ = cli("admin", "add", "1001", "--name", "Nguyễn Văn A", "--json")
    assert status == 0
    assert json.loads(out) == {
        "telegram_id": 1001,
        "name": "Nguyễn Văn A",
        "role": "admin",
        "unit": "BN",
        "created": True,
    }
    status, out, _ = cli("admin", "add", "1001", "--name", "Nguyễn Văn A")
    assert status == 0 and "already registered" in out


def test_usage_errors_are_one_line(cli) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli("invite", "create", "--role", "king", "--unit", "X")
    assert stopped.value.code == 2


def _run_danvan(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("TELEGRAM_BOT_TOKEN", "DATABASE_URL")}
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=tmp_path,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_run_without_a_token_explains_botfather_and_exits_2(tmp_path: Path) -> None:
    result = _run_danvan(tmp_path, "run", DEFAULT_LANGUAGE="vi")
    assert result.returncode == 2
    assert "@BotFather" in result.stderr and ".env" in result.stderr
    assert "TELEGRAM_BOT_TOKEN" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LAND_UNIT_REGION", "tay"),
        ("TIMEZONE", "Mars/Olympus"),
        ("TELEGRAM_API_URL", "not a url"),
        ("DATABASE_URL", "mysql://x@y/z"),
        ("DEFAULT_LANGUAGE", "fr"),
    ],
)
def test_a_wrong_setting_stops_with_one_line_naming_it(
    tmp_path: Path, name: str, value: str
) -> None:
    result = _run_danvan(tmp_path, "run", **{name: value, "TELEGRAM_BOT_TOKEN": "1:x"})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"danvan: {name}:"), result.stderr


def test_db_backup_copies_sqlite_and_points_postgres_to_pg_dump(
    cli, database_url: str, tmp_path: Path
) -> None:
    assert cli("units", "import", write(tmp_path, "units.csv", UNITS))[0] == 0
    target = tmp_path / "backup.db"
    status, out, err = cli("db", "backup", str(target))
    if database_url.startswith("postgresql"):
        assert status == 1 and "pg_dump" in err
        assert not target.exists()
        return
    assert status == 0, err
    assert "backup.db" in out
    with contextlib.closing(sqlite3.connect(target)) as copy:
        codes = {code for (code,) in copy.execute("SELECT code FROM unit")}
    assert codes == {"BN", "THOXUONG", "CN1"}
    status, _, err = cli("db", "backup", str(target))
    assert status == 1 and "--force" in err
    assert cli("db", "backup", str(target), "--force")[0] == 0
    assert not (tmp_path / "backup.db.partial").exists()
