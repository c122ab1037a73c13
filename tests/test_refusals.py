"""What a person reads when a parser refuses their answer (bot/domain/refusals.py), in
Vietnamese."""

from __future__ import annotations

import pytest

from bot.domain.i18n import translator
from bot.domain.parsing import LandRegion, ParseError, parse_area, parse_days, parse_money
from bot.domain.refusals import explain

VI = translator("vi")


def refusal(parse: object, text: str, *args: object) -> str:
    assert callable(parse)
    with pytest.raises(ParseError) as info:
        parse(text, *args)
    return explain(VI, info.value)


def test_a_unit_of_another_region_is_named_with_its_diacritics_and_the_local_units_offered() -> (
    None
):
    assert refusal(parse_area, "2 sao", LandRegion.NAM) == (
        "Đơn vị sào không dùng ở vùng này; vui lòng dùng m², công, mẫu hoặc ha."
    )
    assert refusal(parse_area, "2 cong", LandRegion.BAC) == (
        "Đơn vị công không dùng ở vùng này; vui lòng dùng m², sào, thước, mẫu hoặc ha."
    )


def test_an_unknown_unit_offers_what_fits_the_answer() -> None:
    assert refusal(parse_area, "2 acre", LandRegion.NAM) == (
        "Không hiểu đơn vị “acre”. Hãy dùng m², công, mẫu hoặc ha."
    )
    assert refusal(parse_money, "300 usd") == (
        "Không hiểu đơn vị “usd”. Hãy ghi số tiền bằng đồng, ví dụ 300.000, 300k, 2tr hoặc 1,5 tỷ."
    )


def test_days_in_another_measure_are_explained() -> None:
    assert "không phải tổng số ngày công" in refusal(parse_days, "6 ngày công")
    assert "nửa ngày hay một buổi là 0,5" in refusal(parse_days, "4 tiếng")


def test_an_ambiguous_amount_does_not_speak_of_a_comma_that_was_not_typed() -> None:
    message = refusal(parse_money, "2tr50")
    assert "2.500.000" in message and "2.050.000" in message
    assert "dấu phẩy" not in message


def test_a_number_with_spaces_in_it_is_told_to_be_written_together() -> None:
    assert "1.250" in refusal(parse_area, "1 250")


def test_a_limit_is_given_with_its_unit() -> None:
    assert refusal(parse_area, "2778 sào") == "Vượt quá giới hạn 1.000.000 m²."
    assert refusal(parse_money, "1001 tỷ") == "Vượt quá giới hạn 1.000.000.000.000 đ."
