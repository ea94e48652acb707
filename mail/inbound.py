"""What a triaged message changes in the database, applied exactly once per IMAP message.

``apply_inbound`` runs inside the caller's transaction and does three things that must commit
together: it records the message (``InboundMessage``, unique on mailbox + UIDVALIDITY + UID, so a
second attempt changes nothing), it applies the message's effects, and it moves the mailbox's
``MailCursor`` past it. A crash anywhere rolls all three back, and the message is read again.

Effects, by what triage found (Promise 6: a reply or an auto-reply is never a bounce):

- bounce 5.1.x (bad address): ``email_health = bounced``, every queued email to the person is
  cancelled, and the unit's focal point(s) and the IT focal point(s) get a ``bounce_alert`` with
  the person's name, so the address gets fixed;
- bounce 5.2.2 (mailbox full): ``email_health = full``; an Event counts it; nothing is cancelled,
  so the next reminder tries again;
- bounce or delay 4.x.x: an Event counts it; the sending side retries;
- bounce 5.7.x (policy, spam): the organiser(s) and the IT focal point(s) are alerted (one alert
  per contact a day, however many people the block hits);
- auto-reply: an Event, nothing else;
- reply: an Event with the excerpt, and a ``reply_forward`` to the unit's focal point(s);
- completion notice: the person is marked answered with source ``email``, with the same rules as
  ``storage.answered``: never un-answered, the first time kept.

Who a message is about: the signed tag of the address it came back to, else one of our
Message-IDs it refers to (matched to ``deliveries.provider_message_id``), else the failed address
(bounces) or the sender (replies, auto-replies) matched to ``Respondent.email``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from mail.triage import (
    AutoReply,
    Bounce,
    Completion,
    CompletionRule,
    Delayed,
    Other,
    Reply,
    Result,
    classify,
)
from storage.models import (
    Campaign,
    CampaignState,
    Contact,
    ContactRole,
    ContactUnit,
    Delivery,
    EmailHealth,
    Event,
    InboundMessage,
    MailCursor,
    Respondent,
    RespondentState,
    Unit,
)
from storage.outbox import CHASING, cancel_pending, enqueue

FULL_MAILBOX_RETRIES = 3
FULL_MAILBOX_DELAY = timedelta(days=1)

ANSWER_SOURCE = "email"
ALERT_CHANNEL = "email"
DETAIL_CHARS = 500


@dataclass(frozen=True, slots=True)
class InboundRef:
    """Where a message sits: UIDs mean something only together with the mailbox's UIDVALIDITY."""

    mailbox: str
    uidvalidity: int
    uid: int

    @property
    def actor(self) -> str:
        return f"imap:{self.mailbox}"


@dataclass(slots=True)
class Applied:
    """What one message did. ``inbound_id`` is None when it had been recorded before."""

    kind: str
    inbound_id: int | None = None
    duplicate_of: int | None = None
    respondent_ids: list[int] = field(default_factory=list)
    contact_ids: list[int] = field(default_factory=list)
    marked_bounced: int = 0
    marked_full: int = 0
    cancelled: int = 0
    alerts: int = 0
    forwards: int = 0
    answered: int = 0

    @property
    def already_recorded(self) -> bool:
        return self.inbound_id is None


@dataclass(slots=True)
class KnownMessages:
    """Messages recorded under an earlier UIDVALIDITY of a mailbox, by Message-ID and, for the
    few without one, by a digest of their bytes: after a UIDVALIDITY change the same messages
    come back under new UIDs and must not act twice."""

    by_message_id: dict[str, int] = field(default_factory=dict)
    by_digest: dict[str, int] = field(default_factory=dict)

    def find(self, message_id: str | None, digest: str | None) -> int | None:
        if message_id and message_id in self.by_message_id:
            return self.by_message_id[message_id]
        if digest and digest in self.by_digest:
            return self.by_digest[digest]
        return None

    def add(self, inbound_id: int, message_id: str | None, digest: str | None) -> None:
        if message_id:
            self.by_message_id.setdefault(message_id, inbound_id)
        elif digest:
            self.by_digest.setdefault(digest, inbound_id)


