"""Webhook mode: a small aiohttp server behind the reverse proxy. Telegram POSTs each update to
WEBHOOK_URL's path with the secret in a header; GET /healthz answers for monitoring."""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from telegram import Update

from bot.services.health import HealthReport
from bot.settings import Settings

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
HEALTH_PATH = "/healthz"
MAX_UPDATE_BYTES = 1024 * 1024  # an update is a few KB; anything larger is not Telegram


class WebhookServer:
    def __init__(
        self,
        application: Any,
        settings: Settings,
        health: Callable[[], Awaitable[HealthReport]],
    ) -> None:
        if settings.webhook_secret is None:
            raise ValueError("WEBHOOK_SECRET is not set")
        self.application = application
        self.settings = settings
        self._secret = settings.webhook_secret.get_secret_value().encode()
        self._health = health
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_UPDATE_BYTES)
        app.router.add_post(self.settings.webhook_path, self._receive)
        app.router.add_get(HEALTH_PATH, self._report_health)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=30.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.listen_host, self.settings.listen_port)
        await site.start()

    async def stop(self) -> None:
        """Stop taking requests; requests in flight are answered first."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _receive(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self._secret):
            log.warning("Refused a webhook call without the right secret from %s", request.remote)
            return web.Response(status=403, text="Forbidden")
        try:
            data = await request.json()
            update = Update.de_json(data, self.application.bot)
        except (ValueError, TypeError, KeyError):
            log.warning("Refused a webhook call whose body is not an update")
            return web.Response(status=400, text="Bad Request")
        if update is None:
            return web.Response(status=400, text="Bad Request")
        # The inbox stores it before we answer 200, so Telegram's copy can go.
        await self.application.update_queue.put(update)
        return web.Response(status=200)

    async def _report_health(self, request: web.Request) -> web.Response:
        report = await self._health()
        return web.Response(
            status=200 if report.ok else 503,
            text=json.dumps(report.to_dict(), ensure_ascii=False),
            content_type="application/json",
        )
