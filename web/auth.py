"""Who is looking at the dashboard: one-time sign-in links, sessions, CSRF tokens and scope.

Nobody has a password. A contact (organiser, IT focal point, unit focal point) types their
official email; a link with a one-time token goes to that address; following it and pressing
the button opens a session. Tokens and session ids are random (256 bits) and stored only as
SHA-256 hashes, so a copy of the database opens nothing. The link's page asks for a press of a
button instead of signing in on GET, because mail gateways that scan links would otherwise use
the token up before the person clicks.

CSRF: every form carries HMAC(DONDOC_SECRET_KEY, "csrf:" + the browser's csrf cookie) — a
signed double submit, so another site can neither read nor forge it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Campaign,
    Contact,
    ContactRole,
    ContactUnit,
    Event,
    WebLoginToken,
    WebSession,
)

LOGIN_TTL: Final = timedelta(minutes=15)
SESSION_TTL: Final = timedelta(hours=8)
RESEND_GAP: Final = timedelta(seconds=60)
"""A new link for the same contact is not mailed sooner than this (a double click, a script)."""
SEEN_EVERY: Final = timedelta(minutes=5)

SESSION_COOKIE: Final = "dondoc_session"
CSRF_COOKIE: Final = "dondoc_csrf"


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def csrf_token(secret_key: bytes, cookie: str) -> str:
    return hmac.new(secret_key, f"csrf:{cookie}".encode(), hashlib.sha256).hexdigest()


def csrf_ok(secret_key: bytes, cookie: str | None, given: str | None) -> bool:
    if not cookie or not given:
        return False
    return hmac.compare_digest(csrf_token(secret_key, cookie).encode(), given.encode())


@dataclass(frozen=True, slots=True)
class Viewer:
    """A signed-in contact and what they may see; ``unit_ids`` None means every unit."""

    contact_id: int
    session_id: int
    full_name: str
    role: ContactRole
    campaign_id: int
    campaign_code: str
    unit_ids: frozenset[int] | None

    def sees(self, unit_id: int) -> bool:
        return self.unit_ids is None or unit_id in self.unit_ids


@dataclass(frozen=True, slots=True)
class Issued:
    """A sign-in link to mail: the token in clear exists only here and in the mail."""

    contact: Contact
    campaign: Campaign
    token: str


async def issue_login_tokens(session: AsyncSession, email: str, now: datetime) -> list[Issued]:
    """One token per contact with this email (one per campaign they serve); none for a contact
    who got one less than RESEND_GAP ago. The caller commits, then mails."""
    rows = (
        await session.execute(
            select(Contact, Campaign)
            .join(Campaign, Campaign.id == Contact.campaign_id)
            .where(Contact.email == email)
            .order_by(Campaign.deadline.desc())
        )
    ).all()
    issued: list[Issued] = []
    for contact, campaign in rows:
        recent = await session.scalar(
            select(WebLoginToken.id).where(
                WebLoginToken.contact_id == contact.id,
                WebLoginToken.created_at > now - RESEND_GAP,
            )
        )
        if recent is not None:
            continue
        token = new_secret()
        session.add(
            WebLoginToken(
                contact_id=contact.id,
                token_hash=digest(token),
                created_at=now,
                expires_at=now + LOGIN_TTL,
            )
        )
        issued.append(Issued(contact, campaign, token))
    await session.flush()
    return issued


async def login_token_valid(session: AsyncSession, token: str, now: datetime) -> bool:
    found = await session.scalar(
        select(WebLoginToken.id).where(
            WebLoginToken.token_hash == digest(token),
            WebLoginToken.used_at.is_(None),
            WebLoginToken.expires_at > now,
        )
    )
    return found is not None


async def redeem_login_token(
    session: AsyncSession, token: str, now: datetime
) -> tuple[str, Campaign] | None:
    """Use the token up and open a session: (session secret for the cookie, campaign), or None
    when the token is unknown, used or expired. The conditional update makes it single use even
    when two tabs press the button at once. The caller commits."""
    contact_id = await session.scalar(
        update(WebLoginToken)
        .where(
            WebLoginToken.token_hash == digest(token),
            WebLoginToken.used_at.is_(None),
            WebLoginToken.expires_at > now,
        )
        .values(used_at=now)
        .returning(WebLoginToken.contact_id)
        .execution_options(synchronize_session=False)
    )
    if contact_id is None:
        return None
    contact = await session.get_one(Contact, contact_id)
    campaign = await session.get_one(Campaign, contact.campaign_id)
    secret = new_secret()
    session.add(
        WebSession(
            contact_id=contact_id,
            session_hash=digest(secret),
            created_at=now,
            expires_at=now + SESSION_TTL,
            last_seen_at=now,
        )
    )
    session.add(
        Event(
            campaign_id=campaign.id,
            contact_id=contact_id,
            kind="web_signed_in",
            actor=f"web:contact:{contact_id}",
            at=now,
            data={},
        )
    )
    await session.flush()
    return secret, campaign


async def viewer_for(session: AsyncSession, cookie: str | None, now: datetime) -> Viewer | None:
    """The contact behind a session cookie, with their scope; None when signed out or expired."""
    if not cookie:
        return None
    row = (
        await session.execute(
            select(WebSession, Contact, Campaign.code)
            .join(Contact, Contact.id == WebSession.contact_id)
            .join(Campaign, Campaign.id == Contact.campaign_id)
            .where(
                WebSession.session_hash == digest(cookie),
                WebSession.revoked_at.is_(None),
                WebSession.expires_at > now,
            )
        )
    ).first()
    if row is None:
        return None
    web_session, contact, code = row
    unit_ids: frozenset[int] | None = None
    if not (contact.all_units or contact.role in (ContactRole.ORGANISER, ContactRole.IT_FOCAL)):
        unit_ids = frozenset(
            await session.scalars(
                select(ContactUnit.unit_id).where(ContactUnit.contact_id == contact.id)
            )
        )
    if web_session.last_seen_at is None or now - web_session.last_seen_at > SEEN_EVERY:
        web_session.last_seen_at = now
        await session.commit()
    return Viewer(
        contact_id=contact.id,
        session_id=web_session.id,
        full_name=contact.full_name,
        role=contact.role,
        campaign_id=contact.campaign_id,
        campaign_code=code,
        unit_ids=unit_ids,
    )


async def revoke(session: AsyncSession, session_id: int, now: datetime) -> None:
    await session.execute(
        update(WebSession).where(WebSession.id == session_id).values(revoked_at=now)
    )
