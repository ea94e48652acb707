"""Progress of a campaign: answered / total by unit and by group, who has not answered, time left.

Everything is counted from the respondents' current state at query time, never kept in counters
that could drift. Excluded people count nowhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.errors import NotFoundError
from storage.models import (
    Campaign,
    Contact,
    Delivery,
    Group,
    Respondent,
    RespondentState,
    Unit,
    utcnow,
)
from storage.text import fold, name_sort_key


@dataclass(frozen=True, slots=True)
class Tally:
    code: str
    name: str
    answered: int
    total: int

    @property
    def rate(self) -> float:
        return self.answered / self.total if self.total else 0.0

    @property
    def pending(self) -> int:
        return self.total - self.answered


@dataclass(frozen=True, slots=True)
class PendingPerson:
    full_name: str
    position: str | None
    unit: str
    group: str
    email: str | None
    phone: str | None


@dataclass(frozen=True, slots=True)
class Progress:
    campaign_code: str
    title: str
    deadline: datetime
    now: datetime
    overall: Tally
    by_unit: list[Tally]
    by_group: list[Tally]
    pending: list[PendingPerson] | None
    # Outbox rows by state ("sent", "queued", "failed", "uncertain"...), for the whole campaign.
    deliveries: dict[str, int]

    @property
    def time_left(self) -> timedelta:
        return self.deadline - self.now


async def _resolve(
    session: AsyncSession, model: type[Unit] | type[Group], campaign: Campaign, code: str
) -> int:
    """A unit or group id from its code, or from its name typed with or without diacritics."""
    rows = (
        await session.execute(
            select(model.id, model.code, model.name).where(model.campaign_id == campaign.id)
        )
    ).all()
    for row_id, row_code, _name in rows:
        if row_code == code:
            return int(row_id)
    for row_id, _code, name in rows:
        if fold(name) == fold(code):
            return int(row_id)
    what = "đơn vị" if model is Unit else "nhóm"
    raise NotFoundError(
        f"Không có {what} «{code}» trong đợt {campaign.code}. "
        f"Xem mã {what} bằng lệnh: dondoc status {campaign.code}",
        f"{model.__name__.lower()} {code!r} not in campaign {campaign.code!r}",
    )


async def campaign_progress(
    session: AsyncSession,
    campaign: Campaign,
    *,
    unit: str | None = None,
    group: str | None = None,
    unit_ids: Sequence[int] | None = None,
    with_pending: bool = False,
    now: datetime | None = None,
) -> Progress:
    """Counts for ``campaign``, optionally limited to one unit/group code or a set of unit ids
    (a focal point's scope)."""
    conditions = [
        Respondent.campaign_id == campaign.id,
        Respondent.state != RespondentState.EXCLUDED,
    ]
    if unit is not None:
        conditions.append(Respondent.unit_id == await _resolve(session, Unit, campaign, unit))
    if group is not None:
        conditions.append(Respondent.group_id == await _resolve(session, Group, campaign, group))
    if unit_ids is not None:
        conditions.append(Respondent.unit_id.in_(list(unit_ids)))

    answered = func.count().filter(Respondent.state == RespondentState.ANSWERED)
    cells = (
        await session.execute(
            select(Respondent.unit_id, Respondent.group_id, answered, func.count())
            .where(*conditions)
            .group_by(Respondent.unit_id, Respondent.group_id)
        )
    ).all()
    units = {
        u.id: u for u in await session.scalars(select(Unit).where(Unit.campaign_id == campaign.id))
    }
    groups = {
        g.id: g
        for g in await session.scalars(select(Group).where(Group.campaign_id == campaign.id))
    }
    unit_sums: dict[int, list[int]] = {}
    group_sums: dict[int, list[int]] = {}
    for unit_id, group_id, n_answered, n_total in cells:
        for sums, key in ((unit_sums, unit_id), (group_sums, group_id)):
            pair = sums.setdefault(key, [0, 0])
            pair[0] += n_answered
            pair[1] += n_total
    by_unit = sorted(
        (Tally(units[k].code, units[k].name, a, t) for k, (a, t) in unit_sums.items()),
        key=lambda t: (t.rate, t.name),
    )
    by_group = sorted(
        (Tally(groups[k].code, groups[k].name, a, t) for k, (a, t) in group_sums.items()),
        key=lambda t: next(g.priority for g in groups.values() if g.code == t.code),
    )
    overall = Tally(
        campaign.code,
        campaign.title,
        sum(t.answered for t in by_unit),
        sum(t.total for t in by_unit),
    )

    pending: list[PendingPerson] | None = None
    if with_pending:
        rows = await session.execute(
            select(
                Respondent.full_name,
                Respondent.position,
                Respondent.unit_id,
                Respondent.group_id,
                Respondent.email,
                Respondent.phone,
            ).where(*conditions, Respondent.state != RespondentState.ANSWERED)
        )
        pending = [
            PendingPerson(name, position, units[u].name, groups[g].name, email, phone)
            for name, position, u, g, email, phone in rows
        ]
        pending.sort(key=lambda p: (fold(p.unit), name_sort_key(p.full_name)))

    deliveries = {
        state.value: n
        for state, n in await session.execute(
            select(Delivery.state, func.count())
            .where(Delivery.campaign_id == campaign.id)
            .group_by(Delivery.state)
        )
    }
    return Progress(
        campaign_code=campaign.code,
        title=campaign.title,
        deadline=campaign.deadline,
        now=now or utcnow(),
        overall=overall,
        by_unit=by_unit,
        by_group=by_group,
        pending=pending,
        deliveries=deliveries,
    )


async def resolve_unit(session: AsyncSession, campaign: Campaign, code_or_name: str) -> int:
    """A unit's id from its code or its name (with or without diacritics); NotFoundError else."""
    return await _resolve(session, Unit, campaign, code_or_name)


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    id: int
    reason: str
    channel: str
    recipient: str
    state: str
    attempts: int
    due_at: datetime
    sent_at: datetime | None
    last_error: str | None


async def list_deliveries(
    session: AsyncSession, campaign: Campaign, *, state: str | None = None, limit: int = 200
) -> list[DeliveryRow]:
    """The outbox of a campaign, newest first; recipients by name, never by token."""
    query = (
        select(
            Delivery,
            func.coalesce(Respondent.full_name, Contact.full_name),
        )
        .outerjoin(Respondent, Respondent.id == Delivery.respondent_id)
        .outerjoin(Contact, Contact.id == Delivery.contact_id)
        .where(Delivery.campaign_id == campaign.id)
        .order_by(Delivery.due_at.desc(), Delivery.id.desc())
        .limit(limit)
    )
    if state is not None:
        query = query.where(Delivery.state == state)
    return [
        DeliveryRow(
            d.id,
            d.reason,
            d.channel,
            name or "",
            d.state.value,
            d.attempts,
            d.due_at,
            d.sent_at,
            d.last_error,
        )
        for d, name in await session.execute(query)
    ]
