"""The Zalo channels the dispatcher holds: "zalo_bot", "zalo_oa" and (when enabled) "zalo_zns".

Each takes an ``Outgoing``, renders it with the injected renderer (the chat templates live with
the conversations, not here), sends it to ``recipient.chats[<channel name>]`` (or, for ZNS, to
the person's phone) at the configured pace, and returns the provider's message id or raises a
``storage.channel`` error. Text longer than Zalo's 2,000 characters goes as several messages;
the receipt is the first one's id.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from bot.incoming import Reply
from bot.pacer import SendPacer
from bot.zalo.bot_platform import ZaloBotClient
from bot.zalo.messages import render_reply, split_text
from bot.zalo.official_account import ZaloOAClient
from bot.zalo.zns import ZnsClient, zns_phone
from storage.channel import Outgoing, PermanentError, Receipt, RecipientGone

log = logging.getLogger(__name__)

Renderer = Callable[[Outgoing], Reply]
"""Turns an outgoing message into the chat text (and buttons) for its reason."""
TemplateData = Callable[[Outgoing], Mapping[str, str]]
"""Turns an outgoing message into a ZNS template's parameters."""


def _render(renderer: Renderer, message: Outgoing, channel: str) -> str:
    try:
        reply = renderer(message)
    except Exception as exc:
        # The same message renders the same way on every try.
        raise PermanentError(
            f"{channel}: rendering {message.reason!r} failed: {type(exc).__name__}: {exc}",
            message_vi=f"Mẫu tin «{message.reason}» lỗi: {exc}.",
        ) from exc
    return render_reply(reply)


def _chat(message: Outgoing, channel: str) -> str:
    chat_id = message.recipient.chats.get(channel)
    if not chat_id:
        raise RecipientGone(
            f"delivery {message.delivery_id}: no {channel} chat linked",
            message_vi=f"Đồng chí {message.recipient.full_name} chưa liên kết Zalo.",
        )
    return chat_id


class ZaloBotChannel:
    """Messages through the Zalo Bot Platform; a ``storage.channel.Channel``."""

    name = "zalo_bot"

    def __init__(self, client: ZaloBotClient, renderer: Renderer, *, pacer: SendPacer) -> None:
        self.client = client
        self.renderer = renderer
        self.pacer = pacer

    async def send_text(self, chat_id: str, text: str) -> list[str]:
        """Send ``text`` in as many messages as it needs; their ids."""
        ids = []
        for part in split_text(text):
            await self.pacer.wait(chat_id)
            ids.append(await self.client.send_message(chat_id, part))
        return ids

    async def send(self, message: Outgoing) -> Receipt:
        chat_id = _chat(message, self.name)
        ids = await self.send_text(chat_id, _render(self.renderer, message, self.name))
        if not ids:
            raise PermanentError(f"delivery {message.delivery_id}: the rendered text is empty")
        return Receipt(provider_id=ids[0])

    async def aclose(self) -> None:
        await self.client.aclose()


class ZaloOAChannel:
    """Customer-service messages through a Zalo Official Account; a ``Channel``."""

    name = "zalo_oa"

    def __init__(self, client: ZaloOAClient, renderer: Renderer, *, pacer: SendPacer) -> None:
        self.client = client
        self.renderer = renderer
        self.pacer = pacer

    async def send_text(self, user_id: str, text: str) -> list[str]:
        ids = []
        for part in split_text(text):
            await self.pacer.wait(user_id)
            ids.append(await self.client.send_text(user_id, part))
        return ids

    async def send(self, message: Outgoing) -> Receipt:
        user_id = _chat(message, self.name)
        ids = await self.send_text(user_id, _render(self.renderer, message, self.name))
        if not ids:
            raise PermanentError(f"delivery {message.delivery_id}: the rendered text is empty")
        return Receipt(provider_id=ids[0])

    async def aclose(self) -> None:
        await self.client.aclose()


class ZnsChannel:
    """Approved ZNS templates to the person's phone; only built when ZNS is enabled."""

    name = "zalo_zns"

    def __init__(
        self,
        client: ZnsClient,
        template_data: TemplateData,
        *,
        templates: Mapping[str, str],
        pacer: SendPacer,
    ) -> None:
        self.client = client
        self.template_data = template_data
        self.templates = dict(templates)
        self.pacer = pacer

    async def send(self, message: Outgoing) -> Receipt:
        template_id = self.templates.get(message.reason)
        if template_id is None:
            raise PermanentError(
                f"delivery {message.delivery_id}: no ZNS template for {message.reason!r}",
                message_vi=f"Chưa khai báo mẫu ZNS cho loại tin «{message.reason}» "
                "(biến DONDOC_ZALO_ZNS_TEMPLATES).",
            )
        if not message.recipient.phone:
            raise RecipientGone(
                f"delivery {message.delivery_id}: no phone number",
                message_vi=f"Đồng chí {message.recipient.full_name} chưa có số điện thoại.",
            )
        try:
            data = self.template_data(message)
        except Exception as exc:
            raise PermanentError(
                f"zalo_zns: template data for {message.reason!r} failed: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        phone = zns_phone(message.recipient.phone)  # a bad number does not use up a slot
        await self.pacer.wait()
        msg_id = await self.client.send_template(
            phone,
            template_id,
            data,
            tracking_id=f"dondoc-{message.delivery_id}",
        )
        return Receipt(provider_id=msg_id)

    async def aclose(self) -> None:
        await self.client.aclose()
