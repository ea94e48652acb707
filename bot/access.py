"""Who a chat speaks for, and what they may see: the one place scope is decided.

A chat linked to a respondent sees only that person's own link and status; one linked to a
unit focal point or unit head sees the units in their scope; an organiser, an IT focal point and
any contact marked ``all_units`` see the whole campaign. Every command asks ``units_for`` and
gets either unit ids or a refusal, never a wider view.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from storage.models import (
    Campaign,
    CampaignState,
    ChatIdentity,
    Contact,
    ContactRole,
    ContactUnit,
    Respondent,
    Unit,
)
from storage.text import fold

Role = Literal["organiser", "focal", "respondent"]


@dataclass(frozen=True, slots=True)
class Speaker:
    """The person behind a linked chat, in one campaign."""

    campaign: Campaign
    identity: ChatIdentity
    role: Role
    respondent: Respondent | None
    contact: Contact | None
    unit_ids: frozenset[int] | None
    """The units this person may see; None means every unit of the campaign."""

    @property
    def name(self) -> str:
        if self.contact is not None:
            return self.contact.full_name
        if self.respondent is not None:
            return self.respondent.full_name
        return ""


@dataclass(frozen=True, slots=True)
class Refusal:
    """A unit the speaker asked about but may not see (or that does not exist)."""

    asked: str


async def speaker_for(
    session: AsyncSession, channel: str, chat_id: str, now: datetime
) -> Speaker | None:
    """The person a chat is linked to (the latest link to a campaign not closed), or None."""
    identity = await session.scalar(
        select(ChatIdentity)
        .join(Campaign, Campaign.id == ChatIdentity.campaign_id)
        .where(
            ChatIdentity.channel == channel,
            ChatIdentity.chat_id == chat_id,
            Campaign.state != CampaignState.CLOSED,
        )
        .order_by(ChatIdentity.linked_at.desc(), ChatIdentity.id.desc())
        .limit(1)
    )
    if identity is None:
        return None
    # The person wrote to us, so the chat reaches them again whatever a send said earlier.
    identity.last_seen_at = now
    identity.gone_at = None
    campaign = await session.get(Campaign, identity.campaign_id)
    if campaign is None:
        return None
    if identity.contact_id is not None:
        contact = await session.get(Contact, identity.contact_id)
        if contact is None:
            return None
        sees_all = contact.all_units or contact.role in (
            ContactRole.ORGANISER,
            ContactRole.IT_FOCAL,
        )
        units: frozenset[int] | None = None
        if not sees_all:
            units = frozenset(
                await session.scalars(
                    select(ContactUnit.unit_id).where(ContactUnit.contact_id == contact.id)
                )
            )
        role: Role = "organiser" if contact.role == ContactRole.ORGANISER else "focal"
        return Speaker(campaign, identity, role, None, contact, units)
    if identity.respondent_id is not None:
        person = await session.scalar(
            select(Respondent)
            .where(Respondent.id == identity.respondent_id)
            .options(selectinload(Respondent.unit), selectinload(Respondent.group))
        )
        if person is None:
            return None
        return Speaker(campaign, identity, "respondent", person, None, frozenset({person.unit_id}))
    return None


async def units_for(
    session: AsyncSession, speaker: Speaker, asked: str | None
) -> list[int] | Refusal | None:
    """The unit ids a query may cover: the speaker's scope, narrowed to ``asked`` (a unit's
    code or name, diacritics optional). None means every unit (organisers asking for all)."""
    if asked is None or not asked.strip():
        return None if speaker.unit_ids is None else sorted(speaker.unit_ids)
    wanted = fold(asked)
    rows = (
        await session.execute(
            select(Unit.id, Unit.code, Unit.name).where(Unit.campaign_id == speaker.campaign.id)
        )
    ).all()
    found = [uid for uid, code, name in rows if fold(code) == wanted or fold(name) == wanted]
    if not found:
        found = [uid for uid, _code, name in rows if wanted and wanted in fold(name)]
    if speaker.unit_ids is not None:
        found = [uid for uid in found if uid in speaker.unit_ids]
    # An unknown unit and a unit outside the scope get the same answer: the refusal says
    # nothing about which units exist elsewhere.
    if not found:
        return Refusal(asked.strip())
    return sorted(found)
