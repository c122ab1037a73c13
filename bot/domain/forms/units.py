"""/donvi's chats, Telegram-free: finding a unit, and the admins' changes to the tree of units
(add a unit under one, rename, move, merge, deactivate, import a CSV file). The handler
(handlers/units_admin.py) starts them from a unit's card or the tree, gives the steps what they
need from the database in `env.extra` (its loaders), and makes the change when it is confirmed,
after checking everything again (storage/unit_admin.py, storage/units.py).

Each step refuses a bad answer with the reason, by the same rules storage checks again
(bot/domain/units.py), and asks again. Seeds: "unit", the id of the unit the change is about
(for an add, the unit the new one goes under).

What the loaders give (every key may be missing: a card or prompt then shows less):
- "unit": that unit as a `UnitOption` with its place (path, parent), None when it is no longer
  in the person's area;
- add: "taken" (the codes there are, lower-cased, to the code as stored) and "levels" (the
  levels to offer, those of the units beside it first);
- move and merge: "units" (the units it may go under or into, for the picker), "area" (every
  unit of the person's area with its place, so that a typed unit that cannot be chosen is
  refused with the reason), "target" (the chosen unit, read again), "parent" (its parent now,
  for a move) and "plan" (a `MergeOutline`, for a merge);
- deactivate: "plan" (a `DeactivationOutline`) or "problem" (why it cannot be done, worded);
- import: "known" (every unit by code, as `KnownUnit`s);
- find: "area" (the units of the person's area).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from bot.domain.flow import (
    Accept,
    Choice,
    Confirm,
    Draft,
    Env,
    Flow,
    Input,
    InputKind,
    Prompt,
    Reject,
    Step,
    StepResult,
    rows,
)
from bot.domain.formatting import escape_html, shorten
from bot.domain.forms.steps import MAX_CHOICE_TEXT, unit_step
from bot.domain.i18n import Translator
from bot.domain.unit_csv import (
    ImportPlan,
    KnownUnit,
    RowError,
    UnitRow,
    describe_row_error,
    parse_unit_csv,
    plan_rows,
)
from bot.domain.units import (
    PlacedUnit,
    UnitAdminError,
    UnitLike,
    UnitOption,
    check_code_free,
    check_merge,
    check_move,
    check_rename,
    clean_code,
    clean_level,
    clean_name,
    describe_problem,
    field_label,
    find_units,
)

MAX_CSV_BYTES = 1_000_000
MAX_CSV_LABEL = "1 MB"
PREVIEW_LINES = 5  # first lines shown of each kind of change in an import preview
PREVIEW_NAME = 80  # characters of a name in a preview line
ERRORS_SHOWN = 20
ERROR_LINE = 160  # characters of one problem of a file
TEXT_TYPES = frozenset({InputKind.TEXT})


# --- words shared with the handler's cards -----------------------------------------------------


def unit_label(unit: UnitLike) -> str:
    """ "Cung Nhượng 1 (CN1)", escaped for HTML."""
    return f"{escape_html(unit.name)} ({escape_html(unit.code)})"


def records_line(t: Translator, counts: Mapping[str, int]) -> str:
    return t._(
        "Records: {activities} activities, {land} land pledges, {workdays} workday entries, "
        "{nil} nil reports",
        activities=counts.get("activity", 0),
        land=counts.get("land_pledge", 0),
        workdays=counts.get("workday", 0),
        nil=counts.get("nil_report", 0),
    )


def problem_text(t: Translator, error: UnitAdminError) -> str:
    """Why not, escaped: a refused code is shown as typed."""
    return escape_html(describe_problem(t, error))


def expired(t: Translator) -> str:
    return t._("This card has expired.")


def _confirm_question(t: Translator) -> str:
    return t._("Press ✅ Confirm to make the change.")


def _confirm_label(t: Translator) -> str:
    return t._("✅ Confirm")


CHANGE_CONFIRM = Confirm(question=_confirm_question, save=_confirm_label, editable=False)


def _start(env: Env) -> UnitOption | None:
    """The unit the change is about, as it is now (None: no longer in the person's area)."""
    unit: UnitOption | None = env.extra.get("unit")
    return unit


def _start_label(env: Env) -> str:
    unit = _start(env)
    return unit_label(unit) if unit is not None else "—"


# --- finding a unit ------------------------------------------------------------------------


def _find_step() -> Step:
    picker = unit_step("unit", lambda t: t._("Unit"), lambda draft, env: "", options="area")

    def prompt(draft: Draft, env: Env) -> Prompt:
        return Prompt(env.t._("🔎 Which unit? Type its code or name."), accepts=TEXT_TYPES)

    return Step("unit", picker.label, prompt, picker.handle)


FIND = Flow(
    name="units_find",
    title=lambda t: t._("🔎 Find a unit"),
    steps=[_find_step()],
    confirm=None,
    cancel_button=True,
    back_out=True,
)


# --- adding a unit ---------------------------------------------------------------------------


def _code_step() -> Step:
    def prompt(draft: Draft, env: Env) -> Prompt:
        text = env.t._(
            "New unit under <b>{parent}</b>. Type its code: letters A-Z, digits, '-', '_' or "
            "'.', e.g. CN3.",
            parent=_start_label(env),
        )
        return Prompt(text, accepts=TEXT_TYPES)

    def handle(given: Input, draft: Draft, env: Env) -> StepResult:
        t = env.t
        if _start(env) is None:
            return Reject(expired(t))
        taken: Mapping[str, str] = env.extra.get("taken") or {}
        try:
            code = clean_code(given.value)
            check_code_free(taken.get(code.lower()))
        except UnitAdminError as error:
            return Reject(problem_text(t, error))
        return Accept({"code": code})

    return Step("code", lambda t: field_label(t, "code"), prompt, handle)


def _name_step() -> Step:
    def prompt(draft: Draft, env: Env) -> Prompt:
        code = escape_html(draft["answers"].get("code", ""))
        return Prompt(
            env.t._("Type the name of the new unit {code}.", code=code), accepts=TEXT_TYPES
        )

    def handle(given: Input, draft: Draft, env: Env) -> StepResult:
        try:
            name = clean_name(given.value)
        except UnitAdminError as error:
            return Reject(problem_text(env.t, error))
        # The levels offered next are kept with the draft, so a button means what it showed.
        return Accept({"name": name, "levels": list(env.extra.get("levels") or [])})

    return Step("name", lambda t: field_label(t, "name"), prompt, handle)


def _level_step() -> Step:
    def levels(draft: Draft) -> list[str]:
        offered: list[str] = draft["answers"].get("levels") or []
        return offered

    def prompt(draft: Draft, env: Env) -> Prompt:
        t = env.t
        name = escape_html(draft["answers"].get("name", ""))
        choices = [Choice(shorten(level, 40), f"lv{i}") for i, level in enumerate(levels(draft))]
        text = t._("What level is {name}? Tap one, or type another.", name=name)
        return Prompt(text, rows(choices, 2))

    def handle(given: Input, draft: Draft, env: Env) -> StepResult:
        offered = levels(draft)
        if given.kind is InputKind.CHOICE:
            index = given.value.removeprefix("lv")
            if not index.isdigit() or int(index) >= len(offered):
                return Reject(env.t._("Please choose one of the buttons."))
            return Accept({"level": offered[int(index)]})
        try:
            return Accept({"level": clean_level(given.value)})
        except UnitAdminError as error:
            return Reject(problem_text(env.t, error))

    return Step("level", lambda t: field_label(t, "level"), prompt, handle)


def _add_card(draft: Draft, env: Env) -> str:
    answers = draft["answers"]
    return env.t._(
        "Add <b>{name}</b> (code {code}, level {level}) under <b>{parent}</b>?",
        name=escape_html(answers.get("name", "")),
        code=escape_html(answers.get("code", "")),
        level=escape_html(answers.get("level", "")),
        parent=_start_label(env),
    )


ADD = Flow(
    name="unit_add",
    title=lambda t: t._("➕ Add a unit"),
    steps=[_code_step(), _name_step(), _level_step()],
    card=_add_card,
    confirm=Confirm(question=_confirm_question, save=_confirm_label, editable=True),
    cancel_button=True,
    back_out=True,
)


# --- renaming --------------------------------------------------------------------------------


def _new_name_step() -> Step:
    def prompt(draft: Draft, env: Env) -> Prompt:
        text = env.t._(
            "Type the new name of <b>{unit}</b>. The current name is kept as its former name, "
            "so it can still be found.",
            unit=_start_label(env),
        )
        return Prompt(text, accepts=TEXT_TYPES)

    def handle(given: Input, draft: Draft, env: Env) -> StepResult:
        unit = _start(env)
        if unit is None:
            return Reject(expired(env.t))
        try:
            return Accept({"name": check_rename(unit, given.value)})
        except UnitAdminError as error:
            return Reject(problem_text(env.t, error))

    return Step("name", lambda t: field_label(t, "name"), prompt, handle)


def _rename_card(draft: Draft, env: Env) -> str:
    return env.t._(
        "Rename <b>{old}</b> to <b>{new}</b>?",
        old=_start_label(env),
        new=escape_html(draft["answers"].get("name", "")),
    )


RENAME = Flow(
    name="unit_rename",
    title=lambda t: t._("✏️ Rename a unit"),
    steps=[_new_name_step()],
    card=_rename_card,
    confirm=CHANGE_CONFIRM,
    cancel_button=True,
    back_out=True,
)


# --- moving and merging: the other unit -------------------------------------------------------


def _by_id(units: Sequence[UnitOption], unit_id: object) -> UnitOption | None:
    return next((unit for unit in units if unit.id == unit_id), None)


def _target_step(
    question: Callable[[Draft, Env], str], check: Callable[[PlacedUnit, PlacedUnit], None]
) -> Step:
    """The unit picker (paged, or a typed code or name) over the units that fit ("units");
    a typed unit of the area that does not fit is refused with the reason `check` gives."""
    picker = unit_step("target", lambda t: t._("Unit"), question)

    def handle(given: Input, draft: Draft, env: Env) -> StepResult:
        t = env.t
        unit = _start(env)
        if unit is None:
            return Reject(expired(t))
        area: list[UnitOption] = env.extra.get("area") or []
        result = picker.handle(given, draft, env)
        try:
            if isinstance(result, Accept):
                chosen = _by_id(area, result.answers["target"])
                if chosen is None:
                    return Reject(expired(t))
                check(unit, chosen)
            elif (
                isinstance(result, Reject)
                and given.kind is InputKind.TEXT
                and len(given.value) <= MAX_CHOICE_TEXT
            ):
                found = find_units(given.value, area)
                if len(found) == 1:
                    check(unit, found[0])
        except UnitAdminError as error:
            return Reject(problem_text(t, error))
        return result

    return Step("target", picker.label, picker.prompt, handle, editable=False)


def _move_question(draft: Draft, env: Env) -> str:
    return env.t._(
        "Where should <b>{unit}</b> go? Choose its new parent unit.", unit=_start_label(env)
    )


def _target(env: Env) -> UnitOption | None:
    target: UnitOption | None = env.extra.get("target")
    return target


def _move_card(draft: Draft, env: Env) -> str:
    t = env.t
    target, parent = _target(env), env.extra.get("parent")
    if target is None:
        return "⚠️ " + expired(t)
    return t._(
        "Move <b>{unit}</b>, with everything under it, from <b>{old}</b> to <b>{new}</b>?",
        unit=_start_label(env),
        old=unit_label(parent) if parent is not None else "—",
        new=unit_label(target),
    )


MOVE = Flow(
    name="unit_move",
    title=lambda t: t._("↪️ Move a unit"),
    steps=[_target_step(_move_question, check_move)],
    card=_move_card,
    confirm=CHANGE_CONFIRM,
    cancel_button=True,
    back_out=True,
)


@dataclass(frozen=True)
class MergeOutline:
    """What a merge would move, counted (storage/unit_admin.py's `plan_merge`)."""

    records: Mapping[str, int]  # table name -> rows
    members: int
    invites: int
    units: int
    schedule: str  # "none", "moved" or "dropped"


def _merge_question(draft: Draft, env: Env) -> str:
    return env.t._("Merge <b>{unit}</b> into which unit?", unit=_start_label(env))


def merge_lines(t: Translator, source: UnitLike, target: UnitLike, plan: MergeOutline) -> list[str]:
    lines = [
        t._(
            "Merge <b>{source}</b> into <b>{target}</b>? Everything of {source} moves to {target}:",
            source=unit_label(source),
            target=unit_label(target),
        ),
        "• " + records_line(t, plan.records),
        "• "
        + t._(
            "members: {members}, invites: {invites}, units under it: {units}",
            members=plan.members,
            invites=plan.invites,
            units=plan.units,
        ),
    ]
    if plan.schedule == "moved":
        lines.append("• " + t._("its own reminder and digest times"))
    elif plan.schedule == "dropped":
        lines.append(
            "• "
            + t._(
                "its own reminder and digest times are dropped: {target} keeps its own",
                target=unit_label(target),
            )
        )
    lines.append(
        t._("Afterwards {source} is inactive. Nothing is deleted.", source=unit_label(source))
    )
    return lines


def _merge_card(draft: Draft, env: Env) -> str:
    t = env.t
    unit, target = _start(env), _target(env)
    plan: MergeOutline | None = env.extra.get("plan")
    if unit is None or target is None or plan is None:
        problem: str | None = env.extra.get("problem")
        return "⚠️ " + (problem or expired(t))
    return "\n".join(merge_lines(t, unit, target, plan))


MERGE = Flow(
    name="unit_merge",
    title=lambda t: t._("🔀 Merge a unit"),
    steps=[_target_step(_merge_question, check_merge)],
    card=_merge_card,
    confirm=CHANGE_CONFIRM,
    cancel_button=True,
    back_out=True,
)


# --- deactivating ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DeactivationOutline:
    """What deactivating would do (storage/unit_admin.py's `plan_deactivation`), counted."""

    members: int
    invites: int


def _deactivate_card(draft: Draft, env: Env) -> str:
    t = env.t
    plan: DeactivationOutline | None = env.extra.get("plan")
    if plan is None or _start(env) is None:
        problem: str | None = env.extra.get("problem")
        return "⚠️ " + (problem or expired(t))
    return t._(
        "Deactivate <b>{unit}</b>? Its records are kept. Its {members} active member(s) can "
        "no longer use the bot, and its {invites} open invite(s) are withdrawn.",
        unit=_start_label(env),
        members=plan.members,
        invites=plan.invites,
    )


DEACTIVATE = Flow(
    name="unit_deactivate",
    title=lambda t: t._("⛔ Deactivate the unit"),
    steps=[],
    card=_deactivate_card,
    confirm=CHANGE_CONFIRM,
    cancel_button=True,
    back_out=True,
)


# --- importing a CSV file --------------------------------------------------------------------


def error_lines(t: Translator, errors: Sequence[RowError]) -> list[str]:
    lines = [t._("Nothing was imported; fix these lines first:")]
    lines += [
        "• " + escape_html(shorten(describe_row_error(t, error), ERROR_LINE))
        for error in errors[:ERRORS_SHOWN]
    ]
    if len(errors) > ERRORS_SHOWN:
        lines.append(t._("…and {count} more", count=len(errors) - ERRORS_SHOWN))
    return lines


def too_big(t: Translator, name: str) -> str:
    return t._(
        "{file} is too big: a units file may have at most {limit}.",
        file=escape_html(shorten(name, PREVIEW_NAME)),
        limit=MAX_CSV_LABEL,
    )


def read_import(
    content: bytes, known: Mapping[str, KnownUnit]
) -> tuple[ImportPlan, list[RowError]]:
    """The file's plan against the units there are, and its problems (none: it may be
    applied)."""
    rows, errors = parse_unit_csv(content)
    plan = plan_rows(rows, known) if not errors else ImportPlan(rows=rows)
    return plan, errors or plan.errors


def _known(env: Env) -> Mapping[str, KnownUnit]:
    known: Mapping[str, KnownUnit] = env.extra.get("known") or {}
    return known


def _file_step() -> Step:
    def prompt(draft: Draft, env: Env) -> Prompt:
        text = env.t._(
            "📥 Send the units as a CSV file (code,name,level,parent_code, and former_name if "
            "you like), at most {limit}. Every line is checked before anything is imported.",
            limit=MAX_CSV_LABEL,
        )
        return Prompt(
            text,
            accepts=frozenset({InputKind.DOCUMENT, InputKind.CHOICE}),
            document_limit=MAX_CSV_BYTES,
        )

    def handle(given: Input, draft: Draft, env: Env) -> StepResult:
        t = env.t
        name = given.name or "units.csv"
        if given.kind is not InputKind.DOCUMENT:
            return Reject(t._("Please send the file as a document, or press a button."))
        if given.content is None:
            return Reject(too_big(t, name))
        plan, errors = read_import(given.content, _known(env))
        if errors:
            return Reject("\n".join(error_lines(t, errors)))
        if not plan.created and not plan.updated:
            return Reject(
                t._(
                    "Nothing to import: the {count} unit(s) in {file} are already up to date.",
                    count=len(plan.unchanged),
                    file=escape_html(shorten(name, PREVIEW_NAME)),
                )
            )
        return Accept({"file": name, "csv": given.content.decode("utf-8-sig")})

    return Step("file", lambda t: t._("File"), prompt, handle, editable=False)


def _row_line(t: Translator, row: UnitRow) -> str:
    line = (
        f"<code>{escape_html(row.code)}</code> {escape_html(shorten(row.name, PREVIEW_NAME))} "
        f"({escape_html(row.level)})"
    )
    if row.parent_code:
        line += " " + t._("under {parent}", parent=escape_html(row.parent_code))
    return line


def import_csv(draft: Draft) -> bytes:
    return str(draft["answers"].get("csv", "")).encode()


def _import_card(draft: Draft, env: Env) -> str:
    t = env.t
    plan, errors = read_import(import_csv(draft), _known(env))
    if errors:  # the units changed since the file was read: nothing will be imported
        return "⚠️ " + "\n".join(error_lines(t, errors))
    name = escape_html(shorten(str(draft["answers"].get("file", "")), PREVIEW_NAME))
    by_code = {row.code: row for row in plan.rows}
    lines = [t._("📥 Importing <b>{file}</b> would change this:", file=name)]
    for title, codes in (
        (t._("New units: {count}", count=len(plan.created)), plan.created),
        (t._("Changed units: {count}", count=len(plan.updated)), plan.updated),
    ):
        if not codes:
            continue
        lines += ["", f"<b>{title}</b>"]
        lines += ["• " + _row_line(t, by_code[code]) for code in codes[:PREVIEW_LINES]]
        if len(codes) > PREVIEW_LINES:
            lines.append(t._("…and {count} more", count=len(codes) - PREVIEW_LINES))
    if plan.unchanged:
        lines += ["", t._("Unchanged units: {count}", count=len(plan.unchanged))]
    return "\n".join(lines)


IMPORT = Flow(
    name="units_import",
    title=lambda t: t._("📥 Import units from a CSV file"),
    steps=[_file_step()],
    card=_import_card,
    confirm=Confirm(
        question=lambda t: t._("Import the whole file?"), save=_confirm_label, editable=False
    ),
    cancel_button=True,
    back_out=True,
)
