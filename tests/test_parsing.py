"""Tests of bot.parsing: numbers, counts, money, land area and dates."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal

import pytest
from babel.numbers import format_decimal
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.formatting import format_number
from bot.domain.parsing import (
    AREA_UNITS,
    Area,
    AreaEcho,
    AreaPart,
    AreaUnit,
    ErrorCode,
    LandRegion,
    Number,
    ParsedDate,
    ParseError,
    parse_area,
    parse_date,
    parse_days,
    parse_decimal,
    parse_int,
    parse_money,
)

D = Decimal
BAC, TRUNG, NAM = LandRegion.BAC, LandRegion.TRUNG, LandRegion.NAM


def error_of(func: Callable[..., object], *args: object) -> ParseError:
    with pytest.raises(ParseError) as info:
        func(*args)
    return info.value


def vn_format(value: Decimal) -> str:
    """1234567.5 → "1.234.567,5", written without the help of the code under test."""
    sign, digits, exponent = value.normalize().as_tuple()
    assert sign == 0 and isinstance(exponent, int)
    text = "".join(map(str, digits))
    if exponent >= 0:
        integer, fraction = text + "0" * exponent, ""
    else:
        text = text.rjust(-exponent + 1, "0")
        integer, fraction = text[:exponent], text[exponent:]
    groups: list[str] = []
    while len(integer) > 3:
        integer, group = integer[:-3], integer[-3:]
        groups.insert(0, group)
    result = ".".join([integer, *groups])
    return f"{result},{fraction}" if fraction else result


def test_vn_format_helper() -> None:
    assert vn_format(D("1234567.5")) == "1.234.567,5"
    assert vn_format(D("0.05")) == "0,05"
    assert vn_format(D("1000")) == "1.000"
    assert vn_format(D("1E+3")) == "1.000"
    assert vn_format(D("12")) == "12"


# --- parse_decimal ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("12", D(12)),
        ("0,5", D("0.5")),
        ("1.000", D(1000)),
        ("1.250,5", D("1250.5")),
        ("1,5", D("1.5")),
        ("2.5", D("2.5")),
        ("2.50", D("2.5")),
        ("1.2345", D("1.2345")),
        ("0.500", D("0.5")),  # no thousands group starts with 0
        ("1234.567", D("1234.567")),  # not a valid group either
        ("1.000.000", D(1_000_000)),
        ("1.000.000,25", D("1000000.25")),
        ("1,250.5", D("1250.5")),  # English style, unambiguous
        ("1,500,000", D(1_500_000)),
        ("007", D(7)),
        ("0", D(0)),
        (" 12 ", D(12)),
        ("12" + " " * 200, D(12)),  # whitespace is cleaned before the length check
        ("12.", D(12)),  # trailing full stop ignored
        ("１２", D(12)),  # full-width digits
        ("999.999.999.999.999", D(999_999_999_999_999)),
    ],
)
def test_parse_decimal(text: str, value: Decimal) -> None:
    number = parse_decimal(text)
    assert number == Number(value)
    assert not number.ambiguous


def test_parse_decimal_values_have_no_exponent() -> None:
    assert str(parse_decimal("1.000").value) == "1000"
    assert str(parse_decimal("2,50").value) == "2.5"


@pytest.mark.parametrize(
    ("text", "value", "alternative"),
    [("1,500", D("1.5"), D(1500)), ("12,000", D(12), D(12000)), ("1,000", D(1), D(1000))],
)
def test_parse_decimal_comma_three_digits_is_ambiguous(
    text: str, value: Decimal, alternative: Decimal
) -> None:
    number = parse_decimal(text)
    assert number.value == value
    assert number.alternative == alternative
    assert number.ambiguous


def test_parse_decimal_refuses_words() -> None:
    err = error_of(parse_decimal, "6 ngày công")
    assert (err.code, err.details) == (ErrorCode.UNEXPECTED_WORD, {"word": "ngay"})


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("1", D(1)),
        ("0,5", D("0.5")),
        ("1.5", D("1.5")),
        ("1 ngày", D(1)),
        ("1,5 ngay moi nguoi", D("1.5")),
        ("2 ngày mỗi người.", D(2)),
        ("2 ngày,", D(2)),
        ("0,5 ngày ạ", D("0.5")),
        ("nửa ngày", D("0.5")),
        ("nua", D("0.5")),
        ("1 buổi", D("0.5")),  # a morning or an afternoon
        ("2 buoi", D(1)),
        ("1 ngày rưỡi", D("1.5")),
        ("1 ruoi", D("1.5")),
    ],
)
def test_parse_days(text: str, days: Decimal) -> None:
    assert parse_days(text) == Number(days)


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("4 tiếng", "tieng"),  # hours are not days
        ("4 giờ", "gio"),
        ("3h", "h"),
        ("1 tuần", "tuan"),
        ("1 tháng", "thang"),
        ("6 ngày công", "cong"),  # the group's total, not each person's days
        ("6 cong", "cong"),
        ("2 nghìn", "nghin"),
        ("1 ngày ngày", "ngay"),
        ("1 buổi ngày", "ngay"),
        ("1,5 ngày rưỡi", "ruoi"),
    ],
)
def test_parse_days_refuses_other_measures_rather_than_ignoring_them(text: str, word: str) -> None:
    err = error_of(parse_days, text)
    assert (err.code, err.details) == (ErrorCode.NOT_DAYS, {"word": word})


def test_parse_days_keeps_the_other_reading_and_the_number_errors() -> None:
    assert parse_days("1,500") == Number(D("1.5"), D(1500))
    assert error_of(parse_days, "-1").code is ErrorCode.NEGATIVE
    assert error_of(parse_days, "ngày").code is ErrorCode.UNREADABLE
    assert error_of(parse_days, "1 ngày 1 buổi").code is ErrorCode.MULTIPLE_NUMBERS


@settings(max_examples=300)
@given(
    st.decimals(min_value=D(0), max_value=D(1000), places=2),
    st.sampled_from(["", " ngày", " ngay moi nguoi", " ngày ạ", " NGÀY."]),
)
def test_parse_days_reads_any_day_count(value: Decimal, ending: str) -> None:
    typed = vn_format(value)
    number = parse_days(typed + ending)
    assert number.value == value
    assert parse_days(typed + " buổi").value == (value / 2).normalize()


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", ErrorCode.EMPTY),
        ("   ", ErrorCode.EMPTY),
        ("...", ErrorCode.EMPTY),
        ("abc", ErrorCode.UNREADABLE),
        ("NaN", ErrorCode.UNREADABLE),
        ("Infinity", ErrorCode.UNREADABLE),
        ("inf", ErrorCode.UNREADABLE),
        ("1e5", ErrorCode.UNREADABLE),
        ("1E+5", ErrorCode.UNREADABLE),
        ("12abc3", ErrorCode.UNREADABLE),
        ("12%", ErrorCode.UNREADABLE),
        (",5", ErrorCode.UNREADABLE),
        ("12 13", ErrorCode.MULTIPLE_NUMBERS),
        ("1 000", ErrorCode.MULTIPLE_NUMBERS),
        ("1.2.3", ErrorCode.MALFORMED_NUMBER),
        ("1.000.00", ErrorCode.MALFORMED_NUMBER),
        ("1,2,3", ErrorCode.MALFORMED_NUMBER),
        ("1.000,000.5", ErrorCode.MALFORMED_NUMBER),
        ("1,000.000,5", ErrorCode.MALFORMED_NUMBER),
        ("-5", ErrorCode.NEGATIVE),
        ("−5", ErrorCode.NEGATIVE),
        ("1234567890123456", ErrorCode.TOO_MANY_DIGITS),
        ("0,0000000000000001", ErrorCode.TOO_MANY_DIGITS),
        ("9" * 100, ErrorCode.TOO_MANY_DIGITS),
        ("9" * 400, ErrorCode.TOO_LONG),
        ("1" + " " * 2000, ErrorCode.TOO_LONG),
        ("x" * 20_000, ErrorCode.TOO_LONG),
    ],
)
def test_parse_decimal_errors(text: str, code: ErrorCode) -> None:
    assert error_of(parse_decimal, text).code is code


def test_parse_error_carries_details() -> None:
    err = error_of(parse_decimal, "1.2.3")
    assert err.details == {"number": "1.2.3"}
    assert isinstance(err, ValueError)
    assert "malformed_number" in repr(err)
    assert error_of(parse_decimal, "9" * 20).details == {"max_digits": 15}
    assert error_of(parse_decimal, "9" * 400).details == {"max_length": 100}


@settings(max_examples=200)
@given(st.decimals(min_value=0, max_value=10**11, places=3, allow_nan=False))
def test_parse_decimal_round_trip(value: Decimal) -> None:
    assert parse_decimal(vn_format(value)).value == value


@given(st.decimals(min_value=0, max_value=10**11, places=2, allow_nan=False))
def test_parse_decimal_reads_babel_vi_output(value: Decimal) -> None:
    text = format_decimal(value, format="#,##0.##", locale="vi")
    assert parse_decimal(text).value == value


@given(st.decimals(min_value=-(10**11), max_value=10**11, places=2, allow_nan=False))
def test_numbers_are_shown_as_babel_writes_them_in_vietnamese(value: Decimal) -> None:
    """format_number keeps Babel's parsed pattern and locale: the same text as asking Babel."""
    assert format_number(value) == format_decimal(value, format="#,##0.##", locale="vi")
    assert format_number(value, max_decimals=0) == format_decimal(
        value, format="#,##0", locale="vi"
    )
    if value >= 0:
        assert format_number(value) == vn_format(value)


