"""Each incoming update handled once: a row in ``chat_updates`` claims it.

The Zalo Bot Platform's ``getUpdates`` has no offset, so updates already delivered come back on
later polls, and both Zalo webhooks retry deliveries. The unique (channel, update_key) row is
written before the update is handled, so an update reaches the conversations at most once,
across restarts and across processes: losing one answer to a crash mid-handling is better than
sending a person the same answer twice.

The conversations may keep their own record of the same update under its plain key, so the
runner's claim is kept under ``PREFIX`` + key: the two records never collide.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.incoming import Incoming
from storage.models import ChatUpdate

PREFIX = "recv:"


async def claim(
    sessions: async_sessionmaker[AsyncSession], incoming: Incoming, now: datetime
) -> bool:
    """Record ``incoming`` as handled; ``False`` when it already was."""
    try:
        async with sessions() as session, session.begin():
            session.add(
                ChatUpdate(
                    channel=incoming.channel,
                    update_key=(PREFIX + incoming.update_key)[:200],
                    received_at=now,
                )
            )
    except IntegrityError:
        return False
    return True
