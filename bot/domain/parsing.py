"""Parsing of what coordinators type: numbers, counts, money, land area and dates.

Pure and Telegram-free. Every public parser either returns a typed value or raises
:class:`ParseError` carrying a machine code (:class:`ErrorCode`) and ``details`` (a dict with the
values a message needs). Nothing else escapes, whatever the input string is. The wording of
messages lives in the gettext catalogs, not here. All quantities are :class:`~decimal.Decimal`.

Input handling common to all parsers: strings over 1.000 characters are refused before any work,
the text is cleaned with :func:`bot.textnorm.nfc` and refused if still longer than
:data:`MAX_INPUT_LENGTH`; then it is accent-folded (:func:`bot.textnorm.fold`, so ``SÀO``,
``sao`` and NFD input are alike, ``m²`` reads as ``m2`` and full-width digits as ASCII), and
trailing ``. , ! ? ; :`` and a polite ``ạ`` are ignored.

Numbers (Vietnamese conventions, :func:`parse_decimal`)
    ``,`` is the decimal separator, ``.`` groups thousands: ``1.250,5`` = 1250.5.
    A single ``.`` followed by exactly three digits, after a group of 1–3 digits not starting
    with 0, groups thousands (``1.000`` = 1000); any other single ``.`` is a decimal point
    (``2.5``, ``1.25``, ``0.500``, ``1.2345``). Several ``.`` must form valid groups
    (``1.000.000``). A single ``,`` followed by exactly three digits (``1,500``) is *ambiguous*:
    it is read as 1,5 and 1500 is reported as the alternative. Several ``,`` forming valid groups
    (``1,500,000``) and ``1,250.5`` are read the English way, since no Vietnamese reading exists.
    No signs other than a leading minus (refused as ``negative``), no exponents, NaN, Infinity,
    spaces inside numbers, or more than :data:`MAX_DIGITS` digits.

Error codes (``ErrorCode`` values, and ``details`` keys):
    ``empty``              nothing but whitespace/punctuation.
    ``too_long``           input longer than allowed; ``max_length``.
    ``unreadable``         no number/date where one is expected, or stray symbols.
    ``malformed_number``   digits and separators that fit no rule (``1.2.3``, ``1.000.00``);
                           ``number`` (the text of the number).
    ``too_many_digits``    more than 15 digits; ``max_digits``.
    ``multiple_numbers``   two numbers where one is expected (``12 13``).
    ``unexpected_word``    a word that would change the meaning (``12 nghìn`` as a count, or any
                           word in ``parse_decimal``); ``word`` (folded).
    ``not_days``           days each person worked given in another measure (``4 tiếng``,
                           ``1 tuần``) or as the group's total (``6 ngày công``); ``word``.
    ``negative``           a leading minus sign.
    ``zero``               an area or an amount of money that is zero (after rounding).
    ``not_an_integer``     a count (or plain amount of đồng) with a fractional part.
    ``ambiguous_number``   ``1,500`` in a count or with a money multiplier, ``2tr50``; ``value``
                           (the Vietnamese reading) and ``alternative`` (the other reading).
    ``too_small``          a count below the minimum; ``min``, ``max``.
    ``too_large``          above the maximum; ``max`` (counts: also ``min``; money: ``max`` in
                           đồng and ``measure`` "vnd"; area: ``max`` in m² and ``measure`` "m2").
    ``unknown_unit``       a word after a number that is no unit here; ``unit`` (folded), and
                           ``region`` (an area's :class:`LandRegion` value) or ``money`` (True).
    ``unit_not_in_region`` a land unit not used in the configured region (``sào`` in the south,
                           ``công`` in the north/centre); ``unit`` (an :class:`AreaUnit` value)
                           and ``region`` (a :class:`LandRegion` value).
    ``missing_unit``       a bare number inside a compound area (``1 sào 5``).
    ``repeated_unit``      the same unit twice (``1 sào 2 sào``); ``unit``.
    ``invalid_date``       no such day (``31/02``, ``32/1``, ``25/13``); ``day``, ``month``,
                           ``year`` (``year`` is None when not typed).
    ``future_date``        a date after today; ``date``.
    ``date_too_old``       before :data:`MIN_YEAR`; ``min_year``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from enum import StrEnum
from fractions import Fraction
from itertools import pairwise
from typing import NamedTuple

from bot.domain.textnorm import fold, nfc

__all__ = [
    "AREA_UNITS",
    "CONFIRM_AFTER_DAYS",
    "MAX_AREA_M2",
    "MAX_DIGITS",
    "MAX_INPUT_LENGTH",
    "MAX_MONEY_VND",
    "MIN_YEAR",
    "Area",
    "AreaEcho",
    "AreaPart",
    "AreaUnit",
    "ErrorCode",
    "LandRegion",
    "Number",
    "ParseError",
    "ParsedDate",
    "parse_area",
    "parse_date",
    "parse_days",
    "parse_decimal",
    "parse_int",
    "parse_money",
]

MAX_INPUT_LENGTH = 100
"""Longest accepted input, in characters after :func:`~bot.textnorm.nfc`."""
_MAX_RAW_LENGTH = 1000
MAX_DIGITS = 15
"""Most digits in one number (leading zeros of the integer part not counted)."""
MAX_AREA_M2 = Decimal(1_000_000)
MAX_MONEY_VND = Decimal(1_000_000_000_000)  # 1.000 tỷ
CONFIRM_AFTER_DAYS = 90
"""Dates more than this many days ago come back with ``needs_confirmation=True``."""
MIN_YEAR = 2000

_CTX = Context(prec=60, rounding=ROUND_HALF_UP)
_CENT = Decimal("0.01")
_ONE = Decimal(1)


class ErrorCode(StrEnum):
    """Machine codes of :class:`ParseError`; documented in the module docstring."""

    EMPTY = "empty"
    TOO_LONG = "too_long"
    UNREADABLE = "unreadable"
    MALFORMED_NUMBER = "malformed_number"
    TOO_MANY_DIGITS = "too_many_digits"
    MULTIPLE_NUMBERS = "multiple_numbers"
    UNEXPECTED_WORD = "unexpected_word"
    NOT_DAYS = "not_days"
    NEGATIVE = "negative"
    ZERO = "zero"
    NOT_AN_INTEGER = "not_an_integer"
    AMBIGUOUS_NUMBER = "ambiguous_number"
    TOO_SMALL = "too_small"
    TOO_LARGE = "too_large"
    UNKNOWN_UNIT = "unknown_unit"
    UNIT_NOT_IN_REGION = "unit_not_in_region"
    MISSING_UNIT = "missing_unit"
    REPEATED_UNIT = "repeated_unit"
    INVALID_DATE = "invalid_date"
    FUTURE_DATE = "future_date"
    DATE_TOO_OLD = "date_too_old"


class ParseError(ValueError):
    """Input that cannot be accepted: ``code`` says why, ``details`` holds message arguments."""

    def __init__(self, code: ErrorCode, **details: object) -> None:
        super().__init__(code.value)
        self.code = code
        self.details: dict[str, object] = details

    def __repr__(self) -> str:
        return f"ParseError(code={self.code.value!r}, details={self.details!r})"

    def __str__(self) -> str:
        if not self.details:
            return self.code.value
        return f"{self.code.value} {self.details!r}"


# --------------------------------------------------------------------------------------------
# Tokens and numbers


class _Tok(NamedTuple):
    kind: str  # "num", "word" or "sym"
    text: str
    glued: bool  # no whitespace between this token and the previous one


_TOKEN_RE = re.compile(
    r"(?P<num>[0-9]+(?:[.,][0-9]+)*)"
    r"|(?P<word>m\^?[0-9](?![0-9])|[^\W\d_]+)"  # m2, m^2 (and m3, to refuse it)
    r"|(?P<space>\s+)"
    r"|(?P<sym>.)",
    re.DOTALL,
)
_GROUP_HEAD_RE = re.compile(r"[1-9][0-9]{0,2}")
_MINUS_SIGNS = frozenset("-−–—")  # hyphen-minus, minus, en dash, em dash
_TRAILING_PUNCTUATION = ".,!?;: "
_POLITE_ENDING = re.compile(r"(?<=\S)\s+a$")  # "2 sào ạ", "hôm qua ạ"


def _prepare(text: str) -> str:
    """Length checks, clean-up and folding shared by all parsers."""
    if len(text) > _MAX_RAW_LENGTH:
        raise ParseError(ErrorCode.TOO_LONG, max_length=MAX_INPUT_LENGTH)
    cleaned = nfc(text, multiline=False)
    if len(cleaned) > MAX_INPUT_LENGTH:
        raise ParseError(ErrorCode.TOO_LONG, max_length=MAX_INPUT_LENGTH)
    folded = fold(cleaned).rstrip(_TRAILING_PUNCTUATION)
    folded = _POLITE_ENDING.sub("", folded).rstrip(_TRAILING_PUNCTUATION)
    if not folded:
        raise ParseError(ErrorCode.EMPTY)
    return folded


def _tokenize(folded: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    glued = False
    for match in _TOKEN_RE.finditer(folded):
        kind = match.lastgroup or "sym"
        if kind == "space":
            glued = False
            continue
        tokens.append(_Tok(kind, match.group(), glued))
        glued = True
    return tokens


def _tidy(value: Decimal) -> Decimal:
    """Drop trailing zeros without switching to exponent notation: 720.00 → 720, 2.50 → 2.5."""
    with localcontext(_CTX):
        if value == value.to_integral_value():
            return value.quantize(_ONE)
        return value.normalize()


@dataclass(frozen=True, slots=True)
class _Reading:
    """One number token as read, with the other reading of ``1,500`` / ``1.500`` if any."""

    raw: str
    value: Decimal
    comma_alt: Decimal | None = None  # "1,500": value 1.5, comma_alt 1500
    dot_alt: Decimal | None = None  # "1.500": value 1500, dot_alt 1.5

    @property
    def plain(self) -> bool:
        return self.raw.isdigit()


def _valid_groups(groups: list[str]) -> bool:
    return bool(_GROUP_HEAD_RE.fullmatch(groups[0])) and all(len(g) == 3 for g in groups[1:])


def _digits_of(integer: str, fraction: str = "") -> Decimal:
    significant = len(integer.lstrip("0")) + len(fraction)
    if significant > MAX_DIGITS:
        raise ParseError(ErrorCode.TOO_MANY_DIGITS, max_digits=MAX_DIGITS)
    return Decimal(f"{integer}.{fraction}" if fraction else integer)


def _read_number(raw: str) -> _Reading:
    """Read a token of ASCII digits separated by single ``.``/``,`` (see module docstring)."""
    seps = [ch for ch in raw if ch in ".,"]
    groups = re.split(r"[.,]", raw)
    malformed = ParseError(ErrorCode.MALFORMED_NUMBER, number=raw)
    if not seps:
        return _Reading(raw, _digits_of(raw))
    if len(seps) == 1:
        head, tail = groups
        grouping = len(tail) == 3 and _valid_groups(groups)
        if seps[0] == "." and grouping:
            return _Reading(raw, _digits_of(head + tail), dot_alt=_digits_of(head, tail))
        if seps[0] == "," and grouping:
            return _Reading(raw, _digits_of(head, tail), comma_alt=_digits_of(head + tail))
        return _Reading(raw, _digits_of(head, tail))
    if len(set(seps)) == 1:  # 1.000.000 or (English) 1,000,000
        if not _valid_groups(groups):
            raise malformed
        return _Reading(raw, _digits_of("".join(groups)))
    # Mixed: thousands separators of one kind, then one decimal separator of the other kind.
    *grouping_seps, decimal_sep = seps
    if decimal_sep in grouping_seps or not _valid_groups(groups[:-1]):
        raise malformed
    return _Reading(raw, _digits_of("".join(groups[:-1]), groups[-1]))


def _starts_negative(tokens: list[_Tok]) -> bool:
    return (
        len(tokens) >= 2
        and tokens[0].kind == "sym"
        and tokens[0].text in _MINUS_SIGNS
        and tokens[1].kind == "num"
    )


# Words that multiply or change a number; refused after a plain number/count.
_MAGNITUDE_WORDS = frozenset(
    {"k", "nghin", "ngan", "tr", "trieu", "ty", "ti", "tram", "chuc", "ruoi"}
)


def _single_number(text: str, *, allow_words: bool) -> _Reading:
    tokens = _tokenize(_prepare(text))
    if _starts_negative(tokens):
        raise ParseError(ErrorCode.NEGATIVE)
    if tokens[0].kind != "num":
        raise ParseError(ErrorCode.UNREADABLE)
    rest = tokens[1:]
    if rest and rest[0].glued and rest[0].text == "e":
        raise ParseError(ErrorCode.UNREADABLE)  # 1e5, 1E+5
    for tok, after in pairwise(rest):
        if tok.kind == "word" and tok.glued and after.kind == "num" and after.glued:
            raise ParseError(ErrorCode.UNREADABLE)  # 1e5, 12abc3
    if any(tok.kind == "num" for tok in rest):
        raise ParseError(ErrorCode.MULTIPLE_NUMBERS)
    if any(tok.kind == "sym" for tok in rest):
        raise ParseError(ErrorCode.UNREADABLE)
    for tok in rest:
        if not allow_words or tok.text in _MAGNITUDE_WORDS:
            raise ParseError(ErrorCode.UNEXPECTED_WORD, word=tok.text)
    return _read_number(tokens[0].text)


@dataclass(frozen=True, slots=True)
class Number:
    """A number as understood; ``alternative`` is the other reading of ``1,500`` (1500)."""

    value: Decimal
    alternative: Decimal | None = None

    @property
    def ambiguous(self) -> bool:
        return self.alternative is not None


def parse_decimal(text: str) -> Number:
    """Parse one non-negative Vietnamese-style number: ``12``, ``0,5``, ``1.250,5``, ``2.5``.

    ``1,500`` gives ``Number(Decimal("1.5"), alternative=Decimal(1500))``: ask the user.
    Any word after the number is ``unexpected_word``. Zero is accepted. Values are returned
    without trailing zeros (``Decimal("1.5")``).
    """
    reading = _single_number(text, allow_words=False)
    alternative = None if reading.comma_alt is None else _tidy(reading.comma_alt)
    return Number(_tidy(reading.value), alternative)


_PER_PERSON_WORDS = frozenset({"moi", "nguoi"})  # "1 ngày mỗi người"
_SESSION_WORD = "buoi"  # a morning or an afternoon: half a working day
_HALF_PREFIX = "nua"  # "nửa ngày"


def parse_days(text: str) -> Number:
    """Days each person worked: ``1``, ``0,5``, ``1 ngày``, ``1,5 ngày mỗi người``, and the
    ways people say halves: ``nửa ngày`` (0,5), ``1 buổi`` (0,5), ``2 buổi`` (1),
    ``1 ngày rưỡi`` or ``1 rưỡi`` (1,5).

    Any other word is ``not_days`` rather than ignored, since it would record a wrong figure:
    hours (``4 tiếng`` is not 4 days), weeks, or the group's total (``6 ngày công`` from 12
    people is 0,5 each, not 6). ``1,500`` is ambiguous as in :func:`parse_decimal`.
    """
    tokens = _tokenize(_prepare(text))
    if _starts_negative(tokens):
        raise ParseError(ErrorCode.NEGATIVE)
    first, rest = tokens[0], tokens[1:]
    if first.kind == "word" and first.text == _HALF_PREFIX:
        reading = _Reading(first.text, Decimal("0.5"))
        if not rest:
            rest = [_Tok("word", "ngay", False)]  # "nửa" alone: half a day
    elif first.kind == "num":
        reading = _read_number(first.text)
    else:
        raise ParseError(ErrorCode.UNREADABLE)
    if any(tok.kind == "num" for tok in rest):
        raise ParseError(ErrorCode.MULTIPLE_NUMBERS)
    if any(tok.kind == "sym" for tok in rest):
        raise ParseError(ErrorCode.UNREADABLE)
    factor, half, measured = Decimal(1), Decimal(0), False
    for tok in rest:
        if tok.text == _SESSION_WORD and not measured:
            factor, measured = Decimal("0.5"), True
        elif tok.text == "ngay" and not measured:
            measured = True
        elif tok.text == _HALF_WORD and not half and reading.plain:
            half = Decimal("0.5")
        elif tok.text not in _PER_PERSON_WORDS:
            raise ParseError(ErrorCode.NOT_DAYS, word=tok.text)

    def days(value: Decimal) -> Decimal:
        return _tidy((value + half) * factor)

    alternative = None if reading.comma_alt is None else days(reading.comma_alt)
    return Number(days(reading.value), alternative)


def parse_int(
    text: str, min_value: int = 1, max_value: int = 100_000, *, allow_words: bool = True
) -> int:
    """Parse a count such as participants: ``12``, ``1.000``, ``12 người``.

    ``0,5`` → ``not_an_integer``; ``1,500`` → ``ambiguous_number`` (1,5 or 1500?);
    outside ``min_value..max_value`` → ``too_small``/``too_large`` (details ``min``, ``max``).
    """
    reading = _single_number(text, allow_words=allow_words)
    if reading.comma_alt is not None:
        raise ParseError(
            ErrorCode.AMBIGUOUS_NUMBER,
            value=_tidy(reading.value),
            alternative=_tidy(reading.comma_alt),
        )
    if reading.value != reading.value.to_integral_value():
        raise ParseError(ErrorCode.NOT_AN_INTEGER)
    number = int(reading.value)
    if number < min_value:
        raise ParseError(ErrorCode.TOO_SMALL, min=min_value, max=max_value)
    if number > max_value:
        raise ParseError(ErrorCode.TOO_LARGE, min=min_value, max=max_value)
    return number


# --------------------------------------------------------------------------------------------
# Money

_MULTIPLIERS: dict[str, int] = {
    "k": 1_000,
    "nghin": 1_000,
    "ngan": 1_000,
    "tr": 1_000_000,
    "trieu": 1_000_000,
    "ty": 1_000_000_000,
    "ti": 1_000_000_000,
}
_CURRENCY_WORDS = frozenset({"d", "dong", "vnd"})
_CURRENCY_SYMBOLS = frozenset("₫")


def _split_money_word(word: str) -> tuple[int | None, bool] | None:
    """Return (multiplier or None, has currency) for ``k``, ``đ``, ``kđ``, ``trđ``...; else None."""
    if word in _MULTIPLIERS:
        return _MULTIPLIERS[word], False
    if word in _CURRENCY_WORDS:
        return None, True
    for name, factor in _MULTIPLIERS.items():
        if word.startswith(name) and word[len(name) :] in _CURRENCY_WORDS:
            return factor, True
    return None


def parse_money(text: str) -> Decimal:
    """Parse an amount of VND, rounded half-up to whole đồng (``Decimal`` with exponent 0).

    Accepted: ``300000``, ``300.000``, ``300.000 đ``, ``300.000đ``, ``300000 vnd``, ``300,000``
    (a plain amount has no decimals, so ``,`` + three digits groups thousands there; ``300000,00``
    is fine too), ``300k``, ``300 nghìn``/``ngàn``, ``2tr``, ``2 triệu``, ``1,5 tỷ``, ``1 ty``,
    ``1 tỉ``, compounds with falling multipliers (``1 tỷ 200 triệu``, ``2tr500k``) and the
    shorthand ``2tr5`` = 2.500.000 (one digit: tenths; three digits: ``2tr050`` = 2.050.000; two
    digits are ``ambiguous_number``). A currency word (``đ``, ``đồng``, ``vnd``, ``vnđ``, ``₫``)
    may end the amount.
    Errors: ``negative``, ``zero``, ``too_large`` (> :data:`MAX_MONEY_VND`, detail ``max``),
    ``not_an_integer`` (``1,5`` with no multiplier), ``ambiguous_number`` (``1,500 tr``),
    ``unknown_unit`` (``300 usd``), and the generic number errors.
    """
    tokens = _tokenize(_prepare(text))
    if _starts_negative(tokens):
        raise ParseError(ErrorCode.NEGATIVE)
    groups: list[tuple[_Reading, int | None]] = []
    i = 0
    ended = False  # a currency word was seen
    while i < len(tokens):
        tok = tokens[i]
        if ended:
            raise ParseError(ErrorCode.UNREADABLE)
        if tok.kind != "num":
            if tok.kind == "sym" and tok.text in _CURRENCY_SYMBOLS and groups:
                ended = True
                i += 1
                continue
            if tok.kind == "word" and groups and tok.text in _CURRENCY_WORDS:
                ended = True
                i += 1
                continue
            raise ParseError(ErrorCode.UNREADABLE)
        reading = _read_number(tok.text)
        i += 1
        multiplier: int | None = None
        if i < len(tokens) and tokens[i].kind == "word":
            split = _split_money_word(tokens[i].text)
            if split is None:
                raise ParseError(ErrorCode.UNKNOWN_UNIT, unit=tokens[i].text, money=True)
            multiplier, ended = split
            i += 1
        elif i < len(tokens) and tokens[i].kind == "num":
            if not groups or groups[-1][1] is None:
                raise ParseError(ErrorCode.MULTIPLE_NUMBERS)
            raise ParseError(ErrorCode.UNREADABLE)
        groups.append((reading, multiplier))
    if not groups:
        raise ParseError(ErrorCode.UNREADABLE)
    with localcontext(_CTX):
        total = _money_total(groups)
        if total > MAX_MONEY_VND:
            raise ParseError(ErrorCode.TOO_LARGE, max=MAX_MONEY_VND, measure="vnd")
        rounded = total.quantize(_ONE, rounding=ROUND_HALF_UP)
    if rounded == 0:
        raise ParseError(ErrorCode.ZERO)
    return rounded


def _money_total(groups: list[tuple[_Reading, int | None]]) -> Decimal:
    first, first_multiplier = groups[0]
    if first_multiplier is None:  # a plain amount of đồng
        if len(groups) > 1:
            raise ParseError(ErrorCode.MULTIPLE_NUMBERS)
        value = first.comma_alt if first.comma_alt is not None else first.value
        if value != value.to_integral_value():
            raise ParseError(ErrorCode.NOT_AN_INTEGER)
        return value
    total = Decimal(0)
    previous: int | None = None
    for index, (reading, multiplier) in enumerate(groups):
        if multiplier is None:
            # Only the last group may lack a multiplier: 2tr5, 2 triệu 500, 1 tỷ 200.000.000.
            if previous is None or index != len(groups) - 1:
                raise ParseError(ErrorCode.UNREADABLE)
            total += _money_tail(groups[index - 1][0], reading, previous)
            break
        if reading.comma_alt is not None:
            raise ParseError(
                ErrorCode.AMBIGUOUS_NUMBER,
                value=_tidy(reading.value * multiplier),
                alternative=_tidy(reading.comma_alt * multiplier),
            )
        if previous is not None and (
            multiplier >= previous or reading.value * multiplier >= previous
        ):
            raise ParseError(ErrorCode.UNREADABLE)
        total += reading.value * multiplier
        previous = multiplier
    return total


def _money_tail(head: _Reading, tail: _Reading, multiplier: int) -> Decimal:
    """Value of the bare number after ``2tr`` in ``2tr5`` / ``2tr500`` / ``2tr 500.000``."""
    if tail.plain and len(tail.raw) <= 3:
        if not head.plain:
            raise ParseError(ErrorCode.UNREADABLE)
        as_fraction = Decimal(f"0.{tail.raw}") * multiplier
        if len(tail.raw) == 2:
            raise ParseError(
                ErrorCode.AMBIGUOUS_NUMBER,
                value=_tidy(head.value * multiplier + as_fraction),
                alternative=_tidy(head.value * multiplier + tail.value * (multiplier // 1000)),
            )
        return as_fraction
    value = tail.comma_alt if tail.comma_alt is not None else tail.value
    if value >= multiplier or value != value.to_integral_value():
        raise ParseError(ErrorCode.UNREADABLE)
    return value


# --------------------------------------------------------------------------------------------
# Land area


class LandRegion(StrEnum):
    """Which local land units apply: the northern sào (360 m²), the central one (500 m²)..."""

    BAC = "bac"
    TRUNG = "trung"
    NAM = "nam"


class AreaUnit(StrEnum):
    M2 = "m2"
    SAO = "sao"
    THUOC = "thuoc"
    MAU = "mau"
    CONG = "cong"
    HA = "ha"


AREA_UNITS: dict[LandRegion, dict[AreaUnit, Fraction]] = {
    LandRegion.BAC: {
        AreaUnit.M2: Fraction(1),
        AreaUnit.SAO: Fraction(360),
        AreaUnit.THUOC: Fraction(24),
        AreaUnit.MAU: Fraction(3600),
        AreaUnit.HA: Fraction(10_000),
    },
    LandRegion.TRUNG: {
        AreaUnit.M2: Fraction(1),
        AreaUnit.SAO: Fraction(500),
        AreaUnit.THUOC: Fraction(500, 15),
        AreaUnit.MAU: Fraction(5000),
        AreaUnit.HA: Fraction(10_000),
    },
    LandRegion.NAM: {
        AreaUnit.M2: Fraction(1),
        AreaUnit.CONG: Fraction(1000),
        AreaUnit.MAU: Fraction(10_000),
        AreaUnit.HA: Fraction(10_000),
    },
}
"""m² per unit, by region. A unit missing from a region gives ``unit_not_in_region``."""

# Folded spellings of the units, as word sequences (longest match wins).
_AREA_WORDS: dict[tuple[str, ...], AreaUnit] = {
    ("m2",): AreaUnit.M2,
    ("m^2",): AreaUnit.M2,
    ("m",): AreaUnit.M2,
    ("met",): AreaUnit.M2,
    ("met", "vuong"): AreaUnit.M2,
    ("m", "vuong"): AreaUnit.M2,
    ("metvuong",): AreaUnit.M2,
    ("sao",): AreaUnit.SAO,
    ("thuoc",): AreaUnit.THUOC,
    ("mau",): AreaUnit.MAU,
    ("cong",): AreaUnit.CONG,
    ("ha",): AreaUnit.HA,
    ("hecta",): AreaUnit.HA,
    ("hec", "ta"): AreaUnit.HA,
}
_HALF_WORD = "ruoi"  # "2 sào rưỡi" = 2,5 sào


class AreaPart(NamedTuple):
    """One ``quantity unit`` pair as understood: ``AreaPart(Decimal(2), AreaUnit.SAO)``."""

    quantity: Decimal
    unit: AreaUnit


class AreaEcho(NamedTuple):
    """What to show back: ``"1 sào 5 thước = 480 m²"`` or just ``"150 m²"``.

    ``converted`` is False when the user typed m² only, so that ``"= ..."`` can be left out.
    """

    parts: tuple[AreaPart, ...]
    m2: Decimal
    converted: bool


@dataclass(frozen=True, slots=True)
class Area:
    """A parsed area. ``m2`` is rounded to 0,01 m² and has no trailing zeros (``Decimal("720")``).

    When ``needs_confirmation`` is True, ask the user; ``alternative_m2``/``alternative_parts``
    is the other reading, if it is a valid area (``1,500`` → 1,5 m² or 1.500 m²?). When the
    literal reading was absurd (``1.500 mẫu``), the other one is taken, with
    ``needs_confirmation`` and no alternative.
    """

    m2: Decimal
    parts: tuple[AreaPart, ...]
    region: LandRegion
    needs_confirmation: bool = False
    alternative_m2: Decimal | None = None
    alternative_parts: tuple[AreaPart, ...] | None = None

    def echo(self) -> AreaEcho:
        return _echo(self.parts, self.m2)

    def alternative_echo(self) -> AreaEcho | None:
        if self.alternative_m2 is None or self.alternative_parts is None:
            return None
        return _echo(self.alternative_parts, self.alternative_m2)


def _echo(parts: tuple[AreaPart, ...], m2: Decimal) -> AreaEcho:
    return AreaEcho(parts, m2, any(part.unit is not AreaUnit.M2 for part in parts))


def _match_area_unit(tokens: list[_Tok], start: int) -> tuple[AreaUnit, int] | None:
    for length in (2, 1):
        words = tuple(tok.text for tok in tokens[start : start + length] if tok.kind == "word")
        if len(words) == length and words in _AREA_WORDS:
            return _AREA_WORDS[words], length
    return None


def _area_total(parts: list[AreaPart], region: LandRegion) -> Decimal:
    factors = AREA_UNITS[region]
    total = sum((Fraction(part.quantity) * factors[part.unit] for part in parts), Fraction(0))
    with localcontext(_CTX):
        exact = Decimal(total.numerator) / Decimal(total.denominator)
        return exact.quantize(_CENT, rounding=ROUND_HALF_UP)


def _check_area(m2: Decimal) -> ParseError | None:
    if m2 <= 0:
        return ParseError(ErrorCode.ZERO)
    if m2 > MAX_AREA_M2:
        return ParseError(ErrorCode.TOO_LARGE, max=MAX_AREA_M2, measure="m2")
    return None


def parse_area(text: str, region: LandRegion = LandRegion.BAC) -> Area:
    """Parse a land area into m², using the local units of ``region``.

    Accepted: ``150``, ``150m2``, ``150 m²``, ``150 mét vuông``, ``1.250,5``, ``2 sào``,
    ``2,5 sao``, ``3 thước``, ``1 mẫu``, ``1 sào 5 thước``, ``1 mẫu 2 sào``, ``2 sào rưỡi``,
    ``1 ha``/``hecta``, ``3 công`` (south); ``m`` and ``mét`` are taken as m². A bare number is
    m². Parts may come in any order; each unit at most once.

    Region units (m²): bac — sào 360, thước 24, mẫu 3.600; trung — sào 500, thước 500/15,
    mẫu 5.000; nam — công 1.000, mẫu 10.000; everywhere ha 10.000 and m². ``sào``/``thước``
    in ``nam`` and ``công`` in ``bac``/``trung`` raise ``unit_not_in_region`` rather than
    guessing.

    Ambiguity (``needs_confirmation``): ``1,500`` (with any unit) is read as 1,5 with the
    alternative 1500; ``1.500 sào`` (dot-thousands with a local unit, not with m²) is read as
    1500 sào with the alternative 1,5 sào.
    Errors: ``zero``, ``negative``, ``too_large`` (> :data:`MAX_AREA_M2`, detail ``max``),
    ``unknown_unit``, ``unit_not_in_region``, ``missing_unit``, ``repeated_unit``,
    ``multiple_numbers``, ``unreadable`` and the number errors.
    """
    tokens = _tokenize(_prepare(text))
    if _starts_negative(tokens):
        raise ParseError(ErrorCode.NEGATIVE)
    readings: list[tuple[_Reading, AreaUnit, bool]] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.kind != "num":
            raise ParseError(ErrorCode.UNREADABLE)
        reading = _read_number(tok.text)
        i += 1
        if i == len(tokens):  # a bare number: m² if alone
            if readings:
                raise ParseError(ErrorCode.MISSING_UNIT)
            readings.append((reading, AreaUnit.M2, False))
            break
        nxt = tokens[i]
        if nxt.kind == "num":
            raise ParseError(ErrorCode.MISSING_UNIT if readings else ErrorCode.MULTIPLE_NUMBERS)
        if nxt.kind == "sym":
            raise ParseError(ErrorCode.UNREADABLE)
        matched = _match_area_unit(tokens, i)
        if matched is None:
            raise ParseError(ErrorCode.UNKNOWN_UNIT, unit=nxt.text, region=region.value)
        unit, length = matched
        i += length
        if unit not in AREA_UNITS[region]:
            raise ParseError(ErrorCode.UNIT_NOT_IN_REGION, unit=unit.value, region=region.value)
        if any(unit is seen for _, seen, _ in readings):
            raise ParseError(ErrorCode.REPEATED_UNIT, unit=unit.value)
        half = i < len(tokens) and tokens[i].kind == "word" and tokens[i].text == _HALF_WORD
        if half:
            if not reading.plain:
                raise ParseError(ErrorCode.UNREADABLE)
            i += 1
        readings.append((reading, unit, half))

    parts: list[AreaPart] = []
    alt_parts: list[AreaPart] = []
    with localcontext(_CTX):
        for reading, unit, half in readings:
            extra = Decimal("0.5") if half else Decimal(0)
            alt = reading.comma_alt
            if alt is None and unit is not AreaUnit.M2:
                alt = reading.dot_alt
            parts.append(AreaPart(_tidy(reading.value + extra), unit))
            alt_value = reading.value if alt is None else alt
            alt_parts.append(AreaPart(_tidy(alt_value + extra), unit))

    m2 = _area_total(parts, region)
    error = _check_area(m2)
    if alt_parts == parts:
        if error is not None:
            raise error
        return Area(_tidy(m2), tuple(parts), region)
    alt_m2 = _area_total(alt_parts, region)
    if _check_area(alt_m2) is not None:
        if error is not None:
            raise error
        return Area(_tidy(m2), tuple(parts), region)
    if error is not None:
        return Area(_tidy(alt_m2), tuple(alt_parts), region, needs_confirmation=True)
    return Area(
        _tidy(m2),
        tuple(parts),
        region,
        needs_confirmation=True,
        alternative_m2=_tidy(alt_m2),
        alternative_parts=tuple(alt_parts),
    )


# --------------------------------------------------------------------------------------------
# Dates


@dataclass(frozen=True, slots=True)
class ParsedDate:
    """A date not in the future; ``needs_confirmation`` when older than 90 days."""

    value: date
    needs_confirmation: bool = False


_DAYS_BACK: dict[str, int] = {
    "hom nay": 0,
    "homnay": 0,
    "hnay": 0,
    "nay": 0,
    "bua nay": 0,
    "today": 0,
    "hom qua": 1,
    "homqua": 1,
    "hqua": 1,
    "bua qua": 1,
    "yesterday": 1,
    "hom kia": 2,
    "homkia": 2,
    "bua kia": 2,
}
_WEEKDAY_WORDS: dict[str, int] = {  # date.weekday(): Monday (thứ hai) = 0
    "hai": 0,
    "ba": 1,
    "tu": 2,
    "nam": 3,
    "sau": 4,
    "bay": 5,
    **{str(n): n - 2 for n in range(2, 8)},
}
_NUMERIC_DATE_RE = re.compile(
    r"(?:ngay\s*)?([0-9]{1,2})\s*([/.-])\s*([0-9]{1,2})(?:\s*\2\s*([0-9]{4}|[0-9]{2}))?"
)
_WORDY_DATE_RE = re.compile(
    r"(?:ngay\s*)?([0-9]{1,2})\s*thang\s*([0-9]{1,2})(?:\s*(?:nam\s*)?([0-9]{4}))?"
)
_ISO_DATE_RE = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})")
_WEEKDAY_RE = re.compile(r"(?:thu\s*(hai|ba|tu|nam|sau|bay|[2-7])|t\s*([2-7])|chu\s*nhat|cn)")


def _days_before(today: date, days: int) -> date:
    try:
        return today - timedelta(days=days)
    except OverflowError:
        raise ParseError(ErrorCode.INVALID_DATE, day=None, month=None, year=None) from None


def _explicit_date(today: date, day: int, month: int, year: int) -> date:
    try:  # first, so that 00/00/0000 and 31/02/1999 are no days, not days too long ago
        value = date(year, month, day)
    except ValueError:
        raise ParseError(ErrorCode.INVALID_DATE, day=day, month=month, year=year) from None
    if year < MIN_YEAR:
        raise ParseError(ErrorCode.DATE_TOO_OLD, min_year=MIN_YEAR)
    if value > today:
        raise ParseError(ErrorCode.FUTURE_DATE, date=value)
    return value


def _yearless_date(today: date, day: int, month: int) -> date:
    """The most recent ``day/month`` not after ``today`` (29/02 looks back to a leap year)."""
    if not (1 <= month <= 12 and 1 <= day <= 31):
        raise ParseError(ErrorCode.INVALID_DATE, day=day, month=month, year=None)
    for year in range(today.year, today.year - 9, -1):
        try:
            value = date(year, month, day)
        except ValueError:
            continue
        if value <= today:
            return value
    raise ParseError(ErrorCode.INVALID_DATE, day=day, month=month, year=None)


def _match_date(folded: str, today: date) -> date:
    if folded in _DAYS_BACK:
        return _days_before(today, _DAYS_BACK[folded])
    if match := _WEEKDAY_RE.fullmatch(folded):
        word = match.group(1) or match.group(2)
        weekday = 6 if word is None else _WEEKDAY_WORDS[word]
        return _days_before(today, (today.weekday() - weekday) % 7)
    if match := _ISO_DATE_RE.fullmatch(folded):
        year, month, day = (int(g) for g in match.groups())
        return _explicit_date(today, day, month, year)
    numeric = _NUMERIC_DATE_RE.fullmatch(folded)
    wordy = None if numeric else _WORDY_DATE_RE.fullmatch(folded)
    if numeric:
        day_s, month_s, year_s = numeric.group(1), numeric.group(3), numeric.group(4)
    elif wordy:
        day_s, month_s, year_s = wordy.groups()
    else:
        raise ParseError(ErrorCode.UNREADABLE)
    day, month = int(day_s), int(month_s)
    if year_s is None:
        return _yearless_date(today, day, month)
    year = int(year_s) + (2000 if len(year_s) == 2 else 0)
    return _explicit_date(today, day, month, year)


def parse_date(text: str, today: date) -> ParsedDate:
    """Parse the date of an activity, relative to ``today`` (in Asia/Ho_Chi_Minh).

    Accepted: ``hôm nay``/``hom nay``/``hnay``/``nay``, ``hôm qua``/``hqua``, ``hôm kia``
    (2 days ago), ``25/11``, ``25/11/2026``, ``25-11-2026``, ``25.11.2026``, ``25/11/26``
    (20xx), ``1/3``, ``ngày 25/11``, ``25 tháng 11 [năm] 2026``, ``2026-11-25``, and weekdays
    ``thứ hai``/``thu 2``/``t2`` … ``thứ bảy``/``t7``, ``chủ nhật``/``cn`` meaning the most
    recent such day, today included. Without a year: the most recent such date not in the
    future (on 02/01/2027, ``25/12`` is 25/12/2026).
    Errors: ``future_date``, ``invalid_date``, ``date_too_old`` (before :data:`MIN_YEAR`),
    ``unreadable``, ``empty``, ``too_long``.
    """
    folded = _prepare(text)
    value = _match_date(folded, today)
    if value.year < MIN_YEAR:
        raise ParseError(ErrorCode.DATE_TOO_OLD, min_year=MIN_YEAR)
    return ParsedDate(value, (today - value).days > CONFIRM_AFTER_DAYS)
