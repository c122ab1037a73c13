"""Wording for what parsers refuse: one clear sentence per reason, in the person's language."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from bot.domain.formatting import format_date, format_number
from bot.domain.i18n import Translator
from bot.domain.parsing import AREA_UNITS, AreaEcho, AreaUnit, ErrorCode, LandRegion, ParseError


def unit_name(t: Translator, unit: AreaUnit) -> str:
    names = {
        AreaUnit.M2: "m²",
        AreaUnit.SAO: t._("sào"),
        AreaUnit.THUOC: t._("thước"),
        AreaUnit.MAU: t._("mẫu"),
        AreaUnit.CONG: t._("công"),
        AreaUnit.HA: "ha",
    }
    return names[unit]


def area_echo(t: Translator, echo: AreaEcho) -> str:
    """ "2 sào = 720 m²", or just "150 m²" when it was typed in m²."""
    total = f"{format_number(echo.m2)} m²"
    if not echo.converted:
        return total
    typed = " ".join(f"{format_number(q)} {unit_name(t, unit)}" for q, unit in echo.parts)
    return f"{typed} = {total}"


def _region_units(t: Translator, region: object) -> str:
    """ "m², sào, thước, mẫu or ha": the land units of the region, for a hint."""
    names = [unit_name(t, unit) for unit in AREA_UNITS[LandRegion(str(region))]]
    return t._("{units} or {last}", units=", ".join(names[:-1]), last=names[-1])


def _number(value: object) -> str:
    if isinstance(value, Decimal | int):
        return format_number(value)
    return str(value)


def explain(t: Translator, error: ParseError) -> str:
    """Why the input was refused, for the re-prompt."""
    d = error.details
    code = error.code
    if code is ErrorCode.EMPTY:
        return t._("The answer is empty.")
    if code is ErrorCode.TOO_LONG:
        return t._("That is too long: at most {limit} characters.", limit=d.get("max_length"))
    if code is ErrorCode.TOO_MANY_DIGITS:
        return t._("That number has too many digits.")
    if code is ErrorCode.MULTIPLE_NUMBERS:
        return t._("Please type just one number, without spaces inside it (1250 or 1.250).")
    if code is ErrorCode.NEGATIVE:
        return t._("The number cannot be negative.")
    if code is ErrorCode.ZERO:
        return t._("The number must be more than zero.")
    if code is ErrorCode.NOT_AN_INTEGER:
        return t._("Please type a whole number, such as 12.")
    if code is ErrorCode.AMBIGUOUS_NUMBER:
        return t._(
            "I cannot tell whether you mean {value} or {alternative}; please type the one you "
            "mean as it is written here.",
            value=_number(d.get("value")),
            alternative=_number(d.get("alternative")),
        )
    if code is ErrorCode.TOO_SMALL:
        return t._("The number must be at least {min}.", min=_number(d.get("min")))
    if code is ErrorCode.TOO_LARGE:
        measure = {"m2": " m²", "vnd": " đ"}.get(str(d.get("measure")), "")
        return t._("That is more than the limit of {max}.", max=_number(d.get("max")) + measure)
    if code is ErrorCode.UNKNOWN_UNIT and d.get("money"):
        return t._(
            "I do not know the unit “{unit}”. Write the amount in đồng, e.g. 300.000, 300k, "
            "2tr or 1,5 tỷ.",
            unit=d.get("unit"),
        )
    if code is ErrorCode.UNKNOWN_UNIT:
        return t._(
            "I do not know the unit “{unit}”. Use {units}.",
            unit=d.get("unit"),
            units=_region_units(t, d.get("region", LandRegion.BAC)),
        )
    if code is ErrorCode.UNIT_NOT_IN_REGION:
        return t._(
            "The unit {unit} is not used in this region; please use {units}.",
            unit=unit_name(t, AreaUnit(str(d.get("unit")))),
            units=_region_units(t, d.get("region", LandRegion.BAC)),
        )
    if code is ErrorCode.NOT_DAYS and d.get("word") == "cong":
        return t._(
            "Please type the days each person worked, not the total of workdays: if 12 people "
            "worked half a day, type 0,5."
        )
    if code is ErrorCode.NOT_DAYS:
        return t._(
            "Please type the days each person worked, in days: half a day or one session "
            "(buổi) is 0,5, a whole day is 1."
        )
    if code is ErrorCode.MISSING_UNIT:
        return t._("Each number needs its unit, for example: 1 sào 5 thước.")
    if code is ErrorCode.REPEATED_UNIT:
        return t._("The same unit appears twice.")
    if code is ErrorCode.INVALID_DATE:
        return t._("There is no such day in the calendar.")
    if code is ErrorCode.FUTURE_DATE:
        when = d.get("date")
        shown = format_date(when) if isinstance(when, date) else str(when)
        return t._("The date {date} is in the future.", date=shown)
    if code is ErrorCode.DATE_TOO_OLD:
        return t._("That date is too long ago.")
    # unreadable, malformed_number, unexpected_word
    return t._("I could not read that.")