def test_negative_zero_is_shown_as_zero_whatever_was_formatted_before() -> None:
    """Formatted numbers are cached by value, and -0 equals 0."""
    assert format_number(Decimal("-0.00")) == "0"
    assert format_number(0) == "0"
    assert format_number(Decimal("-0.004")) == format_decimal(
        Decimal("-0.004"), format="#,##0.##", locale="vi"
    )


# --- parse_int ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("12", 12),
        ("1.000", 1000),
        ("12 người", 12),
        ("12 nguoi", 12),
        ("12người", 12),
        ("100.000", 100_000),
        ("1", 1),
        ("3,0", 3),
    ],
)
def test_parse_int(text: str, value: int) -> None:
    assert parse_int(text, 1, 100_000) == value


def test_parse_int_errors() -> None:
    assert error_of(parse_int, "0,5").code is ErrorCode.NOT_AN_INTEGER
    assert error_of(parse_int, "2.5").code is ErrorCode.NOT_AN_INTEGER
    err = error_of(parse_int, "0")
    assert err.code is ErrorCode.TOO_SMALL
    assert err.details == {"min": 1, "max": 100_000}
    err = error_of(parse_int, "100.001")
    assert err.code is ErrorCode.TOO_LARGE
    assert err.details == {"min": 1, "max": 100_000}
    err = error_of(parse_int, "1,500")
    assert err.code is ErrorCode.AMBIGUOUS_NUMBER
    assert err.details == {"value": D("1.5"), "alternative": D(1500)}
    assert error_of(parse_int, "12 13").code is ErrorCode.MULTIPLE_NUMBERS
    assert error_of(parse_int, "-3").code is ErrorCode.NEGATIVE
    assert error_of(parse_int, "2 nghìn người").code is ErrorCode.UNEXPECTED_WORD
    assert error_of(parse_int, "người").code is ErrorCode.UNREADABLE
    assert error_of(lambda t: parse_int(t, allow_words=False), "12 người").code is (
        ErrorCode.UNEXPECTED_WORD
    )


