"""Mail a sign-in link now, straight to the organiser's SMTP server.

Not through the outbox: the link is a secret that must not sit in a delivery row, and the person
is waiting at the screen, not at eight tomorrow morning. The message is composed like every other
mail (``mail.compose``: a signed Reply-To naming the contact, a Message-ID of its own) from the
``sign_in`` templates.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Final, Protocol

from mail.compose import compose
from mail.config import MailIdentity
from mail.smtp import SmtpSender
from mail.templates import Rendered, make_environment
from storage.channel import Outgoing, Recipient
from web.auth import LOGIN_TTL, Issued

SEND_TIMEOUT: Final = 30.0


class SignInMailer(Protocol):
    async def send(self, issued: Issued, link: str, now: datetime) -> None:
        """Mail ``link`` to the contact; raises storage.channel.ChannelError on failure."""
        ...


class SmtpSignInMailer:
    """Sign-in links through an ``SmtpSender`` (its own pool and rate limit)."""

    def __init__(self, sender: SmtpSender, identity: MailIdentity) -> None:
        self.sender = sender
        self.identity = identity
        self._env = make_environment()

    def render(self, issued: Issued, link: str) -> Rendered:
        context = {
            "recipient_name": issued.contact.full_name,
            "campaign_title": issued.campaign.title,
            "campaign_code": issued.campaign.code,
            "sender_name": self.identity.from_name,
            "sign_in_link": link,
            "minutes": int(LOGIN_TTL.total_seconds() // 60),
        }
        subject = self._env.get_template("sign_in.subject.j2").render(context)
        text = self._env.get_template("sign_in.txt.j2").render(context)
        html = self._env.get_template("sign_in.html.j2").render(context)
        return Rendered(" ".join(subject.split()), text.strip() + "\n", html.strip() + "\n")

    async def send(self, issued: Issued, link: str, now: datetime) -> None:
        contact = issued.contact
        outgoing = Outgoing(
            delivery_id=0,
            # Unique per link, so each mail has its own Message-ID; holds no part of the token.
            dedupe_key=f"sign_in:{contact.id}:{now.timestamp()}",
            reason="sign_in",
            campaign_code=issued.campaign.code,
            recipient=Recipient(
                full_name=contact.full_name, email=contact.email, contact_id=contact.id
            ),
            context={"timezone": issued.campaign.timezone},
        )
        composed = compose(outgoing, self.render(issued, link), self.identity, now=now)
        async with asyncio.timeout(SEND_TIMEOUT):
            await self.sender.send(composed.envelope_from, composed.recipient, composed.data)
