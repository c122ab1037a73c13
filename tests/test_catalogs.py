"""Every user-facing string has a Vietnamese and an English entry that fit its placeholders."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot.domain.i18n import LANGUAGES, LOCALE_DIR, Translator, translator

ROOT = Path(__file__).resolve().parent.parent
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}
PLACEHOLDER = re.compile(r"\{(\w*)\}")
TAG = re.compile(r"</?(\w+)")


def source_messages() -> set[str]:
    found: set[str] = set()
    for folder in ("bot", "handlers", "storage"):
        for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT / folder, keywords=KEYWORDS, comment_tags=()
        ):
            found.add(message if isinstance(message, str) else str(message[0]))
    return found


def catalog(language: str) -> dict[str, str]:
    with (LOCALE_DIR / language / "LC_MESSAGES" / "danvan.po").open("rb") as po:
        entries = read_po(po, locale=language)
    found: dict[str, str] = {}
    for m in entries:
        if not m.id or "fuzzy" in m.flags:
            continue
        message_id = m.id if isinstance(m.id, str) else str(m.id[0])
        found[message_id] = m.string if isinstance(m.string, str) else str((m.string or [""])[0])
    return found


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_source_string_is_in_the_catalog(language: str) -> None:
    missing = source_messages() - set(catalog(language))
    assert not missing, f"run `make messages` and translate: {sorted(missing)}"


def test_vietnamese_is_complete_and_keeps_placeholders_and_tags() -> None:
    for message_id, text in catalog("vi").items():
        assert text, f"no Vietnamese for {message_id!r}"
        assert sorted(PLACEHOLDER.findall(text)) == sorted(PLACEHOLDER.findall(message_id)), text
        assert sorted(TAG.findall(text)) == sorted(TAG.findall(message_id)), text


def test_translator_uses_vietnamese_by_default() -> None:
    assert Translator("xx")._("official") == "cán bộ"
    assert Translator("en")._("official") == "official"


def test_a_count_in_a_plural_phrase_is_written_as_numbers_are() -> None:
    assert translator("vi").ngettext("{count} record", "{count} records", 2345) == (
        "2.345 lượt ghi nhận"
    )