def test_parse_int_custom_bounds() -> None:
    assert parse_int("0", 0, 10) == 0
    assert error_of(lambda t: parse_int(t, 0, 10), "11").details == {"min": 0, "max": 10}


@given(st.integers(min_value=1, max_value=100_000))
def test_parse_int_round_trip(value: int) -> None:
    assert parse_int(vn_format(D(value))) == value
    assert parse_int(f"{value} người") == value


# --- parse_money --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("300000", 300_000),
        ("300.000", 300_000),
        ("300.000 đ", 300_000),
        ("300.000,", 300_000),
        ("300.000đ", 300_000),
        ("300.000 ₫", 300_000),
        ("300.000 đồng", 300_000),
        ("300000 vnd", 300_000),
        ("300000 VNĐ", 300_000),
        ("300,000", 300_000),
        ("300000,00", 300_000),
        ("300k", 300_000),
        ("300K", 300_000),
        ("300kđ", 300_000),
        ("300 nghìn", 300_000),
        ("300 ngàn đồng", 300_000),
        ("2tr", 2_000_000),
        ("2 triệu", 2_000_000),
        ("2 trieu", 2_000_000),
        ("2tr5", 2_500_000),
        ("2 triệu 5", 2_500_000),
        ("2tr500", 2_500_000),
        ("2tr050", 2_050_000),
        ("2tr500k", 2_500_000),
        ("2 triệu 500 nghìn", 2_500_000),
        ("2 triệu 500.000 đ", 2_500_000),
        ("1,5 tỷ", 1_500_000_000),
        ("1 ty", 1_000_000_000),
        ("1 tỉ", 1_000_000_000),
        ("1 tỷ 200 triệu", 1_200_000_000),
        ("1ty2", 1_200_000_000),
        ("2.5tr", 2_500_000),
        ("2.500 triệu", 2_500_000_000),  # a dot before three digits groups thousands
        ("1,2345678 tr", 1_234_568),  # rounded half up to whole đồng
        ("1000 tỷ", 1_000_000_000_000),
    ],
)
def test_parse_money(text: str, value: int) -> None:
    result = parse_money(text)
    assert result == value
    assert result.as_tuple().exponent == 0


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("-300k", ErrorCode.NEGATIVE),
        ("0", ErrorCode.ZERO),
        ("0đ", ErrorCode.ZERO),
        ("0,0000001 tr", ErrorCode.ZERO),
        ("1001 tỷ", ErrorCode.TOO_LARGE),
        ("1.500 tỷ", ErrorCode.TOO_LARGE),
        ("1,5", ErrorCode.NOT_AN_INTEGER),
        ("1,500 tr", ErrorCode.AMBIGUOUS_NUMBER),
        ("2tr50", ErrorCode.AMBIGUOUS_NUMBER),
        ("300 usd", ErrorCode.UNKNOWN_UNIT),
        ("đ", ErrorCode.UNREADABLE),
        ("đ 300", ErrorCode.UNREADABLE),
        ("300 đ 5", ErrorCode.UNREADABLE),
        ("300 200", ErrorCode.MULTIPLE_NUMBERS),
        ("200 triệu 1 tỷ", ErrorCode.UNREADABLE),
        ("1 triệu 2 triệu", ErrorCode.UNREADABLE),
        ("2,5tr5", ErrorCode.UNREADABLE),
        ("2tr 5 6", ErrorCode.UNREADABLE),
        ("2 triệu 3.000.000", ErrorCode.UNREADABLE),
        ("abc", ErrorCode.UNREADABLE),
    ],
)
def test_parse_money_errors(text: str, code: ErrorCode) -> None:
    assert error_of(parse_money, text).code is code


