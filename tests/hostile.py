"""Hostile text for the flows: what a careless, confused or malicious person may type.

`hostile_text()` is a hypothesis strategy; `fixed_examples()` draws a deterministic list from it
(for end-to-end tests, where `@given` would restart the bot for every example).
`check_stored_text()` and friends say what a sane stored value looks like.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

EMPTY = ["", " ", "   ", "\t", "\n\n", " \r\n ", "\u00a0", "\u3000", "\u200b", "\ufeff", "\u2060"]
CONTROL = ["\x00", "\x01", "\x07", "\x08", "\x1b[31m", "\x7f", "\x85", "\x9b", "\r", "\x0b\x0c"]
RTL = [
    "\u202e",  # RIGHT-TO-LEFT OVERRIDE
    "\u202etxt.exe",
    "\u200f",
    "\u2067abc\u2069",
    "مرحبا بالعالم",
    "שלום עולם",
    "\u0627\u0644\u0633\u0644\u0627\u0645 123",
    "ﷺ",  # one character, eighteen after compatibility decomposition
]
ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u180e", "\u034f"]
HTML = [
    "<b>",
    "</i>",
    "<script>alert(1)</script>",
    "&amp;",
    "&",
    "&lt;",
    "&#0;",
    "&#xD800;",
    "<a href='javascript:x'>x</a>",
    "<",
    ">",
    "<b><i>",
    "<tg-spoiler>",
    "<pre>",
    '"',
]
SQL = [
    "'; DROP TABLE member; --",
    "' OR '1'='1",
    '" OR ""="',
    "1; DELETE FROM land_pledge",
    "Robert'); DROP TABLE activity;--",
    "%",
    "_",
    "\\",
]
EMOJI = [
    "👨‍👩‍👧‍👦",
    "🇻🇳",
    "🏳️‍🌈",
    "👍🏽",
    "🔥",
    "🧑🏻‍🌾",
    "❤️",
    "🏴󠁧󠁢󠁳󠁣󠁴󠁿",
    "\U0001f600" * 50,
]
NUMBERS = [
    "9" * 400,
    "1" + "0" * 399,
    "1e309",
    "1E+5",
    "-5",
    "−5",
    "0",
    "-0",
    "0,0",
    "NaN",
    "nan",
    "Infinity",
    "-inf",
    "1.7976931348623157e308",
    "0,0000000001",
    "0,001",
    "0.001",
    "123456789012345678901234567890,5",
    "99999999999999,99",
    "1.000.000.000.000.000",
    "1,500",
    "1.500",
    "1.2.3",
    "٣٤",  # Arabic-Indic digits
    "１２",  # full-width digits
    "²³",
    "½",
    "Ⅻ",
    "0x1F",
    "+5",
    "5-",
    "12 13",
    "1 sào 2 sào",
    "1,5 tỷ",
    "999999 tỷ",
    "0,4 đ",
    "2 sào rưỡi",
    "999999 mẫu",
    "30,01",
    "0,5",
    "31",
    "100001",
    "10001",
]
DATES = [
    "31/02/2026",
    "00/00/0000",
    "29/02/2025",
    "29/02",
    "32/13/2026",
    "1/1/99999",
    "25/11/2027",
    "26/11/2026",
    "31/12/1999",
    "1/1/2000",
    "-1/1/2026",
    "0/0",
    "25/11/26",
    "2026-02-31",
    "9999-12-31",
    "0001-01-01",
    "31 tháng 2",
    "hôm nay",
    "hom qua",
    "ngày mai",
    "t8",
    "chủ nhật",
]
UNICODE_ODDITIES = [
    "ß" * 7,
    "ﬃ",
    "İ",
    "Ǆ",
    "㍿",
    "\U0001d400",  # MATHEMATICAL BOLD CAPITAL A
    "a\u0301\u0301\u0301\u0301",  # a pile of combining marks
    "\u0301",
    "Zalgo\u0336\u0337\u0338\u0488\u0489",
    "Nguyễn Văn An",
    "Nguye\u0302\u0303n",  # NFD
    "\ud800",  # a lone surrogate
    "\U0010ffff",
    "\ue000",  # private use
]

FRAGMENTS = EMPTY + CONTROL + RTL + ZERO_WIDTH + HTML + SQL + EMOJI + NUMBERS + DATES
FRAGMENTS += UNICODE_ODDITIES

fragment = st.sampled_from(FRAGMENTS)


def _long(seed: str, size: int) -> str:
    return (seed * (size // max(len(seed), 1) + 1))[:size]


def hostile_text(*, max_size: int = 20_000, surrogates: bool = True) -> st.SearchStrategy[str]:
    """Hostile input: single fragments, mixes of them, random Unicode, very long text."""
    characters = st.characters(exclude_categories=[] if surrogates else ["Cs"])
    mixed = st.lists(
        st.one_of(fragment, st.text(characters, max_size=8)), min_size=1, max_size=8
    ).map("".join)
    long = st.builds(
        _long,
        st.one_of(fragment, st.text(characters, min_size=1, max_size=10)),
        st.sampled_from([199, 200, 201, 999, 1000, 1001, 4096, max_size]),
    )
    strategy = st.one_of(
        fragment,
        mixed,
        st.text(characters, max_size=300),
        long,
        st.sampled_from(EMPTY).flatmap(
            lambda blank: st.sampled_from(FRAGMENTS).map(lambda frag: f"{blank}{frag}{blank}")
        ),
    )
    if not surrogates:
        strategy = strategy.filter(lambda text: not re.search("[\ud800-\udfff]", text))
    return strategy.filter(lambda text: len(text) <= max_size)


def fixed_examples(strategy: st.SearchStrategy[str], count: int) -> list[str]:
    """`count` examples of `strategy`, mostly distinct, the same on every run (derandomized)."""
    found: list[str] = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        phases=[Phase.generate],
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(text: str) -> None:
        found.append(text)

    collect()
    distinct = list(dict.fromkeys(found))
    return (distinct * (count // max(len(distinct), 1) + 1))[:count]


# --- what sane stored values look like ---------------------------------------------------------


# Categories that draw nothing on their own: separators, controls, format, combining marks.
BLANK = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Mn", "Me"})


def invisible(ch: str) -> bool:
    return unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp") and ch not in "\n\u200c\u200d"


def check_stored_text(value: object, limit: int, *, multiline: bool) -> None:
    """Stored free text: NFC, no control/format characters, tidy, within the limit."""
    assert isinstance(value, str), value
    assert value, "empty text stored"
    assert len(value) <= limit, len(value)
    assert value == value.strip(), "untrimmed text stored"
    assert unicodedata.is_normalized("NFC", value), "text not in NFC stored"
    assert not any(invisible(ch) for ch in value), f"invisible characters stored: {value!r}"
    assert multiline or "\n" not in value, f"a line break in a one-line field: {value!r}"
    assert any(unicodedata.category(ch) not in BLANK for ch in value), (
        f"nothing visible stored: {value!r}"
    )


def check_decimal(
    value: object, low: Decimal, high: Decimal, *, places: int, low_inclusive: bool = False
) -> Decimal:
    """A stored Decimal string: finite, within (low, high], at most `places` decimals."""
    assert isinstance(value, str), value
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise AssertionError(f"not a number stored: {value!r}") from None
    assert number.is_finite(), value
    assert (low <= number) if low_inclusive else (low < number), value
    assert number <= high, value
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int) and exponent >= -places, f"too many decimals: {value!r}"
    return number
