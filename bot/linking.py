"""Linking a chat to a person with a one-time code: issued, typed (or deep-linked), used once.

Two kinds of code, both single use and both stored only as a keyed hash:

* **Invitation codes** ``<respondent id>-<10 letters>``: an HMAC under DONDOC_SECRET_KEY of the
  campaign and the person, so the mail that carries one needs nothing stored beforehand. It is
  valid until the campaign's deadline; the first use writes its hash to ``link_codes`` as used,
  which is what refuses it the second time.
* **Issued codes** ``c<12 letters>`` from ``dondoc contacts code``: random, shown once to the
  organiser, hashed in ``link_codes`` with an expiry.

Every code typed into a chat, right or wrong, is a ``link_attempts`` row; a chat that typed
``attempts_per_hour`` wrong codes in the last hour is refused without a look at the code, so
guessing 50-bit codes is hopeless.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import ChatRules
from storage.models import (
    Campaign,
    CampaignState,
    ChatIdentity,
    Event,
    LinkAttempt,
    LinkCode,
    Respondent,
)

Outcome = Literal["linked", "wrong", "used", "expired", "too_many"]

_INVITATION = re.compile(r"^(\d{1,12})-([a-z2-7]{10})$")
_ISSUED = re.compile(r"^c[a-z2-7]{12}$")


def _letters(raw: bytes, n: int) -> str:
    return base64.b32encode(raw).decode("ascii").lower()[:n]


def invitation_code(secret: bytes, campaign_id: int, respondent_id: int) -> str:
    """The code a respondent's mail carries; the same every time, so nothing is stored."""
    mac = hmac.new(secret, f"link:{campaign_id}:{respondent_id}".encode(), hashlib.sha256)
    return f"{respondent_id}-{_letters(mac.digest(), 10)}"


def new_issued_code() -> str:
    return "c" + _letters(secrets.token_bytes(10), 12)


def code_hash(secret: bytes, code: str) -> str:
    """What ``link_codes`` stores: keyed, so a copy of the database does not reveal codes."""
    return hmac.new(secret, f"code:{code}".encode(), hashlib.sha256).hexdigest()


def normalise_code(text: str) -> str:
    return text.strip().lower()


async def issue_code(
    session: AsyncSession,
    rules: ChatRules,
    campaign: Campaign,
    *,
    respondent_id: int | None = None,
    contact_id: int | None = None,
    issued_by: str,
    now: datetime,
) -> str:
    """A fresh random code for one person; returned once, only its hash is kept."""
    if (respondent_id is None) == (contact_id is None):
        raise ValueError("a code links exactly one respondent or one contact")
    code = new_issued_code()
    session.add(
        LinkCode(
            campaign_id=campaign.id,
            respondent_id=respondent_id,
            contact_id=contact_id,
            code_hash=code_hash(rules.secret, code),
            issued_by=issued_by,
            created_at=now,
            expires_at=now + rules.code_ttl,
        )
    )
    session.add(
        Event(
            campaign_id=campaign.id,
            respondent_id=respondent_id,
            contact_id=contact_id,
            kind="link_code_issued",
            actor=issued_by,
            at=now,
            data={"expires_at": (now + rules.code_ttl).isoformat()},
        )
    )
    await session.flush()
    return code


@dataclass(frozen=True, slots=True)
class LinkResult:
    outcome: Outcome
    identity: ChatIdentity | None = None


async def redeem(
    session: AsyncSession,
    rules: ChatRules,
    *,
    channel: str,
    chat_id: str,
    text: str,
    now: datetime,
    display_name: str | None = None,
) -> LinkResult:
    """Link ``chat_id`` to the person ``text`` is a code for, if it is one; the caller commits."""
    wrong = await session.scalar(
        select(func.count()).where(
            LinkAttempt.channel == channel,
            LinkAttempt.chat_id == chat_id,
            LinkAttempt.ok.is_(False),
            LinkAttempt.at > now - timedelta(hours=1),
        )
    )
    if (wrong or 0) >= rules.attempts_per_hour:
        return LinkResult("too_many")
    code = normalise_code(text)
    result = await _check(session, rules, code, channel=channel, chat_id=chat_id, now=now)
    session.add(LinkAttempt(channel=channel, chat_id=chat_id, at=now, ok=result[0] == "linked"))
    outcome, campaign_id, respondent_id, contact_id = result
    if outcome != "linked" or campaign_id is None:
        await session.flush()
        return LinkResult(outcome)
    identity = await session.scalar(
        select(ChatIdentity).where(
            ChatIdentity.campaign_id == campaign_id,
            ChatIdentity.channel == channel,
            ChatIdentity.chat_id == chat_id,
        )
    )
    if identity is None:
        identity = ChatIdentity(campaign_id=campaign_id, channel=channel, chat_id=chat_id)
        session.add(identity)
    identity.respondent_id = respondent_id
    identity.contact_id = contact_id
    identity.display_name = display_name
    identity.linked_at = now
    identity.last_seen_at = now
    identity.gone_at = None
    session.add(
        Event(
            campaign_id=campaign_id,
            respondent_id=respondent_id,
            contact_id=contact_id,
            kind="chat_linked",
            actor=f"{channel}:{chat_id}",
            at=now,
            data={"channel": channel},
        )
    )
    await session.flush()
    return LinkResult("linked", identity)


async def _check(
    session: AsyncSession, rules: ChatRules, code: str, *, channel: str, chat_id: str, now: datetime
) -> tuple[Outcome, int | None, int | None, int | None]:
    """(outcome, campaign, respondent, contact) for ``code``; uses the code when it is good."""
    hashed = code_hash(rules.secret, code)
    used_by = f"{channel}:{chat_id}"
    if _ISSUED.match(code):
        row = await session.scalar(select(LinkCode).where(LinkCode.code_hash == hashed))
        if row is None:
            return ("wrong", None, None, None)
        if row.used_at is not None:
            return ("used", None, None, None)
        if row.expires_at <= now:
            return ("expired", None, None, None)
        # Conditional, so two chats typing the same code at once cannot both win it.
        taken = await session.execute(
            update(LinkCode)
            .where(LinkCode.id == row.id, LinkCode.used_at.is_(None))
            .values(used_at=now, used_by=used_by)
            .execution_options(synchronize_session=False)
        )
        if int(getattr(taken, "rowcount", 0) or 0) != 1:
            return ("used", None, None, None)
        return ("linked", row.campaign_id, row.respondent_id, row.contact_id)
    match = _INVITATION.match(code)
    if match is None:
        return ("wrong", None, None, None)
    person = await session.get(Respondent, int(match.group(1)))
    if person is None or not hmac.compare_digest(
        invitation_code(rules.secret, person.campaign_id, person.id), code
    ):
        return ("wrong", None, None, None)
    if await session.scalar(select(LinkCode.id).where(LinkCode.code_hash == hashed)):
        return ("used", None, None, None)
    campaign = await session.get(Campaign, person.campaign_id)
    if campaign is None or campaign.state == CampaignState.CLOSED or campaign.deadline <= now:
        return ("expired", None, None, None)
    session.add(
        LinkCode(
            campaign_id=person.campaign_id,
            respondent_id=person.id,
            code_hash=hashed,
            issued_by="invitation",
            created_at=now,
            expires_at=campaign.deadline,
            used_at=now,
            used_by=used_by,
        )
    )
    await session.flush()
    return ("linked", person.campaign_id, person.id, None)
