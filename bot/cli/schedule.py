"""`danvan schedule show | set`: a unit's reminder and digest times, own or inherited, with the
rules of storage/schedules.py."""

from __future__ import annotations

import argparse
from datetime import datetime, time
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.cli.common import Refused, add_json, in_one_transaction, unit_by_code
from bot.domain.forms.schedule import MONTH_DAYS
from bot.domain.i18n import Translator
from bot.domain.periods import WEEKDAYS, weekday_name
from bot.domain.schedule import FIELDS, hhmm
from bot.settings import Settings
from storage import schedules
from storage.models import Unit, pk

INHERIT = "inherit"

Times = tuple[Unit, list[dict[str, Any]]]


def _value_json(value: object) -> object:
    return hhmm(value) if isinstance(value, time) else value


def _value_text(t: Translator, name: str, value: object) -> str:
    if isinstance(value, time):
        return hhmm(value)
    if name.endswith("_weekday") and isinstance(value, int):
        return weekday_name(t, value)
    if name.endswith("_day"):
        return t._("day {day} of the month", day=value)
    return str(value)


def parse_value(t: Translator, name: str, text: str) -> object:
    """The value typed for schedule field `name`; None for "inherit"."""
    text = text.strip()
    if text.lower() == INHERIT:
        return None
    if name.endswith("_weekday"):
        if text.isdigit() and int(text) < len(WEEKDAYS):
            return int(text)
        raise Refused(t._("{field} must be a weekday from 0 (Monday) to 6 (Sunday).", field=name))
    if name.endswith("_day"):
        if text.isdigit() and int(text) in MONTH_DAYS:
            return int(text)
        raise Refused(t._("{field} must be a day of the month from 1 to 28.", field=name))
    if name.endswith("_time"):
        hours, _, minutes = text.partition(":")
        if (
            hours.isdigit()
            and minutes.isdigit()
            and len(minutes) == 2
            and int(hours) <= 23
            and int(minutes) <= 59
        ):
            return time(int(hours), int(minutes))
        raise Refused(t._("{field} must be a time like 16:00.", field=name))
    raise Refused(t._("Unknown schedule field {field}.", field=name))


async def _times(session: AsyncSession, unit: Unit) -> Times:
    """Each field's effective value, and where it comes from: the code of the unit that sets
    it (the unit itself or an ancestor), or None for the default."""
    times = (await schedules.effective_times(session))[pk(unit)]
    chain: list[tuple[str, dict[str, Any] | None]] = []
    current: Unit | None = unit
    while current is not None:
        chain.append((current.code, await schedules.own_times(session, pk(current))))
        current = await session.get(Unit, current.parent_id) if current.parent_id else None
    rows = []
    for name in FIELDS:
        source = next((code for code, own in chain if own and own.get(name) is not None), None)
        rows.append(
            {"field": name, "value": times[name], "own": source == unit.code, "from": source}
        )
    return unit, rows


def _show(result: Times) -> object:
    unit, rows = result
    return {
        "unit": unit.code,
        "times": [row | {"value": _value_json(row["value"])} for row in rows],
    }


def _lines(t: Translator, header: str, rows: list[dict[str, Any]]) -> list[str]:
    out = [header]
    for row in rows:
        if row["own"]:
            source = t._("own")
        elif row["from"]:
            source = t._("inherited from {code}", code=row["from"])
        else:
            source = t._("default")
        value = _value_text(t, row["field"], row["value"])
        out.append(f"  {row['field']}: {value}  ({source})")
    return out


def cmd_schedule_show(settings: Settings, t: Translator, args: argparse.Namespace) -> int:
    async def work(session: AsyncSession, now: datetime) -> Times:
        return await _times(session, await unit_by_code(session, t, args.unit))

    def say(result: Times) -> list[str]:
        unit, rows = result
        header = t._("Reminder times of {unit} ({code}):", unit=unit.name, code=unit.code)
        return _lines(t, header, rows)

    return in_one_transaction(settings, args, work, _show, say)


def cmd_schedule_set(settings: Settings, t: Translator, args: argparse.Namespace) -> int:
    async def work(session: AsyncSession, now: datetime) -> Times:
        value = parse_value(t, args.field, args.value)
        unit = await unit_by_code(session, t, args.unit, active=True)
        await schedules.set_times(session, pk(unit), {args.field: value}, actor_id=None)
        await session.flush()
        return await _times(session, unit)

    def say(result: Times) -> list[str]:
        unit, rows = result
        header = t._("{code}: {field} is changed.", code=unit.code, field=args.field)
        return _lines(t, header, rows)

    return in_one_transaction(settings, args, work, _show, say)


def register(commands: argparse._SubParsersAction[Any]) -> None:
    group = commands.add_parser("schedule", help="reminder and digest times").add_subparsers(
        dest="schedule_command", required=True
    )
    show = group.add_parser("show", help="a unit's effective times, own or inherited")
    show.add_argument("unit", help="unit code")
    show.set_defaults(handler=cmd_schedule_show)
    set_ = group.add_parser("set", help="set one of a unit's times")
    set_.add_argument("unit", help="unit code")
    set_.add_argument("field", choices=FIELDS)
    set_.add_argument(
        "value",
        help="weekday 0-6 (Monday = 0), time HH:MM or day 1-28; 'inherit' clears it",
    )
    set_.set_defaults(handler=cmd_schedule_set)
    add_json(show, set_)