def test_parse_money_error_details() -> None:
    assert error_of(parse_money, "1001 tỷ").details == {"max": D(10**12), "measure": "vnd"}
    assert error_of(parse_money, "2tr50").details == {
        "value": D(2_500_000),
        "alternative": D(2_050_000),
    }
    assert error_of(parse_money, "300 usd").details == {"unit": "usd", "money": True}


money_suffixes = st.sampled_from(
    [
        ("k", 1000),
        ("K", 1000),
        (" nghìn", 1000),
        ("tr", 10**6),
        (" triệu", 10**6),
        (" tỷ", 10**9),
        (" tỉ", 10**9),
        (" ty", 10**9),
    ]
)


@given(st.integers(min_value=1, max_value=999), money_suffixes, st.sampled_from(["", " đ", "đ"]))
def test_parse_money_suffix_round_trip(amount: int, suffix: tuple[str, int], currency: str) -> None:
    word, factor = suffix
    assert parse_money(f"{amount}{word}{currency}") == amount * factor


@given(
    st.decimals(min_value=D("0.1"), max_value=999, places=1, allow_nan=False),
    money_suffixes,
)
def test_parse_money_decimal_suffix_round_trip(amount: Decimal, suffix: tuple[str, int]) -> None:
    word, factor = suffix
    assert parse_money(f"{vn_format(amount)}{word}") == (amount * factor).quantize(D(1))


@given(st.integers(min_value=1, max_value=10**12), st.sampled_from(["", " đ", "đ", " vnd"]))
def test_parse_money_plain_round_trip(amount: int, currency: str) -> None:
    assert parse_money(vn_format(D(amount)) + currency) == amount


