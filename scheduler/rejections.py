"""What the dispatcher does when a channel says the recipient is gone.

For email, a server that refuses the address while we send (550 5.1.1 at RCPT) means the same
as a bounce that comes back later: the mail package's bounce handling marks the address bad and
alerts the people who can fix it. Other channels (chat) hand over here as they land.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from mail.inbound import apply_rejection
from storage.channel import RecipientGone
from storage.models import Delivery

_STATUS = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")


async def recipient_gone(
    session: AsyncSession, delivery: Delivery, error: RecipientGone, now: datetime
) -> None:
    if delivery.channel != "email" or delivery.respondent_id is None:
        return
    match = _STATUS.search(error.detail)
    await apply_rejection(
        session,
        delivery.respondent_id,
        status=match.group(1) if match else None,
        detail=error.detail,
        now=now,
    )
