"""Webhook delivery for the fake Bot API, as Telegram does it: each pending update is POSTed as
JSON to the registered URL with the secret-token header, and retried until it gets a 2xx.

The registered URL is public https; `route` is where the reverse proxy in front of the bot
listens (e.g. http://127.0.0.1:8443), and the URL's path is kept, as a proxy would.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import aiohttp

if TYPE_CHECKING:
    from .server import FakeBotAPI

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
RETRY_SECONDS = 0.05
MAX_RETRY_SECONDS = 1.0


@dataclass
class Delivery:
    update_id: int
    status: int | None  # None: the connection failed
    error: str = ""


class WebhookDelivery:
    def __init__(self, fake: FakeBotAPI, route: str) -> None:
        self.fake = fake
        self.route = route.rstrip("/")
        self.attempts: list[Delivery] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _target(self) -> str:
        return self.route + (urlsplit(self.fake.webhook_url).path or "/")

    async def _run(self) -> None:
        delay = RETRY_SECONDS
        async with aiohttp.ClientSession() as client:
            while True:
                changed = self.fake.changed_event()
                pending = self.fake.pending_webhook_update()
                if pending is None:
                    await changed.wait()
                    continue
                update_id, payload = pending
                headers = {}
                if self.fake.webhook_secret:
                    headers[SECRET_HEADER] = self.fake.webhook_secret
                try:
                    async with client.post(self._target(), json=payload, headers=headers) as reply:
                        await reply.read()
                        self.attempts.append(Delivery(update_id, reply.status))
                        delivered = 200 <= reply.status < 300
                except aiohttp.ClientError as exc:
                    self.attempts.append(Delivery(update_id, None, type(exc).__name__))
                    delivered = False
                if delivered:
                    self.fake.webhook_delivered(update_id)
                    delay = RETRY_SECONDS
                    continue
                # Telegram backs off too; the next try is what tests wait for.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.fake.closing_event().wait(), delay)
                delay = min(delay * 2, MAX_RETRY_SECONDS)
