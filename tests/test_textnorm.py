"""Tests of bot.textnorm: storage form, folding key and choice matching."""

from __future__ import annotations

import unicodedata
from enum import Enum

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.textnorm import find_choices, fold, match_choice, match_key, nfc

# Vietnamese letters with every diacritic, grouped by the plain letter they fold to.
VIETNAMESE = {
    "a": "aàáảãạăằắẳẵặâầấẩẫậ",
    "e": "eèéẻẽẹêềếểễệ",
    "i": "iìíỉĩị",
    "o": "oòóỏõọôồốổỗộơờớởỡợ",
    "u": "uùúủũụưừứửữự",
    "y": "yỳýỷỹỵ",
    "d": "dđ",
}
STRIP = {
    accented: plain
    for plain, letters in VIETNAMESE.items()
    for accented in letters + letters.upper()
}
CONSONANTS = "bcghklmnpqrstvx"


# --- nfc ----------------------------------------------------------------------------------


def test_nfc_composes_decomposed_text() -> None:
    decomposed = unicodedata.normalize("NFD", "Hiến đất thôn Cung Nhượng 1")
    assert decomposed != "Hiến đất thôn Cung Nhượng 1"
    assert nfc(decomposed) == "Hiến đất thôn Cung Nhượng 1"


def test_nfc_collapses_whitespace_and_strips() -> None:
    assert nfc("  Họp \t dân\u00a0 thôn   3  ") == "Họp dân thôn 3"


def test_nfc_keeps_newlines_but_tidies_lines() -> None:
    assert nfc(" dòng 1  \r\n\r\n\r\n\r\n  dòng 2 \rdòng 3\u2028dòng 4") == (
        "dòng 1\n\ndòng 2\ndòng 3\ndòng 4"
    )


def test_nfc_single_line() -> None:
    assert nfc("Nguyễn\nVăn  A", multiline=False) == "Nguyễn Văn A"


def test_nfc_removes_invisible_characters() -> None:
    text = "\ufeffab\u200bc\u202ed\x00e\x07\u00adf"
    assert nfc(text) == "abcdef"


def test_nfc_keeps_emoji_joiners() -> None:
    family = "👨\u200d👩\u200d👧"
    assert nfc(f" {family} ") == family


def test_nfc_drops_lone_surrogates() -> None:
    assert nfc("a\ud800b") == "ab"


@given(st.text())
def test_nfc_is_idempotent_and_composed(text: str) -> None:
    once = nfc(text)
    assert nfc(once) == once
    assert unicodedata.is_normalized("NFC", once)
    assert once == once.strip()


# --- fold ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("Hiến đất", "hien dat"),
        ("HIẾN ĐẤT", "hien dat"),
        ("hòa", "hoa"),
        ("hoà", "hoa"),
        ("Hoà Bình", "hoa binh"),
        ("Đường", "duong"),
        ("Ðường", "duong"),  # Icelandic eth, a common look-alike of Đ
        ("  Thôn\t 3 ", "thon 3"),
        ("150 m²", "150 m2"),
        ("１２ ＳÀO", "12 sao"),
        ("Phường Thọ Xương", "phuong tho xuong"),
    ],
)
def test_fold_examples(text: str, key: str) -> None:
    assert fold(text) == key
    assert fold(unicodedata.normalize("NFD", text)) == key


viet_words = st.lists(
    st.sampled_from(sorted(STRIP) + list(CONSONANTS) + list(CONSONANTS.upper())),
    min_size=1,
    max_size=12,
).map("".join)
viet_text = st.lists(viet_words, min_size=1, max_size=5).map(" ".join)


@given(st.text())
def test_fold_is_idempotent(text: str) -> None:
    assert fold(fold(text)) == fold(text)


@given(st.text())
def test_fold_ignores_normal_form(text: str) -> None:
    expected = fold(text)
    for form in ("NFC", "NFD", "NFKC", "NFKD"):
        assert fold(unicodedata.normalize(form, text)) == expected


@given(viet_text)
def test_fold_equals_diacritic_free_spelling(text: str) -> None:
    plain = "".join(STRIP.get(ch, ch) for ch in text).lower()
    assert fold(text) == plain
    assert fold(unicodedata.normalize("NFD", text)) == plain
    assert fold(text.upper()) == plain
    assert fold(plain) == plain


def test_fold_old_and_new_tone_positions() -> None:
    pairs = [("hòa", "hoà"), ("thủy", "thuỷ"), ("khỏe", "khoẻ"), ("Hòa", "HOÀ")]
    for old, new in pairs:
        assert fold(old) == fold(new)


# --- match_choice -------------------------------------------------------------------------


class Kind(Enum):
    LAND = "land"
    WORKDAY = "workday"
    MEETING = "meeting"
    VISIT = "visit"
    CLEANUP = "cleanup"


CHOICES = {
    Kind.LAND: ["Hiến đất", "hien dat"],
    Kind.WORKDAY: ["Ngày công", "cong"],
    Kind.MEETING: ["Họp dân"],
    Kind.VISIT: ["Thăm hộ gia đình", "vận động tại nhà"],
    Kind.CLEANUP: ["Vệ sinh môi trường", "dọn vệ sinh"],
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hien dat", Kind.LAND),
        ("Hiến đất", Kind.LAND),
        ("HIE\u0302\u0301N ĐẤT", Kind.LAND),
        ("hiendat", Kind.LAND),
        ("hop dan", Kind.MEETING),
        ("Họp-dân!", Kind.MEETING),
        ("hop", Kind.MEETING),  # unique prefix
        ("hien", Kind.LAND),
        ("dat", Kind.LAND),  # word inside a label
        ("moi truong", Kind.CLEANUP),
        ("cong", Kind.WORKDAY),  # exact alias beats "cong" as a word elsewhere
        ("van dong", Kind.VISIT),
        ("ve sinh", Kind.CLEANUP),  # prefix of one label, word in another: same choice
    ],
)
def test_match_choice_finds(text: str, expected: Kind) -> None:
    assert match_choice(text, CHOICES) is expected


@pytest.mark.parametrize("text", ["", "   ", "xyz", "h", "!!!", "a"])
def test_match_choice_none(text: str) -> None:
    assert match_choice(text, CHOICES) is None


def test_match_choice_ambiguous() -> None:
    choices = {1: ["Họp dân"], 2: ["Họp chi bộ"], 3: ["Hiến đất"]}
    assert match_choice("hop", choices) is None
    assert find_choices("hop", choices) == [1, 2]
    assert match_choice("hop chi", choices) == 2


def test_match_choice_duplicate_alias_is_ambiguous() -> None:
    assert match_choice("thon 1", {"a": ["Thôn 1"], "b": ["thon 1"]}) is None


def test_match_key() -> None:
    assert match_key(" Họp-dân, thôn 3! ") == "hop dan thon 3"


@given(st.text(), st.dictionaries(st.integers(), st.lists(st.text(), max_size=3), max_size=5))
def test_match_choice_is_total(text: str, choices: dict[int, list[str]]) -> None:
    result = match_choice(text, choices)
    assert result is None or result in choices


@given(viet_text)
def test_match_choice_finds_its_own_label_without_diacritics(label: str) -> None:
    plain = "".join(STRIP.get(ch, ch) for ch in label)
    assert match_choice(plain, {"x": [label], "y": ["Ω"]}) == "x"