# --- parse_area ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "m2"),
    [
        ("150", D(150)),
        ("150m2", D(150)),
        ("150 m2", D(150)),
        ("150 m²", D(150)),
        ("150m²", D(150)),
        ("150 m^2", D(150)),
        ("150 met vuong", D(150)),
        ("150 mét vuông", D(150)),
        ("150 M2", D(150)),
        ("150 m", D(150)),
        ("1.250,5", D("1250.5")),
        ("1.250,5 m2", D("1250.5")),
        ("1.500 m2", D(1500)),
        ("1.500", D(1500)),
        ("1500m2", D(1500)),
        ("2 sào", D(720)),
        ("2sào", D(720)),
        ("2 SÀO", D(720)),
        ("2,5 sao", D(900)),
        ("2,5sao", D(900)),
        ("3 thước", D(72)),
        ("3 thuoc", D(72)),
        ("1 mẫu", D(3600)),
        ("1 mau", D(3600)),
        ("1 MẪU", D(3600)),
        ("1 sào 5 thước", D(480)),
        ("1sao5thuoc", D(480)),
        ("1 SÀO 5 THƯỚC", D(480)),
        ("5 thước 1 sào", D(480)),
        ("1 mẫu 2 sào", D(4320)),
        ("1 mẫu 2 sào 3 thước", D(4392)),
        ("1 sào 20 m2", D(380)),
        ("2 sào rưỡi", D(900)),
        ("2 sào ạ", D(720)),
        ("2 sao 5 thuoc,", D(840)),
        ("1 ha", D(10_000)),
        ("0,5 hecta", D(5000)),
        ("0,01", D("0.01")),
        ("1.000.000", D(1_000_000)),
    ],
)
def test_parse_area_bac(text: str, m2: Decimal) -> None:
    for variant in (text, unicodedata.normalize("NFD", text), text.upper()):
        area = parse_area(variant, BAC)
        assert area.m2 == m2
        assert not area.needs_confirmation
        assert area.alternative_m2 is None
        assert area.region is BAC


def test_parse_area_default_region_is_bac() -> None:
    assert parse_area("2 sào").m2 == 720


def test_parse_area_parts_and_echo() -> None:
    area = parse_area("1 sào 5 thước", BAC)
    assert area.parts == (AreaPart(D(1), AreaUnit.SAO), AreaPart(D(5), AreaUnit.THUOC))
    assert area.parts[0] == (D(1), AreaUnit.SAO)  # plain tuples too
    assert area.echo() == AreaEcho(area.parts, D(480), converted=True)
    assert area.alternative_echo() is None

    plain = parse_area("150 m2", BAC)
    assert plain.parts == (AreaPart(D(150), AreaUnit.M2),)
    assert plain.echo() == AreaEcho(plain.parts, D(150), converted=False)

    half = parse_area("2 sào rưỡi", BAC)
    assert half.parts == (AreaPart(D("2.5"), AreaUnit.SAO),)


def test_parse_area_m2_is_rounded_and_normalized() -> None:
    assert str(parse_area("2 sào", BAC).m2) == "720"
    assert str(parse_area("1.250,50", BAC).m2) == "1250.5"
    assert parse_area("0,125", BAC).m2 == D("0.13")  # rounded half up to 0,01 m²
    assert str(parse_area("1 sào 5 thước", TRUNG).m2) == "666.67"


def test_parse_area_trung() -> None:
    assert parse_area("2 sào", TRUNG).m2 == 1000
    assert parse_area("1 mẫu", TRUNG).m2 == 5000
    assert parse_area("15 thước", TRUNG).m2 == 500
    assert parse_area("3 thước", TRUNG).m2 == 100
    assert parse_area("1 thước", TRUNG).m2 == D("33.33")
    assert parse_area("1 sào 5 thước", TRUNG).m2 == D("666.67")


def test_parse_area_nam() -> None:
    assert parse_area("3 công", NAM).m2 == 3000
    assert parse_area("1,5 cong", NAM).m2 == 1500
    assert parse_area("1 mẫu", NAM).m2 == 10_000
    assert parse_area("1 mẫu 2 công", NAM).m2 == 12_000
    assert parse_area("150 m2", NAM).m2 == 150
    for text, unit in (("2 sào", "sao"), ("3 thước", "thuoc")):
        err = error_of(parse_area, text, NAM)
        assert err.code is ErrorCode.UNIT_NOT_IN_REGION
        assert err.details == {"unit": unit, "region": "nam"}


def test_parse_area_cong_only_in_the_south() -> None:
    for region in (BAC, TRUNG):
        err = error_of(parse_area, "3 công", region)
        assert err.code is ErrorCode.UNIT_NOT_IN_REGION
        assert err.details == {"unit": "cong", "region": region.value}


def test_area_unit_tables() -> None:
    assert AREA_UNITS[BAC][AreaUnit.SAO] == 15 * AREA_UNITS[BAC][AreaUnit.THUOC]
    assert AREA_UNITS[TRUNG][AreaUnit.SAO] == 15 * AREA_UNITS[TRUNG][AreaUnit.THUOC]
    assert AREA_UNITS[BAC][AreaUnit.MAU] == 10 * AREA_UNITS[BAC][AreaUnit.SAO]
    assert AREA_UNITS[TRUNG][AreaUnit.MAU] == 10 * AREA_UNITS[TRUNG][AreaUnit.SAO]
    assert AREA_UNITS[NAM][AreaUnit.MAU] == 10 * AREA_UNITS[NAM][AreaUnit.CONG]


