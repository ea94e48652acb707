"""The email channel: render, compose and send one ``Outgoing`` through the SMTP pool.

``EmailChannel`` is what the dispatcher holds under the name "email" (``storage.channel``'s
contract). Its receipt is the mail's Message-ID, which the IMAP watcher later finds again in
bounces and replies. Everything that goes wrong comes out as a ``ChannelError`` subclass.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2

from mail.compose import AddressError, check_address, compose
from mail.config import MailIdentity
from mail.smtp import SmtpSender
from mail.templates import Templates
from storage.channel import Outgoing, PermanentError, Receipt, RecipientGone

log = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class EmailChannel:
    """Sends one personalised mail per ``Outgoing``; a ``storage.channel.Channel``."""

    name = "email"

    def __init__(
        self,
        sender: SmtpSender,
        identity: MailIdentity,
        *,
        template_dirs: Mapping[str, Path] | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        """``template_dirs`` maps a campaign code to the folder of its own templates."""
        check_address(identity.from_address)  # a bad setting fails at start, not per message
        self.sender = sender
        self.identity = identity
        self._template_dirs = dict(template_dirs or {})
        self._templates: dict[str | None, Templates] = {}
        self._clock = clock

    def templates_for(self, campaign_code: str) -> Templates:
        folder = self._template_dirs.get(campaign_code)
        key = campaign_code if folder is not None else None
        if key not in self._templates:
            self._templates[key] = Templates(folder)
        return self._templates[key]

    def context_for(self, message: Outgoing) -> dict[str, Any]:
        """The dispatcher's context, completed with what this channel knows itself."""
        recipient = message.recipient
        return {
            "sender_name": self.identity.from_name,
            "recipient_name": recipient.full_name,
            "recipient_position": recipient.position or "",
            "unit_name": recipient.unit or "",
            **message.context,
        }

    async def send(self, message: Outgoing) -> Receipt:
        person = message.recipient.full_name
        if not message.recipient.email:
            raise RecipientGone(
                f"delivery {message.delivery_id}: {person} has no email address",
                message_vi=f"Đồng chí {person} chưa có địa chỉ thư điện tử.",
            )
        try:
            rendered = self.templates_for(message.campaign_code).render(
                message.reason, self.context_for(message)
            )
        except jinja2.TemplateError as exc:
            # The same context fails the same way on every try.
            raise PermanentError(
                f"template for {message.reason!r} failed: {type(exc).__name__}: {exc}",
                message_vi=f"Mẫu thư «{message.reason}» lỗi: {exc}. Chạy lại kiểm tra mẫu thư.",
            ) from exc
        try:
            mail = compose(message, rendered, self.identity, now=self._clock())
        except AddressError as exc:
            raise PermanentError(
                str(exc),
                message_vi=f"Địa chỉ thư của đồng chí {person} không hợp lệ: "
                f"{message.recipient.email}.",
            ) from exc
        reply = await self.sender.send(mail.envelope_from, mail.recipient, mail.data)
        log.debug("delivery %d accepted as %s: %s", message.delivery_id, mail.message_id, reply)
        return Receipt(provider_id=mail.message_id)

    async def aclose(self) -> None:
        await self.sender.aclose()
