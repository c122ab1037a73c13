"""What every `danvan` command shares: exit statuses, the one-line error, JSON output, and the
database each command opens (migrated first)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn

from bot.settings import Settings
from storage.engine import Database
from storage.migrate import upgrade

CLI_ACTOR = "cli"
EXIT_ERROR = 1
EXIT_USAGE = 2


class CliError(Exception):
    """A problem to print as one line, with the exit status to use."""

    def __init__(self, message: str, status: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.status = status


def print_json(data: object) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def database(settings: Settings) -> Database:
    return Database(settings.database_url)


async def with_db(settings: Settings, work: Callable[[Database], Coroutine[Any, Any, int]]) -> int:
    await upgrade(settings.database_url)
    db = database(settings)
    try:
        return await work(db)
    finally:
        await db.dispose()


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        print(f"danvan: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value
