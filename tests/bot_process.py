"""`danvan` as a real subprocess, with its log read as it is written (so tests can wait for a
line, and a chatty DEBUG log never fills the pipe)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from tests.harness import TOKEN

WEBHOOK_SECRET = "s3cret-Webhook_value-42"
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def bot_env(api_url: str, database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CI")}
    env.update(
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_URL=api_url,
        DATABASE_URL=database_url,
        DEFAULT_LANGUAGE="vi",
        PTB_TIMEDELTA="true",
    )
    env.update(extra)
    return env


async def poll(
    check: Callable[[], Awaitable[T | None]],
    *,
    what: str,
    timeout: float = 45.0,  # noqa: ASYNC109 - a process starts slowly on a busy machine
    process: asyncio.subprocess.Process | None = None,
) -> T:
    """Re-check an outside observation (a database query, an HTTP endpoint) until it is
    truthy, within `timeout`; fails early if `process` exits meanwhile."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await check()
        if value:
            return value
        if process is not None and process.returncode is not None:
            raise AssertionError(f"the process exited ({process.returncode}) before {what}")
        if loop.time() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def danvan(cwd: Path, env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """Run one `danvan` command to the end; returns its status, stdout and stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


class BotProcess:
    """`danvan run [args]` in `cwd` with `env`."""

    def __init__(self, cwd: Path, env: dict[str, str], *args: str) -> None:
        self.cwd = cwd
        self.env = env
        self.args = args
        self.lines: list[str] = []
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._new_line = asyncio.Event()

    @property
    def log(self) -> str:
        return "".join(self.lines)

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    async def start(self) -> BotProcess:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.cli",
            "run",
            *self.args,
            cwd=self.cwd,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        while line := await self._process.stdout.readline():
            self.lines.append(line.decode(errors="replace"))
            self._new_line.set()
            self._new_line = asyncio.Event()
        self._new_line.set()

    async def wait_log(self, needle: str, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        async def seen() -> None:
            while needle not in self.log:
                assert self._reader is not None
                if self._reader.done():
                    raise AssertionError(f"the bot exited before logging {needle!r}:\n{self.log}")
                await self._new_line.wait()

        try:
            await asyncio.wait_for(seen(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"no {needle!r} in the log after {timeout} s:\n{self.log}"
            ) from None

    def signal(self, signum: signal.Signals) -> None:
        assert self._process is not None
        if self._process.returncode is None:
            self._process.send_signal(signum)

    async def wait(self, timeout: float = 30.0) -> int:  # noqa: ASYNC109
        assert self._process is not None and self._reader is not None
        status = await asyncio.wait_for(self._process.wait(), timeout)
        await self._reader
        return status

    async def stop(self) -> int:
        """SIGTERM, then the exit status."""
        self.signal(signal.SIGTERM)
        return await self.wait()

    async def kill(self) -> None:
        self.signal(signal.SIGKILL)
        await self.wait()