def test_parse_area_dot_thousands_with_local_unit_needs_confirmation() -> None:
    area = parse_area("1.500 sào", BAC)
    assert area.m2 == 540_000
    assert area.parts == (AreaPart(D(1500), AreaUnit.SAO),)
    assert area.needs_confirmation
    assert area.alternative_m2 == 540
    assert area.alternative_parts == (AreaPart(D("1.5"), AreaUnit.SAO),)
    assert area.alternative_echo() == AreaEcho(area.alternative_parts, D(540), converted=True)


def test_parse_area_comma_three_digits_needs_confirmation() -> None:
    area = parse_area("1,500", BAC)
    assert area.m2 == D("1.5")
    assert area.needs_confirmation
    assert area.alternative_m2 == 1500
    area = parse_area("1,500 sào", BAC)
    assert (area.m2, area.alternative_m2) == (540, 540_000)


def test_parse_area_takes_the_only_sensible_reading() -> None:
    # 1500 mẫu is absurd, 1,5 mẫu is not: take it, but ask.
    area = parse_area("1.500 mẫu", BAC)
    assert area.m2 == 5400
    assert area.needs_confirmation
    assert area.alternative_m2 is None
    assert parse_area("1.000 mẫu", BAC).m2 == 3600
    # 1000 mẫu would be absurd: 1,000 mẫu is simply 1 mẫu.
    area = parse_area("1,000 mẫu", BAC)
    assert area.m2 == 3600
    assert not area.needs_confirmation


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("0", ErrorCode.ZERO),
        ("0 sào", ErrorCode.ZERO),
        ("0,001", ErrorCode.ZERO),
        ("-2 sào", ErrorCode.NEGATIVE),
        ("-150", ErrorCode.NEGATIVE),
        ("1.000.001", ErrorCode.TOO_LARGE),
        ("2778 sào", ErrorCode.TOO_LARGE),
        ("300 mẫu", ErrorCode.TOO_LARGE),
        ("abc", ErrorCode.UNREADABLE),
        ("sào", ErrorCode.UNREADABLE),
        ("khoảng 2 sào", ErrorCode.UNREADABLE),
        ("2 sào đất", ErrorCode.UNREADABLE),
        ("2 sào, 3 thước", ErrorCode.UNREADABLE),
        ("2 acre", ErrorCode.UNKNOWN_UNIT),
        ("2 km2", ErrorCode.UNKNOWN_UNIT),
        ("150 m3", ErrorCode.UNKNOWN_UNIT),
        ("1 sào 5", ErrorCode.MISSING_UNIT),
        ("1 sào 5 6 thước", ErrorCode.MISSING_UNIT),
        ("150 200", ErrorCode.MULTIPLE_NUMBERS),
        ("1 sào 2 sào", ErrorCode.REPEATED_UNIT),
        ("150 m2 20 met", ErrorCode.REPEATED_UNIT),
        ("1.2.3 sào", ErrorCode.MALFORMED_NUMBER),
        ("2,5 sào rưỡi", ErrorCode.UNREADABLE),
        ("", ErrorCode.EMPTY),
    ],
)
def test_parse_area_errors(text: str, code: ErrorCode) -> None:
    assert error_of(parse_area, text, BAC).code is code


def test_parse_area_error_details() -> None:
    assert error_of(parse_area, "2 acre", NAM).details == {"unit": "acre", "region": "nam"}
    assert error_of(parse_area, "1 sào 2 sào", BAC).details == {"unit": "sao"}
    assert error_of(parse_area, "1.000.001", BAC).details == {"max": D(1_000_000), "measure": "m2"}


def test_area_is_frozen() -> None:
    area = parse_area("2 sào", BAC)
    assert isinstance(area, Area)
    with pytest.raises(AttributeError):
        area.m2 = D(1)  # type: ignore[misc]


sao_spellings = st.sampled_from(["sào", "sao", "SÀO", "Sào", unicodedata.normalize("NFD", "sào")])


@given(
    st.decimals(min_value=D("0.01"), max_value=2777, places=2, allow_nan=False),
    sao_spellings,
    st.sampled_from(["", " ", "  "]),
)
def test_parse_area_sao_round_trip(quantity: Decimal, spelling: str, space: str) -> None:
    area = parse_area(f"{vn_format(quantity)}{space}{spelling}", BAC)
    assert area.m2 == quantity * 360
    assert area.parts == (AreaPart(quantity, AreaUnit.SAO),)