def digest_of(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


# --- the cursor ------------------------------------------------------------------------------


async def read_cursor(session: AsyncSession, mailbox: str) -> MailCursor | None:
    return await session.get(MailCursor, mailbox)


async def reset_cursor(
    session: AsyncSession, mailbox: str, uidvalidity: int, *, now: datetime
) -> int | None:
    """Start the mailbox over under a new UIDVALIDITY; returns the old one (None if first).

    The change is recorded as an Event in every campaign that is not closed, since the mailbox
    serves them all; what was processed before stays in ``InboundMessage``.
    """
    cursor = await session.get(MailCursor, mailbox, with_for_update=True)
    if cursor is None:
        session.add(
            MailCursor(mailbox=mailbox, uidvalidity=uidvalidity, last_uid=0, updated_at=now)
        )
        await session.flush()
        return None
    old = cursor.uidvalidity
    if old == uidvalidity:
        return old
    cursor.uidvalidity = uidvalidity
    cursor.last_uid = 0
    cursor.updated_at = now
    campaigns = (
        await session.scalars(select(Campaign.id).where(Campaign.state != CampaignState.CLOSED))
    ).all()
    for campaign_id in campaigns:
        session.add(
            Event(
                campaign_id=campaign_id,
                kind="mail_uidvalidity_changed",
                actor=f"imap:{mailbox}",
                at=now,
                data={"mailbox": mailbox, "old": old, "new": uidvalidity},
            )
        )
    await session.flush()
    return old


async def _advance_cursor(session: AsyncSession, ref: InboundRef, now: datetime) -> None:
    cursor = await session.get(MailCursor, ref.mailbox, with_for_update=True)
    if cursor is None:
        session.add(
            MailCursor(
                mailbox=ref.mailbox, uidvalidity=ref.uidvalidity, last_uid=ref.uid, updated_at=now
            )
        )
    elif cursor.uidvalidity == ref.uidvalidity and cursor.last_uid < ref.uid:
        cursor.last_uid = ref.uid
        cursor.updated_at = now
    await session.flush()


async def load_known(
    session: AsyncSession, mailbox: str, *, except_uidvalidity: int
) -> KnownMessages:
    """What was recorded in ``mailbox`` under any other UIDVALIDITY (one query, read once)."""
    known = KnownMessages()
    rows = await session.execute(
        select(InboundMessage.id, InboundMessage.message_id, InboundMessage.data)
        .where(
            InboundMessage.mailbox == mailbox,
            InboundMessage.uidvalidity != except_uidvalidity,
        )
        .order_by(InboundMessage.id)
    )
    for inbound_id, message_id, data in rows:
        digest = data.get("sha256") if isinstance(data, dict) else None
        known.add(inbound_id, message_id, digest if isinstance(digest, str) else None)
    return known


async def has_other_generations(session: AsyncSession, mailbox: str, uidvalidity: int) -> bool:
    found = await session.scalar(
        select(InboundMessage.id)
        .where(InboundMessage.mailbox == mailbox, InboundMessage.uidvalidity != uidvalidity)
        .limit(1)
    )
    return found is not None


# --- who a message is about ------------------------------------------------------------------


@dataclass(slots=True)
class _Who:
    respondents: list[Respondent] = field(default_factory=list)
    contacts: list[Contact] = field(default_factory=list)
    via: str = ""


def _id_forms(message_ids: Sequence[str]) -> list[str]:
    forms: list[str] = []
    for mid in message_ids:
        bare = mid.strip().strip("<>")
        forms += [f"<{bare}>", bare]
    return forms


async def _who(session: AsyncSession, result: Result) -> _Who:
    tag = result.tag
    if tag is not None:
        if tag.kind in ("b", "r"):
            person = await session.get(Respondent, tag.ident)
            if person is not None:
                return _Who(respondents=[person], via="tag")
        elif tag.kind in ("c", "f"):
            contact = await session.get(Contact, tag.ident)
            if contact is not None:
                return _Who(contacts=[contact], via="tag")
    if result.our_message_ids:
        rows = (
            await session.execute(
                select(Delivery.respondent_id, Delivery.contact_id).where(
                    Delivery.provider_message_id.in_(_id_forms(result.our_message_ids))
                )
            )
        ).all()
        respondent_ids = sorted({r for r, _ in rows if r is not None})
        contact_ids = sorted({c for _, c in rows if c is not None})
        if respondent_ids or contact_ids:
            return _Who(
                respondents=list(
                    (
                        await session.scalars(
                            select(Respondent).where(Respondent.id.in_(respondent_ids))
                        )
                    ).all()
                ),
                contacts=list(
                    (
                        await session.scalars(select(Contact).where(Contact.id.in_(contact_ids)))
                    ).all()
                ),
                via="message_id",
            )
    addresses: tuple[str, ...] = ()
    via = ""
    if isinstance(result, Bounce | Delayed):
        addresses, via = result.addresses, "address"
    elif isinstance(result, AutoReply | Reply) and result.sender:
        addresses, via = (result.sender,), "sender"
    if addresses:
        people = (
            await session.scalars(
                select(Respondent)
                .join(Campaign, Campaign.id == Respondent.campaign_id)
                .where(
                    Respondent.email.in_([a.lower() for a in addresses]),
                    Campaign.state != CampaignState.CLOSED,
                )
                .order_by(Respondent.id)
            )
        ).all()
        if people:
            return _Who(respondents=list(people), via=via)
    return _Who()


# --- contacts to tell ------------------------------------------------------------------------


async def _unit_focal_points(
    session: AsyncSession, campaign_id: int, unit_id: int
) -> list[Contact]:
    """The focal points of the unit, else of its nearest parent that has some, else those whose
    scope is every unit."""
    seen: set[int] = set()
    current: int | None = unit_id
    while current is not None and current not in seen:
        seen.add(current)
        contacts = (
            await session.scalars(
                select(Contact)
                .join(ContactUnit, ContactUnit.contact_id == Contact.id)
                .where(
                    Contact.campaign_id == campaign_id,
                    Contact.role == ContactRole.UNIT_FOCAL,
                    ContactUnit.unit_id == current,
                )
                .order_by(Contact.id)
            )
        ).all()
        if contacts:
            return list(contacts)
        current = await session.scalar(select(Unit.parent_id).where(Unit.id == current))
    return list(
        (
            await session.scalars(
                select(Contact)
                .where(
                    Contact.campaign_id == campaign_id,
                    Contact.role == ContactRole.UNIT_FOCAL,
                    Contact.all_units.is_(True),
                )
                .order_by(Contact.id)
            )
        ).all()
    )


async def _role(session: AsyncSession, campaign_id: int, role: ContactRole) -> list[Contact]:
    return list(
        (
            await session.scalars(
                select(Contact)
                .where(Contact.campaign_id == campaign_id, Contact.role == role)
                .order_by(Contact.id)
            )
        ).all()
    )


def _unique(contacts: Sequence[Contact]) -> list[Contact]:
    return list({c.id: c for c in contacts}.values())


# --- effects ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _Context:
    session: AsyncSession
    # None when the news came from the SMTP server itself, not from a message in the mailbox.
    ref: InboundRef | None
    result: Result
    now: datetime
    inbound_id: int | None
    applied: Applied
    campaigns: dict[int, Campaign] = field(default_factory=dict)

    async def campaign(self, campaign_id: int) -> Campaign:
        if campaign_id not in self.campaigns:
            campaign = await self.session.get(Campaign, campaign_id)
            if campaign is None:  # the foreign key makes this impossible
                raise LookupError(f"campaign {campaign_id} vanished")
            self.campaigns[campaign_id] = campaign
        return self.campaigns[campaign_id]

    def event(
        self,
        kind: str,
        campaign_id: int,
        data: dict[str, Any],
        *,
        respondent_id: int | None = None,
        contact_id: int | None = None,
    ) -> None:
        self.session.add(
            Event(
                campaign_id=campaign_id,
                respondent_id=respondent_id,
                contact_id=contact_id,
                kind=kind,
                actor=self.ref.actor if self.ref is not None else "smtp",
                at=self.now,
                data=(
                    {**data, "inbound_message_id": self.inbound_id, "uid": self.ref.uid}
                    if self.ref is not None
                    else data
                ),
            )
        )

    async def alert(
        self,
        campaign_id: int,
        contacts: Sequence[Contact],
        *,
        reason: str,
        key: str,
        payload: dict[str, Any],
    ) -> tuple[int, list[int]]:
        """Queue one message per contact; returns (added, contacts without an email address)."""
        added = 0
        unreachable: list[int] = []
        for contact in _unique(contacts):
            if not contact.email:
                unreachable.append(contact.id)
                continue
            if await enqueue(
                self.session,
                campaign_id=campaign_id,
                channel=ALERT_CHANNEL,
                reason=reason,
                dedupe_key=f"{key}:{contact.id}",
                due_at=self.now,
                contact_id=contact.id,
                payload=payload,
            ):
                added += 1
        return added, unreachable


def _detail(result: Bounce | Delayed) -> str:
    detail = result.diagnostic
    for prefix in ("smtp;", "x-postfix;", "x-unix;"):
        if detail.lower().startswith(prefix):
            detail = detail[len(prefix) :].strip()
    return (detail or result.status or "")[:DETAIL_CHARS]


def _address_tag(address: str | None) -> str:
    # Part of the alert's dedupe key: a corrected address that bounces again is news again.
    return hashlib.sha256((address or "").encode()).hexdigest()[:8]


async def _unit_name(session: AsyncSession, unit_id: int) -> str | None:
    return await session.scalar(select(Unit.name).where(Unit.id == unit_id))


async def _person(session: AsyncSession, person: Respondent | Contact) -> dict[str, Any]:
    unit = await _unit_name(session, person.unit_id) if isinstance(person, Respondent) else None
    return {
        "full_name": person.full_name,
        "email": person.email,
        "unit": unit,
        "position": person.position,
    }


async def _bounce_respondent(ctx: _Context, result: Bounce, person: Respondent) -> None:
    session, applied = ctx.session, ctx.applied
    campaign = await ctx.campaign(person.campaign_id)
    data: dict[str, Any] = {
        "status": result.status,
        "class": result.klass,
        "permanent": result.permanent,
        "addresses": list(result.addresses),
        "detail": _detail(result),
        "source": result.source,
    }
    if result.addresses and (person.email or "").lower() not in result.addresses:
        # The bounce is about an address the person no longer has (corrected since): the
        # current one is not known to be bad.
        ctx.event("bounce_stale", campaign.id, data, respondent_id=person.id)
        return
    active = campaign.state != CampaignState.CLOSED
    wants_mail = person.state not in (RespondentState.ANSWERED, RespondentState.EXCLUDED)
    if result.klass == "bad_address" and result.permanent:
        if person.email_health != EmailHealth.BOUNCED:
            person.email_health = EmailHealth.BOUNCED
            person.updated_at = ctx.now
            applied.marked_bounced += 1
        applied.cancelled += await cancel_pending(
            session,
            respondent_id=person.id,
            channel="email",
            reason=f"bounced {result.status or ''}".strip(),
        )
        added, unreachable = 0, list[int]()
        if active and wants_mail:
            contacts = await _unit_focal_points(session, campaign.id, person.unit_id)
            contacts += await _role(session, campaign.id, ContactRole.IT_FOCAL)
            added, unreachable = await ctx.alert(
                campaign.id,
                contacts,
                reason="bounce_alert",
                key=f"bounce_alert:{person.id}:{_address_tag(person.email)}",
                payload={
                    "person": await _person(session, person),
                    "bounce_class": result.klass,
                    "bounce_detail": _detail(result),
                    "status": result.status,
                    "respondent_id": person.id,
                    "inbound_message_id": ctx.inbound_id,
                },
            )
        applied.alerts += added
        ctx.event(
            "bounced",
            campaign.id,
            {**data, "alerts": added, "unreachable_contacts": unreachable},
            respondent_id=person.id,
        )
    elif result.klass == "mailbox_full":
        if person.email_health == EmailHealth.OK:
            person.email_health = EmailHealth.FULL
            person.updated_at = ctx.now
            applied.marked_full += 1
        retry = await _retry_later(ctx, person) if active and wants_mail else None
        ctx.event("mailbox_full", campaign.id, {**data, "retry": retry}, respondent_id=person.id)
    elif result.klass == "policy" and result.permanent:
        added, unreachable = 0, list[int]()
        if active:
            contacts = await _role(session, campaign.id, ContactRole.ORGANISER)
            contacts += await _role(session, campaign.id, ContactRole.IT_FOCAL)
            day = ctx.now.astimezone(ZoneInfo(campaign.timezone)).date().isoformat()
            # One alert per contact a day: a blocked sender bounces hundreds of people at once.
            added, unreachable = await ctx.alert(
                campaign.id,
                contacts,
                reason="bounce_alert",
                key=f"bounce_alert:policy:{campaign.id}:{day}",
                payload={
                    "person": await _person(session, person),
                    "bounce_class": "policy",
                    "bounce_detail": _detail(result),
                    "status": result.status,
                    "respondent_id": person.id,
                    "inbound_message_id": ctx.inbound_id,
                },
            )
        applied.alerts += added
        ctx.event(
            "bounce_policy",
            campaign.id,
            {**data, "alerts": added, "unreachable_contacts": unreachable},
            respondent_id=person.id,
        )
    else:
        kind = "bounce_other" if result.permanent else "bounce_transient"
        ctx.event(kind, campaign.id, data, respondent_id=person.id)


async def _retry_later(ctx: _Context, person: Respondent) -> str | None:
    """Queue again, a day later, the chasing message a full mailbox refused; its dedupe key.

    Official mailboxes are small and fill up, then get emptied: the message is worth another
    try, but a few at most, since a reminder will follow anyway.
    """
    forms = _id_forms(ctx.result.our_message_ids)
    if not forms:
        return None
    original = await ctx.session.scalar(
        select(Delivery).where(
            Delivery.provider_message_id.in_(forms), Delivery.respondent_id == person.id
        )
    )
    if original is None or original.reason not in CHASING:
        return None
    base = str(original.payload.get("retry_of", original.dedupe_key))
    number = int(original.payload.get("retry", 0)) + 1
    if number > FULL_MAILBOX_RETRIES:
        return None
    key = f"{base}:retry{number}"
    await enqueue(
        ctx.session,
        campaign_id=original.campaign_id,
        channel=original.channel,
        reason=original.reason,
        dedupe_key=key,
        due_at=ctx.now + FULL_MAILBOX_DELAY,
        respondent_id=person.id,
        payload={**original.payload, "retry_of": base, "retry": number},
    )
    return key


async def _bounce_contact(ctx: _Context, result: Bounce, contact: Contact) -> None:
    """A focal point's own address failed: the organisers and the IT focal point fix it."""
    session, applied = ctx.session, ctx.applied
    campaign = await ctx.campaign(contact.campaign_id)
    data: dict[str, Any] = {
        "status": result.status,
        "class": result.klass,
        "permanent": result.permanent,
        "addresses": list(result.addresses),
        "detail": _detail(result),
    }
    if result.klass == "bad_address" and result.permanent:
        applied.cancelled += await cancel_pending(
            session,
            contact_id=contact.id,
            channel="email",
            reason=f"bounced {result.status or ''}".strip(),
        )
        added = 0
        if campaign.state != CampaignState.CLOSED:
            contacts = await _role(session, campaign.id, ContactRole.ORGANISER)
            contacts += await _role(session, campaign.id, ContactRole.IT_FOCAL)
            added, _ = await ctx.alert(
                campaign.id,
                [c for c in contacts if c.id != contact.id],
                reason="bounce_alert",
                key=f"bounce_alert:c{contact.id}:{_address_tag(contact.email)}",
                payload={
                    "person": await _person(session, contact),
                    "bounce_class": result.klass,
                    "bounce_detail": _detail(result),
                    "status": result.status,
                    "contact_id": contact.id,
                    "inbound_message_id": ctx.inbound_id,
                },
            )
        applied.alerts += added
        ctx.event("contact_bounced", campaign.id, {**data, "alerts": added}, contact_id=contact.id)
    else:
        ctx.event("contact_bounce_other", campaign.id, data, contact_id=contact.id)


async def _reply(ctx: _Context, result: Reply, who: _Who) -> None:
    session = ctx.session
    data: dict[str, Any] = {
        "subject": result.subject,
        "excerpt": result.excerpt,
        "from": result.sender,
        "message_id": result.message_id,
    }
    for person in who.respondents:
        campaign = await ctx.campaign(person.campaign_id)
        added = 0
        if campaign.state != CampaignState.CLOSED:
            contacts = await _unit_focal_points(session, campaign.id, person.unit_id)
            if not contacts:
                contacts = await _role(session, campaign.id, ContactRole.ORGANISER)
            added, _ = await ctx.alert(
                campaign.id,
                contacts,
                reason="reply_forward",
                key=f"reply_forward:{ctx.inbound_id}:r{person.id}",
                payload={
                    "person": await _person(session, person),
                    "reply_subject": result.subject,
                    "reply_text": result.excerpt,
                    "respondent_id": person.id,
                    "inbound_message_id": ctx.inbound_id,
                },
            )
        ctx.applied.forwards += added
        ctx.event("reply", campaign.id, {**data, "forwards": added}, respondent_id=person.id)
    for contact in who.contacts:
        campaign = await ctx.campaign(contact.campaign_id)
        added = 0
        if campaign.state != CampaignState.CLOSED:
            organisers = await _role(session, campaign.id, ContactRole.ORGANISER)
            added, _ = await ctx.alert(
                campaign.id,
                [c for c in organisers if c.id != contact.id],
                reason="reply_forward",
                key=f"reply_forward:{ctx.inbound_id}:c{contact.id}",
                payload={
                    "person": await _person(session, contact),
                    "reply_subject": result.subject,
                    "reply_text": result.excerpt,
                    "contact_id": contact.id,
                    "inbound_message_id": ctx.inbound_id,
                },
            )
        ctx.applied.forwards += added
        ctx.event("reply", campaign.id, {**data, "forwards": added}, contact_id=contact.id)


async def _completion(ctx: _Context, result: Completion) -> list[Respondent]:
    session = ctx.session
    people: list[Respondent] = []
    if result.token:
        person = await session.scalar(select(Respondent).where(Respondent.token == result.token))
        people = [person] if person is not None else []
    if not people and result.email:
        people = list(
            (
                await session.scalars(
                    select(Respondent)
                    .join(Campaign, Campaign.id == Respondent.campaign_id)
                    .where(
                        Respondent.email == result.email.lower(),
                        Campaign.state != CampaignState.CLOSED,
                    )
                    .order_by(Respondent.id)
                )
            ).all()
        )
    when = min(result.date.astimezone(UTC), ctx.now) if result.date else ctx.now
    for person in people:
        # The state condition makes a concurrent import or webhook harmless, as in
        # storage.answered: whoever records the answer first keeps its time and source.
        marked = await session.execute(
            update(Respondent)
            .where(Respondent.id == person.id, Respondent.state != RespondentState.ANSWERED)
            .values(
                state=RespondentState.ANSWERED,
                answered_at=when,
                answer_source=ANSWER_SOURCE,
                updated_at=ctx.now,
            )
            .execution_options(synchronize_session=False)
        )
        if int(getattr(marked, "rowcount", 0) or 0) == 0:
            continue
        await session.refresh(person)
        ctx.applied.answered += 1
        ctx.event(
            "answered",
            person.campaign_id,
            {
                "source": ANSWER_SOURCE,
                "rule": result.rule,
                "answered_at": when.isoformat(),
                "message_id": result.message_id,
            },
            respondent_id=person.id,
        )
    return people


def _record_data(result: Result, digest: str | None) -> dict[str, Any]:
    data: dict[str, Any] = {"subject": result.subject[:300], "from": result.sender}
    if digest and not result.message_id:
        data["sha256"] = digest
    if isinstance(result, Bounce | Delayed):
        data.update(
            status=result.status,
            klass=result.klass,
            addresses=list(result.addresses),
            source=result.source,
        )
        if isinstance(result, Bounce):
            data["permanent"] = result.permanent
    elif isinstance(result, AutoReply | Other):
        data["reason"] = result.reason
    elif isinstance(result, Completion):
        data["rule"] = result.rule
    return data


async def _claim(
    session: AsyncSession,
    ref: InboundRef,
    result: Result,
    *,
    now: datetime,
    data: dict[str, Any],
    campaign_id: int | None,
    respondent_id: int | None,
) -> int | None:
    """Insert the InboundMessage row; None when this (mailbox, UIDVALIDITY, UID) exists."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(InboundMessage)
        .values(
            mailbox=ref.mailbox,
            uidvalidity=ref.uidvalidity,
            uid=ref.uid,
            message_id=result.message_id,
            kind=result.kind,
            campaign_id=campaign_id,
            respondent_id=respondent_id,
            processed_at=now,
            data=data,
        )
        .on_conflict_do_nothing(index_elements=["mailbox", "uidvalidity", "uid"])
        .returning(InboundMessage.id)
    )
    return await session.scalar(statement)


async def apply_inbound(
    session: AsyncSession,
    ref: InboundRef,
    result: Result,
    *,
    now: datetime,
    digest: str | None = None,
    known: KnownMessages | None = None,
) -> Applied:
    """Record the message, apply its effects and advance the cursor; the caller commits.

    ``known`` holds what an earlier UIDVALIDITY of the mailbox already recorded: such a message
    is recorded again under its new UID, with no effect. ``now`` is the injected clock: alerts
    are due then and Events carry it.
    """
    applied = Applied(kind=result.kind)
    who = _Who() if isinstance(result, Completion | Other) else await _who(session, result)
    data = _record_data(result, digest)
    duplicate_of = known.find(result.message_id, digest) if known is not None else None
    if duplicate_of is not None:
        data["duplicate_of"] = duplicate_of
    if who.via:
        data["matched_by"] = who.via
    first_person = who.respondents[0] if who.respondents else None
    campaign_id = (
        first_person.campaign_id
        if first_person is not None
        else (who.contacts[0].campaign_id if who.contacts else None)
    )
    inbound_id = await _claim(
        session,
        ref,
        result,
        now=now,
        data=data,
        campaign_id=campaign_id,
        respondent_id=first_person.id if first_person is not None else None,
    )
    await _advance_cursor(session, ref, now)
    if inbound_id is None:
        return applied
    applied.inbound_id = inbound_id
    if known is not None:
        known.add(inbound_id, result.message_id, digest)
    if duplicate_of is not None:
        applied.duplicate_of = duplicate_of
        return applied

    applied.respondent_ids = [p.id for p in who.respondents]
    applied.contact_ids = [c.id for c in who.contacts]
    ctx = _Context(session, ref, result, now, inbound_id, applied)
    if isinstance(result, Bounce):
        for person in who.respondents:
            await _bounce_respondent(ctx, result, person)
        for contact in who.contacts:
            await _bounce_contact(ctx, result, contact)
    elif isinstance(result, Delayed):
        payload = {
            "status": result.status,
            "class": result.klass,
            "addresses": list(result.addresses),
            "detail": _detail(result),
        }
        for person in who.respondents:
            ctx.event("mail_delayed", person.campaign_id, payload, respondent_id=person.id)
        for contact in who.contacts:
            ctx.event("mail_delayed", contact.campaign_id, payload, contact_id=contact.id)
    elif isinstance(result, AutoReply):
        payload = {"reason": result.reason, "subject": result.subject, "from": result.sender}
        for person in who.respondents:
            ctx.event("auto_reply", person.campaign_id, payload, respondent_id=person.id)
        for contact in who.contacts:
            ctx.event("auto_reply", contact.campaign_id, payload, contact_id=contact.id)
    elif isinstance(result, Reply):
        await _reply(ctx, result, who)
    elif isinstance(result, Completion):
        people = await _completion(ctx, result)
        applied.respondent_ids = [p.id for p in people]
        if people:
            await session.execute(
                update(InboundMessage)
                .where(InboundMessage.id == inbound_id)
                .values(campaign_id=people[0].campaign_id, respondent_id=people[0].id)
            )
    await session.flush()
    return applied


async def apply_rejection(
    session: AsyncSession, respondent_id: int, *, status: str | None, detail: str, now: datetime
) -> Applied:
    """The SMTP server refused a respondent's address while we sent (550 5.1.1 at RCPT): the
    same consequences as a bounce that comes back later by mail — address marked bad, pending
    email cancelled, the unit's focal point and the IT focal point alerted by name."""
    applied = Applied(kind="bounce")
    person = await session.get(Respondent, respondent_id)
    if person is None:
        return applied
    address = (person.email or "").lower()
    bounce = Bounce(
        addresses=(address,) if address else (),
        status=status,
        klass=classify(status, detail),
        permanent=True,
        diagnostic=detail,
        source="smtp",
    )
    ctx = _Context(session, None, bounce, now, None, applied)
    await _bounce_respondent(ctx, bounce, person)
    return applied


async def active_completion_rules(session: AsyncSession) -> list[CompletionRule]:
    """The completion-email rules of every campaign still running, as the watcher needs them."""
    rules: list[CompletionRule] = []
    campaigns = await session.scalars(
        select(Campaign).where(Campaign.state != CampaignState.CLOSED).order_by(Campaign.id)
    )
    for campaign in campaigns:
        for rule in campaign.completion_rules:
            rules.append(
                CompletionRule(
                    sender=rule["sender"],
                    pattern=rule["pattern"],
                    subject=rule.get("subject"),
                    name=f"{campaign.code}:{rule.get('name', 'completion')}",
                )
            )
    return rules
