"""From claimed deliveries to ``Outgoing`` messages: who receives them and the template context.

Loads everything a batch needs in a few queries (not one per delivery) and fills the context
variables documented in templates/README.md. The survey token appears only inside
``survey_link``; it is never put anywhere else.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from storage.campaign_file import Policy
from storage.channel import Outgoing, Recipient
from storage.models import Campaign, Contact, ContactRole, Delivery, Respondent
from storage.phones import format_national


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
    session: AsyncSession, deliveries: Sequence[Delivery], *, now: datetime
) -> list[Outgoing]:
    """One Outgoing per delivery, in the same order."""
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
            )
            context |= {
                "recipient_name": person.full_name,
                "recipient_position": person.position or "",
                "unit_name": person.unit.name,
                "group_name": person.group.name,
                "survey_link": survey_link(campaign, person),
            }
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