@given(st.decimals(min_value=D("0.01"), max_value=1_000_000, places=2, allow_nan=False))
def test_parse_area_m2_round_trip(m2: Decimal) -> None:
    text = vn_format(m2)
    area = parse_area(text + " m²", BAC)
    assert area.m2 == m2
    assert parse_area(text, NAM).m2 == m2


@given(
    st.integers(min_value=0, max_value=200),
    st.integers(min_value=0, max_value=9),
    st.integers(min_value=0, max_value=14),
)
def test_parse_area_compound_round_trip(mau: int, sao: int, thuoc: int) -> None:
    expected = mau * 3600 + sao * 360 + thuoc * 24
    text = f"{mau} mẫu {sao} sào {thuoc} thước"
    if expected == 0:
        assert error_of(parse_area, text, BAC).code is ErrorCode.ZERO
    else:
        assert parse_area(text, BAC).m2 == expected


# --- parse_date ---------------------------------------------------------------------------

TODAY = date(2026, 11, 27)  # a Friday (thứ sáu)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hôm nay", TODAY),
        ("Hôm nay", TODAY),
        ("hom nay", TODAY),
        ("HOM NAY", TODAY),
        ("nay", TODAY),
        ("hnay", TODAY),
        ("hôm qua", TODAY - timedelta(days=1)),
        ("hom qua", TODAY - timedelta(days=1)),
        ("hôm qua ạ", TODAY - timedelta(days=1)),
        ("hôm qua,", TODAY - timedelta(days=1)),
        ("hôm kia", TODAY - timedelta(days=2)),
        ("hom kia", TODAY - timedelta(days=2)),
        ("25/11", date(2026, 11, 25)),
        ("25/11/2026", date(2026, 11, 25)),
        ("25-11-2026", date(2026, 11, 25)),
        ("25.11.2026", date(2026, 11, 25)),
        ("25/11/26", date(2026, 11, 25)),
        ("25 / 11 / 2026", date(2026, 11, 25)),
        ("ngày 25/11", date(2026, 11, 25)),
        ("25 tháng 11", date(2026, 11, 25)),
        ("25 tháng 11 năm 2026", date(2026, 11, 25)),
        ("2026-11-25", date(2026, 11, 25)),
        ("27/11", TODAY),
        ("28/11", date(2025, 11, 28)),  # most recent 28/11 not in the future
        ("thứ sáu", TODAY),
        ("thứ hai", date(2026, 11, 23)),
        ("thu 2", date(2026, 11, 23)),
        ("T2", date(2026, 11, 23)),
        ("thứ năm", date(2026, 11, 26)),
        ("thứ tư", date(2026, 11, 25)),
        ("t4", date(2026, 11, 25)),
        ("thứ bảy", date(2026, 11, 21)),
        ("thu 7", date(2026, 11, 21)),
        ("chủ nhật", date(2026, 11, 22)),
        ("CN", date(2026, 11, 22)),
    ],
)
def test_parse_date(text: str, expected: date) -> None:
    parsed = parse_date(text, TODAY)
    assert parsed.value == expected
    assert parsed == ParsedDate(expected, needs_confirmation=(TODAY - expected).days > 90)


def test_parse_date_without_year_looks_back_over_new_year() -> None:
    assert parse_date("25/12", date(2027, 1, 2)).value == date(2026, 12, 25)
    assert parse_date("1/3", date(2027, 1, 2)) == ParsedDate(date(2026, 3, 1), True)
    assert parse_date("1/3", date(2027, 3, 1)).value == date(2027, 3, 1)


def test_parse_date_29_february() -> None:
    assert parse_date("29/02", date(2027, 1, 2)).value == date(2024, 2, 29)
    assert parse_date("29/2/2024", date(2027, 1, 2)).value == date(2024, 2, 29)
    err = error_of(parse_date, "29/02/2025", TODAY)
    assert err.code is ErrorCode.INVALID_DATE
    assert err.details == {"day": 29, "month": 2, "year": 2025}


