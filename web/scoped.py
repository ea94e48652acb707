"""The dashboard's queries, every one limited to what the viewer may see.

A focal point sees the respondents of their own units, the deliveries to those respondents and
to themselves, and the bounces of those respondents; the organiser and the IT focal point see the
whole campaign (``unit_ids`` None). Counts by unit and group come from ``storage.progress``
with the same scope, so the dashboard and ``dondoc status`` never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Campaign,
    Contact,
    Delivery,
    EmailHealth,
    Event,
    Group,
    Respondent,
    RespondentState,
    Unit,
)
from storage.text import fold, name_sort_key

DELIVERY_FILTERS = ("all", "sent", "failed", "bounced", "uncertain", "queued")


def in_scope(unit_ids: frozenset[int] | None) -> ColumnElement[bool]:
    if unit_ids is None:
        return Respondent.id.is_not(None)
    if not unit_ids:
        return false()
    return Respondent.unit_id.in_(sorted(unit_ids))


async def answered_times(
    session: AsyncSession, campaign: Campaign, unit_ids: frozenset[int] | None
) -> list[datetime]:
    """When each answered person in scope answered, oldest first (for the chart)."""
    rows = await session.scalars(
        select(Respondent.answered_at)
        .where(
            Respondent.campaign_id == campaign.id,
            Respondent.state == RespondentState.ANSWERED,
            Respondent.answered_at.is_not(None),
            in_scope(unit_ids),
        )
        .order_by(Respondent.answered_at)
    )
    return [t for t in rows if t is not None]


async def visible_units(
    session: AsyncSession, campaign: Campaign, unit_ids: frozenset[int] | None
) -> dict[str, Unit]:
    """The units the viewer may open, by code."""
    query = select(Unit).where(Unit.campaign_id == campaign.id)
    if unit_ids is not None:
        query = query.where(Unit.id.in_(sorted(unit_ids)) if unit_ids else false())
    return {u.code: u for u in await session.scalars(query)}


async def unit_by_code(session: AsyncSession, campaign: Campaign, code: str) -> Unit | None:
    return await session.scalar(
        select(Unit).where(Unit.campaign_id == campaign.id, Unit.code == code)
    )


@dataclass(frozen=True, slots=True)
class Person:
    full_name: str
    position: str | None
    group: str
    email: str | None
    phone: str | None
    email_health: str
    state: str


async def non_responders(session: AsyncSession, campaign: Campaign, unit: Unit) -> list[Person]:
    rows = await session.execute(
        select(
            Respondent.full_name,
            Respondent.position,
            Group.name,
            Respondent.email,
            Respondent.phone,
            Respondent.email_health,
            Respondent.state,
        )
        .join(Group, Group.id == Respondent.group_id)
        .where(
            Respondent.campaign_id == campaign.id,
            Respondent.unit_id == unit.id,
            Respondent.state.not_in([RespondentState.ANSWERED, RespondentState.EXCLUDED]),
        )
    )
    people = [
        Person(name, position, group, email, phone, health.value, state.value)
        for name, position, group, email, phone, health, state in rows
    ]
    people.sort(key=lambda p: name_sort_key(p.full_name))
    return people


@dataclass(frozen=True, slots=True)
class LogLine:
    at: datetime
    reason: str
    channel: str
    recipient: str
    unit: str | None
    state: str
    attempts: int
    detail: str | None


def _delivery_scope(unit_ids: frozenset[int] | None, contact_id: int) -> ColumnElement[bool]:
    if unit_ids is None:
        return Delivery.id.is_not(None)
    mine = Delivery.contact_id == contact_id
    if not unit_ids:
        return mine
    return or_(mine, and_(Delivery.respondent_id.is_not(None), in_scope(unit_ids)))


async def delivery_log(
    session: AsyncSession,
    campaign: Campaign,
    unit_ids: frozenset[int] | None,
    contact_id: int,
    state: str,
    *,
    limit: int = 300,
) -> list[LogLine]:
    """Newest first. ``state`` is one of DELIVERY_FILTERS; "bounced" lists the bounces the
    mailbox watcher recorded (with the server's reason), the others the outbox rows."""
    if state == "bounced":
        return await _bounces(session, campaign, unit_ids, limit)
    query = (
        select(
            Delivery,
            func.coalesce(Respondent.full_name, Contact.full_name),
            Unit.name,
        )
        .outerjoin(Respondent, Respondent.id == Delivery.respondent_id)
        .outerjoin(Unit, Unit.id == Respondent.unit_id)
        .outerjoin(Contact, Contact.id == Delivery.contact_id)
        .where(Delivery.campaign_id == campaign.id, _delivery_scope(unit_ids, contact_id))
        .order_by(func.coalesce(Delivery.sent_at, Delivery.due_at).desc(), Delivery.id.desc())
        .limit(limit)
    )
    if state != "all":
        query = query.where(Delivery.state == state)
    return [
        LogLine(
            at=d.sent_at or d.due_at,
            reason=d.reason,
            channel=d.channel,
            recipient=name or "",
            unit=unit,
            state=d.state.value,
            attempts=d.attempts,
            detail=d.last_error,
        )
        for d, name, unit in await session.execute(query)
    ]


def _bounce_detail(data: dict[str, Any]) -> str:
    parts = [str(data[k]) for k in ("status", "detail") if data.get(k)]
    return " – ".join(parts) or str(data.get("class", ""))


async def _bounces(
    session: AsyncSession, campaign: Campaign, unit_ids: frozenset[int] | None, limit: int
) -> list[LogLine]:
    rows = await session.execute(
        select(Event, Respondent.full_name, Unit.name)
        .join(Respondent, Respondent.id == Event.respondent_id)
        .join(Unit, Unit.id == Respondent.unit_id)
        .where(
            Event.campaign_id == campaign.id,
            Event.kind.in_(["bounced", "mailbox_full"]),
            in_scope(unit_ids),
        )
        .order_by(Event.at.desc(), Event.id.desc())
        .limit(limit)
    )
    return [
        LogLine(
            at=event.at,
            reason=event.kind,
            channel="email",
            recipient=name,
            unit=unit,
            state="bounced" if event.kind == "bounced" else "full",
            attempts=0,
            detail=_bounce_detail(event.data),
        )
        for event, name, unit in rows
    ]


@dataclass(frozen=True, slots=True)
class BadAddress:
    full_name: str
    unit: str
    email: str | None
    phone: str | None
    health: str
    detail: str | None
    at: datetime | None


async def bad_addresses(
    session: AsyncSession, campaign: Campaign, unit_ids: frozenset[int] | None
) -> list[BadAddress]:
    """People in scope whose email bounced or whose mailbox is full, with the last reason."""
    people = (
        await session.execute(
            select(
                Respondent.id,
                Respondent.full_name,
                Unit.name,
                Respondent.email,
                Respondent.phone,
                Respondent.email_health,
            )
            .join(Unit, Unit.id == Respondent.unit_id)
            .where(
                Respondent.campaign_id == campaign.id,
                Respondent.email_health != EmailHealth.OK,
                in_scope(unit_ids),
            )
        )
    ).all()
    last: dict[int, tuple[datetime, dict[str, Any]]] = {}
    if people:
        events = await session.execute(
            select(Event.respondent_id, Event.at, Event.data)
            .where(
                Event.campaign_id == campaign.id,
                Event.kind.in_(["bounced", "mailbox_full"]),
                Event.respondent_id.in_([p.id for p in people]),
            )
            .order_by(Event.at)
        )
        for rid, at, data in events:
            last[int(rid)] = (at, data)
    found = [
        BadAddress(
            full_name=name,
            unit=unit,
            email=email,
            phone=phone,
            health=health.value,
            detail=_bounce_detail(last[rid][1]) if rid in last else None,
            at=last[rid][0] if rid in last else None,
        )
        for rid, name, unit, email, phone, health in people
    ]
    found.sort(key=lambda b: (fold(b.unit), name_sort_key(b.full_name)))
    return found
