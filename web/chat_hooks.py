"""Zalo's webhooks (Bot Platform and Official Account) on the web service, when configured.

Zalo wants a quick 200: the request is checked (secret token or signature, in ``bot.zalo``),
acknowledged at once, and the messages are answered in the background by the same
conversations as every other chat. A refused request gets the status ``bot.zalo`` chose, and
the reason goes to the log without the secret.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Final, Protocol

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.incoming import Incoming
from bot.zalo.webhook import WebhookRejected

log = logging.getLogger(__name__)

MAX_BODY: Final = 256 * 1024
"""Zalo events are small; anything larger is refused before it is read."""


class ZaloWebhooks(Protocol):
    """What ``bot.zalo.service.ZaloService`` offers the web service."""

    def bot_webhook(self, headers: Mapping[str, str], body: bytes) -> list[Incoming]: ...

    def oa_webhook(self, headers: Mapping[str, str], body: bytes) -> list[Incoming]: ...

    async def handle(self, incoming: Incoming) -> bool: ...


Check = Callable[[Mapping[str, str], bytes], list[Incoming]]


def zalo_routes(zalo: ZaloWebhooks) -> list[Route]:
    """``POST /zalo/bot`` and ``POST /zalo/oa``: the addresses to give Zalo's consoles."""

    async def answer(messages: Sequence[Incoming]) -> None:
        for message in messages:
            try:
                await zalo.handle(message)
            except Exception:  # one message failing must not lose the others
                log.exception("Zalo webhook: answering a %s message failed", message.channel)

    async def receive(request: Request, check: Check) -> Response:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            return JSONResponse({"error": "request too large"}, status_code=413)
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"error": "request too large"}, status_code=413)
        try:
            messages = check(request.headers, body)
        except WebhookRejected as exc:
            log.warning("Zalo webhook refused (%d): %s", exc.status, exc.message_en)
            return JSONResponse({"error": exc.message_en}, status_code=exc.status)
        return JSONResponse({"ok": True}, background=BackgroundTask(answer, messages))

    async def bot(request: Request) -> Response:
        return await receive(request, zalo.bot_webhook)

    async def oa(request: Request) -> Response:
        return await receive(request, zalo.oa_webhook)

    return [
        Route("/zalo/bot", bot, methods=["POST"]),
        Route("/zalo/oa", oa, methods=["POST"]),
    ]
