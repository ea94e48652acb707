"""A chat that no longer reaches its person: marked gone, so email takes over.

The messenger says so when a send fails (bot blocked, chat not found: the dispatcher's
``RecipientGone``) or on its own (Telegram's ``my_chat_member`` update with status "kicked").
A gone chat is left out of ``Recipient.chats`` and of channel choice; the next planning pass
queues the person's reminder by email. The person writing again revives it (``bot.access``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.channel import RecipientGone
from storage.models import ChatIdentity, Delivery, Event

CHAT_CHANNELS = frozenset({"telegram", "zalo_bot", "zalo_oa"})


async def mark_chat_gone(
    session: AsyncSession, channel: str, chat_id: str, now: datetime, *, why: str
) -> int:
    """Mark every live link of one chat gone; returns how many. The caller commits."""
    identities = list(
        await session.scalars(
            select(ChatIdentity).where(
                ChatIdentity.channel == channel,
                ChatIdentity.chat_id == chat_id,
                ChatIdentity.gone_at.is_(None),
            )
        )
    )
    for identity in identities:
        identity.gone_at = now
        session.add(
            Event(
                campaign_id=identity.campaign_id,
                respondent_id=identity.respondent_id,
                contact_id=identity.contact_id,
                kind="chat_gone",
                actor=f"{channel}:{chat_id}",
                at=now,
                data={"why": why},
            )
        )
    await session.flush()
    return len(identities)


async def delivery_chat_gone(
    session: AsyncSession, delivery: Delivery, error: RecipientGone, now: datetime
) -> None:
    """The dispatcher's ``on_gone`` for chat channels: the delivery's person's chat is gone."""
    if delivery.channel not in CHAT_CHANNELS:
        return
    owner = (
        ChatIdentity.respondent_id == delivery.respondent_id
        if delivery.respondent_id is not None
        else ChatIdentity.contact_id == delivery.contact_id
    )
    chats = (
        await session.scalars(
            select(ChatIdentity.chat_id).where(
                owner,
                ChatIdentity.channel == delivery.channel,
                ChatIdentity.campaign_id == delivery.campaign_id,
                ChatIdentity.gone_at.is_(None),
            )
        )
    ).all()
    for chat_id in chats:
        await mark_chat_gone(session, delivery.channel, chat_id, now, why=error.detail)
