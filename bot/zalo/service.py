"""Everything Zalo, built from the settings in one object: channels for the dispatcher, a poller
and webhook handlers for incoming messages.

The daemon builds one ``ZaloService`` from ``Settings.zalo``, adds ``service.channels`` to the
dispatcher's channel mapping, runs ``await service.run(stop)`` next to its other workers, and
calls ``await service.aclose()`` on the way out. A web route hands a webhook request to
``service.bot_webhook(headers, body)`` or ``service.oa_webhook(headers, body)``; they check it
and return the messages, which the route answers through ``service.handle`` in the background.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.incoming import Conversations, Incoming
from bot.pacer import Clock as PaceClock
from bot.pacer import SendPacer, Sleep
from bot.zalo.bot_platform import ZaloBotClient
from bot.zalo.channel import Renderer, TemplateData, ZaloBotChannel, ZaloOAChannel, ZnsChannel
from bot.zalo.config import ZaloConfig
from bot.zalo.official_account import ZaloOAClient
from bot.zalo.runner import Responder, ZaloBotRunner
from bot.zalo.tokens import OATokens
from bot.zalo.webhook import WebhookRejected, bot_webhook, oa_webhook
from bot.zalo.zns import ZnsClient
from storage.channel import Channel, Outgoing
from storage.models import utcnow

log = logging.getLogger(__name__)


def default_template_data(message: Outgoing) -> dict[str, str]:
    """ZNS parameters: the person's name as ``ho_ten`` plus every plain value of the context.

    An approved template names its own parameters; they must be among these keys.
    """
    data = {
        key: str(value)
        for key, value in message.context.items()
        if isinstance(value, str | int | float) and not isinstance(value, bool)
    }
    data.setdefault("ho_ten", message.recipient.full_name)
    return data


class ZaloService:
    """The Zalo channels and listeners configured in ``config`` (any of them may be absent)."""

    def __init__(
        self,
        config: ZaloConfig,
        sessions: async_sessionmaker[AsyncSession],
        conversations: Conversations,
        renderer: Renderer,
        *,
        template_data: TemplateData = default_template_data,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], datetime] = utcnow,
        repeat_pause: float = 1.0,
        pace_clock: PaceClock = time.monotonic,
        pace_sleep: Sleep = asyncio.sleep,
    ) -> None:
        """``transport`` replaces the network for every client; ``pace_clock`` and
        ``pace_sleep`` drive the send pacing (tests move time instead of waiting)."""

        def pacer(per_minute: int, per_chat_gap: float = 1.0) -> SendPacer:
            return SendPacer.per_minute(
                per_minute, per_chat_gap=per_chat_gap, clock=pace_clock, sleep=pace_sleep
            )

        self.config = config
        self.clock = clock
        self.channels: dict[str, Channel] = {}
        self.bot_channel: ZaloBotChannel | None = None
        self.bot_runner: ZaloBotRunner | None = None
        self.oa_channel: ZaloOAChannel | None = None
        self.oa_responder: Responder | None = None
        self.tokens: OATokens | None = None
        if (bot := config.bot) is not None:
            client = ZaloBotClient(
                bot.token, base_url=bot.base_url, transport=transport, timeout=bot.timeout
            )
            self.bot_channel = ZaloBotChannel(client, renderer, pacer=pacer(bot.per_minute))
            self.bot_runner = ZaloBotRunner(
                client,
                self.bot_channel,
                conversations,
                sessions,
                clock=clock,
                poll_timeout=bot.poll_timeout,
                repeat_pause=repeat_pause,
            )
            self.channels[ZaloBotChannel.name] = self.bot_channel
        if (oa := config.oa) is not None:
            self.tokens = OATokens(oa, sessions, transport=transport, clock=clock)
            oa_client = ZaloOAClient(
                self.tokens,
                base_url=oa.base_url,
                transport=transport,
                timeout=oa.timeout,
                clock=clock,
            )
            self.oa_channel = ZaloOAChannel(oa_client, renderer, pacer=pacer(oa.per_minute))
            self.oa_responder = Responder(self.oa_channel, conversations, sessions, clock=clock)
            self.channels[ZaloOAChannel.name] = self.oa_channel
            if oa.zns_enabled:
                zns = ZnsClient(oa, self.tokens, transport=transport, clock=clock)
                self.channels[ZnsChannel.name] = ZnsChannel(
                    zns,
                    template_data,
                    templates=oa.zns_templates,
                    pacer=pacer(oa.zns_per_minute, per_chat_gap=0.0),
                )

    @property
    def polls(self) -> bool:
        """Whether ``run`` polls the Bot Platform (not when a webhook secret is set)."""
        return self.bot_runner is not None and not (
            self.config.bot is not None and self.config.bot.webhook_secret
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Poll for bot messages until ``stop`` is set (or just wait, with webhooks only)."""
        if self.polls and self.bot_runner is not None:
            await self.bot_runner.run(stop)
        else:
            await stop.wait()

    def bot_webhook(self, headers: Mapping[str, str], body: bytes) -> list[Incoming]:
        bot = self.config.bot
        if bot is None or not bot.webhook_secret:
            raise WebhookRejected(404, "the Zalo bot webhook is not configured")
        return bot_webhook(headers, body, secret=bot.webhook_secret, now=self.clock())

    def oa_webhook(self, headers: Mapping[str, str], body: bytes) -> list[Incoming]:
        oa = self.config.oa
        if oa is None or not oa.oa_secret_key:
            raise WebhookRejected(404, "the Zalo OA webhook is not configured")
        return oa_webhook(
            headers, body, app_id=oa.app_id, oa_secret_key=oa.oa_secret_key, now=self.clock()
        )

    async def handle(self, incoming: Incoming) -> bool:
        """Answer one checked webhook message; whether it was new."""
        responder: Responder | None = (
            self.bot_runner if incoming.channel == ZaloBotChannel.name else self.oa_responder
        )
        if responder is None:
            raise ValueError(f"no Zalo responder for channel {incoming.channel!r}")
        return await responder.handle(incoming)

    async def __aenter__(self) -> ZaloService:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for channel in self.channels.values():
            await channel.aclose()
        if self.tokens is not None:
            await self.tokens.aclose()