def test_parse_date_needs_confirmation_after_90_days() -> None:
    assert not parse_date("29/08/2026", TODAY).needs_confirmation  # 90 days
    assert parse_date("28/08/2026", TODAY).needs_confirmation  # 91 days
    assert parse_date("1/1/2020", TODAY).needs_confirmation


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("28/11/2026", ErrorCode.FUTURE_DATE),
        ("1/1/2027", ErrorCode.FUTURE_DATE),
        ("25/11/27", ErrorCode.FUTURE_DATE),
        ("31/02", ErrorCode.INVALID_DATE),
        ("31/02/2026", ErrorCode.INVALID_DATE),
        ("32/1", ErrorCode.INVALID_DATE),
        ("0/1", ErrorCode.INVALID_DATE),
        ("25/13", ErrorCode.INVALID_DATE),
        ("25/0/2026", ErrorCode.INVALID_DATE),
        ("31/4/2026", ErrorCode.INVALID_DATE),
        ("12/05/1999", ErrorCode.DATE_TOO_OLD),
        ("1/1/0001", ErrorCode.DATE_TOO_OLD),
        ("ngày mai", ErrorCode.UNREADABLE),
        ("25/11/2026 10:00", ErrorCode.UNREADABLE),
        ("25/11-2026", ErrorCode.UNREADABLE),
        ("25/11/202", ErrorCode.UNREADABLE),
        ("251126", ErrorCode.UNREADABLE),
        ("thứ tám", ErrorCode.UNREADABLE),
        ("t8", ErrorCode.UNREADABLE),
        ("", ErrorCode.EMPTY),
        ("x" * 101, ErrorCode.TOO_LONG),
    ],
)
def test_parse_date_errors(text: str, code: ErrorCode) -> None:
    assert error_of(parse_date, text, TODAY).code is code


def test_parse_date_future_details() -> None:
    assert error_of(parse_date, "28/11/2026", TODAY).details == {"date": date(2026, 11, 28)}


recent_days = st.tuples(
    st.dates(min_value=date(2001, 1, 1), max_value=date(2099, 12, 31)),
    st.integers(min_value=0, max_value=90),
)


@given(recent_days)
def test_parse_date_round_trip(today_and_age: tuple[date, int]) -> None:
    today, age = today_and_age
    value = today - timedelta(days=age)
    for text in (f"{value:%d/%m/%Y}", f"{value.day}/{value.month}", f"{value:%d-%m-%y}"):
        assert parse_date(text, today) == ParsedDate(value, needs_confirmation=False)


@given(st.dates(min_value=date(2001, 1, 1), max_value=date(2099, 12, 31)))
def test_parse_date_weekdays_are_within_the_last_week(today: date) -> None:
    names = ["thứ hai", "thứ ba", "thứ tư", "thứ năm", "thứ sáu", "thứ bảy", "chủ nhật"]
    for weekday, name in enumerate(names):
        value = parse_date(name, today).value
        assert value.weekday() == weekday
        assert 0 <= (today - value).days <= 6


# --- totality -----------------------------------------------------------------------------

FRAGMENTS = [
    "0", "1", "12", "1.000", "1,5", "1,500", "2.5", ".", ",", "-", " ", "/", "sào", "sao",
    "thước", "mẫu", "công", "m2", "m²", "m", "met", "vuông", "ha", "rưỡi", "k", "tr", "triệu",
    "tỷ", "đ", "vnd", "₫", "hôm", "nay", "qua", "kia", "thứ", "hai", "t2", "cn", "tháng",
    "năm", "ngày", "e", "NaN", "người", "\u0301", "\u200f", "\x00", "<b>", "'; DROP TABLE",
    "🙂", "٣", "１", "9999999999999999",
]  # fmt: skip
fragment_text = st.lists(st.sampled_from(FRAGMENTS), max_size=12).map("".join)
any_text = st.one_of(st.text(), fragment_text, st.text(max_size=20_000).map(lambda t: t * 3))


def _total(func: Callable[..., object], *args: object) -> None:
    try:
        func(*args)
    except ParseError as err:
        assert isinstance(err.code, ErrorCode)


@settings(max_examples=300)
@given(any_text)
def test_number_parsers_are_total(text: str) -> None:
    _total(parse_decimal, text)
    _total(parse_days, text)
    _total(parse_int, text)
    _total(parse_money, text)


@settings(max_examples=300)
@given(any_text, st.sampled_from(list(LandRegion)))
def test_parse_area_is_total(text: str, region: LandRegion) -> None:
    _total(parse_area, text, region)


@settings(max_examples=300)
@given(any_text, st.dates())
def test_parse_date_is_total(text: str, today: date) -> None:
    _total(parse_date, text, today)


@given(st.sampled_from(["hôm nay", "hôm qua", "hôm kia", "t2", "cn", "1/1", "29/2"]), st.dates())
def test_parse_date_is_total_at_the_ends_of_time(text: str, today: date) -> None:
    _total(parse_date, text, today)
