"""From claimed deliveries to ``Outgoing`` messages: who receives them and the template context.

Loads everything a batch needs in a few queries (not one per delivery) and fills the context
variables documented in templates/README.md. The survey token appears only inside
``survey_link``; it is never put anywhere else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from bot.linking import invitation_code
from storage.campaign_file import Policy
from storage.channel import Outgoing, Recipient
from storage.models import Campaign, ChatIdentity, Contact, ContactRole, Delivery, Respondent
from storage.phones import format_national


@dataclass(frozen=True, slots=True)
class ChatInvite:
    """What an invitation needs to offer the chat bots: the key each person's one-time link
    code is derived from (so nothing is stored until it is used), and the Telegram bot's
    username for a t.me deep link (None when only Zalo is offered)."""

    secret: bytes
    telegram_username: str | None = None

    def __repr__(self) -> str:
        return f"ChatInvite(telegram_username={self.telegram_username!r})"


def survey_link(campaign: Campaign, respondent: Respondent) -> str:
    template = respondent.group.survey_url or campaign.survey_url
    return template.replace("{token}", respondent.token)


def _organiser(contacts: Sequence[Contact]) -> Contact | None:
    return next((c for c in contacts if c.role == ContactRole.ORGANISER), None)


def campaign_context(
    campaign: Campaign, organiser: Contact | None, now: datetime
) -> dict[str, Any]:
    policy = Policy.from_json(campaign.policy)
    return {
        "campaign_title": campaign.title,
        "campaign_code": campaign.code,
        "deadline": campaign.deadline,
        "timezone": campaign.timezone,
        "now": now,
        "reminders_max": policy.max_reminders,
        "organiser_name": organiser.full_name if organiser else "",
        "organiser_email": (organiser.email or "") if organiser else "",
        # Written the way people dial it: "0915 026 836", not E.164.
        "organiser_phone": format_national(organiser.phone)
        if organiser and organiser.phone
        else "",
    }


async def build_outgoing(
    session: AsyncSession,
    deliveries: Sequence[Delivery],
    *,
    now: datetime,
    chat_invite: ChatInvite | None = None,
) -> list[Outgoing]:
    """One Outgoing per delivery, in the same order. With ``chat_invite``, invitations carry
    the person's link code (and a Telegram deep link) to connect a chat."""
    respondent_ids = {d.respondent_id for d in deliveries if d.respondent_id is not None}
    contact_ids = {d.contact_id for d in deliveries if d.contact_id is not None}
    campaign_ids = {d.campaign_id for d in deliveries}
    respondents = {
        r.id: r
        for r in await session.scalars(
            select(Respondent)
            .where(Respondent.id.in_(respondent_ids))
            .options(selectinload(Respondent.unit), selectinload(Respondent.group))
        )
    }
    contacts = {
        c.id: c for c in await session.scalars(select(Contact).where(Contact.id.in_(contact_ids)))
    }
    campaigns = {
        c.id: c
        for c in await session.scalars(select(Campaign).where(Campaign.id.in_(campaign_ids)))
    }
    organisers = {
        cid: _organiser(
            (
                await session.scalars(
                    select(Contact)
                    .where(Contact.campaign_id == cid, Contact.role == ContactRole.ORGANISER)
                    .order_by(Contact.id)
                )
            ).all()
        )
        for cid in campaign_ids
    }
    shared = {cid: campaign_context(c, organisers[cid], now) for cid, c in campaigns.items()}
    # Linked chats that still reach their person (a chat marked gone is left out).
    person_chats: dict[int, dict[str, str]] = {}
    contact_chats: dict[int, dict[str, str]] = {}
    if respondent_ids or contact_ids:
        for rid, kid, chat_channel, chat_id in await session.execute(
            select(
                ChatIdentity.respondent_id,
                ChatIdentity.contact_id,
                ChatIdentity.channel,
                ChatIdentity.chat_id,
            )
            .where(
                ChatIdentity.campaign_id.in_(campaign_ids),
                ChatIdentity.gone_at.is_(None),
                ChatIdentity.respondent_id.in_(respondent_ids)
                | ChatIdentity.contact_id.in_(contact_ids),
            )
            .order_by(ChatIdentity.linked_at)
        ):
            if rid is not None:
                person_chats.setdefault(rid, {})[chat_channel] = chat_id
            if kid is not None:
                contact_chats.setdefault(kid, {})[chat_channel] = chat_id

    messages = []
    for delivery in deliveries:
        campaign = campaigns[delivery.campaign_id]
        context = {**shared[campaign.id], **delivery.payload}
        if delivery.respondent_id is not None:
            person = respondents[delivery.respondent_id]
            recipient = Recipient(
                full_name=person.full_name,
                email=person.email,
                phone=person.phone,
                position=person.position,
                unit=person.unit.name,
                respondent_id=person.id,
                chats=person_chats.get(person.id, {}),
            )
            context |= {
                "recipient_name": person.full_name,
                "recipient_position": person.position or "",
                "unit_name": person.unit.name,
                "group_name": person.group.name,
                "survey_link": survey_link(campaign, person),
            }
            if delivery.reason == "invitation":
                context |= _chat_offer(chat_invite, campaign.id, person.id)
        else:
            if delivery.contact_id is None:
                raise ValueError(f"delivery {delivery.id} has neither a respondent nor a contact")
            contact = contacts[delivery.contact_id]
            recipient = Recipient(
                full_name=contact.full_name,
                email=contact.email,
                phone=contact.phone,
                position=contact.position,
                contact_id=contact.id,
                chats=contact_chats.get(contact.id, {}),
            )
            context |= {
                "recipient_name": contact.full_name,
                "recipient_position": contact.position or "",
            }
        messages.append(
            Outgoing(
                delivery_id=delivery.id,
                dedupe_key=delivery.dedupe_key,
                reason=delivery.reason,
                campaign_code=campaign.code,
                recipient=recipient,
                context=context,
            )
        )
    return messages


def _chat_offer(invite: ChatInvite | None, campaign_id: int, respondent_id: int) -> dict[str, Any]:
    if invite is None:
        return {"link_code": None, "telegram_link": None}
    code = invitation_code(invite.secret, campaign_id, respondent_id)
    link = f"https://t.me/{invite.telegram_username}?start={code}"
    return {"link_code": code, "telegram_link": link if invite.telegram_username else None}
